"""/calendar/: what the public may see of the calendar, and nothing else; conditional GET."""

import datetime as dt
import re

import pytest
import time_machine

from approvals import services as approvals
from notes import services as notices
from releases import services
from releases.models import Freeze
from tests.helpers import IN_SLOT, NOW, WED_WINDOW, ask, utc

pytestmark = pytest.mark.django_db
# Thursday in the window: Wednesday's release shipped, Thursday's announced one is public.
READ_AT = utc(2026, 12, 3, 8, 30)
DECEMBER = {"view": "month", "date": "2026-12-01"}
NOTICE = {
    "description": "Every request carries an API key.",
    "nature": "Authentication change.",
    "action_required": "Create a key.",
    "benefits": "Keys can be revoked one by one.",
    "impact_level": "medium",
}


@pytest.fixture(autouse=True)
def thursday():
    with time_machine.travel(READ_AT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mixed(make_release, engineer, manager):
    """Public: a shipped release, an announced one in an open window, a published notice, a
    freeze. Not public: planned, cancelled, announced for a later window, an approval slot, a
    draft notice, internal items."""
    shipped = make_release(version="1.1.0", title="Faster search", at=NOW)
    services.release_announce(release=shipped, by=engineer, at=NOW)
    services.release_start(release=shipped, by=engineer, at=WED_WINDOW + dt.timedelta(minutes=5))
    services.release_complete(release=shipped, by=engineer, at=WED_WINDOW + dt.timedelta(hours=1))
    today = make_release(version="1.2.0", scheduled_start=utc(2026, 12, 3, 8), at=NOW)
    services.release_announce(release=today, by=engineer, at=NOW)
    later = make_release(version="1.3.0", scheduled_start=utc(2026, 12, 9, 8), at=NOW)
    services.release_announce(release=later, by=engineer, at=NOW)
    make_release(version="0.9.0", title="Secret plan", scheduled_start=utc(2026, 12, 4, 8), at=NOW)
    services.release_cancel(
        release=make_release(version="0.0.1", scheduled_start=utc(2026, 12, 10, 8), at=NOW),
        by=engineer,
        at=NOW,
    )
    urgent = make_release(version="3.0.0", kind="exceptional", scheduled_start=IN_SLOT, at=NOW)
    approvals.request_decide(request=ask(urgent, engineer), by=manager, verdict="approve", at=NOW)
    published = make_release(
        version="4.0.0", impact="perceptible", scheduled_start=utc(2026, 12, 16, 8, 15), at=NOW
    )
    notice = notices.notice_create(
        release=published,
        by=engineer,
        at=NOW,
        headline="API keys replace shared secrets",
        tentative_start=published.scheduled_start,
        **NOTICE,
    )
    notices.notice_publish(notice=notice, by=engineer, at=NOW)
    drafted = make_release(
        version="4.1.0", impact="perceptible", scheduled_start=utc(2026, 12, 17, 8, 15), at=NOW
    )
    notices.notice_create(
        release=drafted,
        by=engineer,
        at=NOW,
        headline="Draft about webhooks",
        tentative_start=drafted.scheduled_start,
        **NOTICE,
    )
    Freeze.objects.create(
        reason="Payments freeze", starts_at=utc(2026, 12, 10), ends_at=utc(2026, 12, 12)
    )
    return {"notice": notice}


def grid_html(response) -> str:
    html = response.content.decode()
    return html[html.index('<table class="calendar') : html.index("</table>")]


def test_the_public_calendar_shows_windows_freezes_public_releases_and_notices(client, mixed):
    response = client.get("/calendar/", DECEMBER)
    assert response.status_code == 200
    grid = grid_html(response)
    assert "December 2026" in grid and "times in America/Los_Angeles (PST)" in grid
    wednesday = grid[grid.index('data-date="2026-12-02"') : grid.index('data-date="2026-12-03"')]
    assert "Release window" in wednesday and ">00:00</time>–<time" in wednesday
    assert 'href="/releases/items-api/1.1.0/"' in wednesday and "Items API 1.1.0" in wednesday
    assert "Released" in wednesday
    thursday = grid[grid.index('data-date="2026-12-03"') : grid.index('data-date="2026-12-04"')]
    assert "Items API 1.2.0" in thursday and "Announced" in thursday
    assert 'aria-current="date"' in thursday  # today
    assert grid.count("Freeze: Payments freeze") == 3  # Wednesday evening to Friday afternoon
    notice = mixed["notice"]
    assert f'href="/notices/{notice.pk}/"' in grid
    assert "Notice: API keys replace shared secrets" in grid


def test_nothing_private_reaches_the_public_calendar(client, mixed):
    html = client.get("/calendar/", DECEMBER).content.decode()
    grid = grid_html(client.get("/calendar/", DECEMBER))
    for private in (
        "0.9.0",  # planned
        "Secret plan",
        "0.0.1",  # cancelled
        "1.3.0",  # announced, but its window has not opened
        "3.0.0",  # exceptional, planned, with an approved slot
        "Approved slot",
        "Draft about webhooks",  # a draft notice
        "4.1.0",
        "Typo in errors",  # an internal item
        "erin",  # the owner
        "/admin/",
    ):
        assert private not in grid, private
    assert "slot" not in grid.lower()
    # The strict policy: no inline style or script anywhere on the page.
    assert "style=" not in html and "<script" not in html.lower()
    response = client.get("/calendar/", DECEMBER)
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert "script-src" not in response["Content-Security-Policy"]


def test_a_release_appears_when_its_window_opens(client, mixed, thursday):
    assert "Items API 1.3.0" not in grid_html(client.get("/calendar/", DECEMBER))
    thursday.move_to(utc(2026, 12, 9, 8, 1))
    assert "Items API 1.3.0" in grid_html(client.get("/calendar/", DECEMBER))


def test_it_answers_304_until_the_rules_the_releases_or_the_day_change(client, mixed, thursday):
    first = client.get("/calendar/", DECEMBER)
    etag = first["ETag"]
    assert client.get("/calendar/", DECEMBER, HTTP_IF_NONE_MATCH=etag).status_code == 304
    # Another period is another page.
    week = client.get("/calendar/", {"view": "week", "date": "2026-12-01"})
    assert week["ETag"] != etag
    # A freeze declared for later moves no window edge yet: the rules' revision says it.
    Freeze.objects.create(
        reason="Year-end freeze", starts_at=utc(2026, 12, 24), ends_at=utc(2026, 12, 28)
    )
    changed = client.get("/calendar/", DECEMBER, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and "Year-end freeze" in grid_html(changed)
    etag = changed["ETag"]
    thursday.move_to(READ_AT + dt.timedelta(minutes=20))
    assert client.get("/calendar/", DECEMBER, HTTP_IF_NONE_MATCH=etag).status_code == 304
    # Local midnight: another day is today.
    thursday.move_to(utc(2026, 12, 4, 8, 0, 1))
    after_midnight = client.get("/calendar/", DECEMBER, HTTP_IF_NONE_MATCH=etag)
    assert after_midnight.status_code == 200
    html = grid_html(after_midnight)
    friday = html[html.index('data-date="2026-12-04"') : html.index('data-date="2026-12-05"')]
    assert 'aria-current="date"' in friday


def test_week_view_navigation_and_the_component_filter(client, mixed, client_component):
    response = client.get("/calendar/", {"view": "week", "date": "2026-12-02"})
    html = response.content.decode()
    assert "Week 49: Mon 30 Nov – Sun 06 Dec 2026" in html
    assert 'href="?view=week&amp;date=2026-11-25"' in html  # previous week
    assert 'href="?view=week&amp;date=2026-12-09"' in html  # next week
    assert 'href="?view=week&amp;date=2026-12-03"' in html  # today
    assert 'href="?view=month&amp;date=2026-12-02"' in html
    only_client = grid_html(client.get("/calendar/", {**DECEMBER, "component": "js-client"}))
    assert "Release window" in only_client and "Items API" not in only_client
    assert "Notice:" not in only_client


def test_the_calendar_is_linked_from_every_public_page(client, mixed):
    html = client.get("/").content.decode()
    nav = html[html.index('<nav aria-label="Main"') : html.index("</nav>")]
    assert 'href="/calendar/"' in nav
    footer = html[html.index("<footer>") :]
    assert 'href="/calendar/"' in footer


def test_the_public_calendar_costs_the_same_queries_however_much_it_shows(
    client, make_release, engineer, django_assert_max_num_queries
):
    client.get("/calendar/", DECEMBER)
    with django_assert_max_num_queries(10) as few:
        client.get("/calendar/", DECEMBER)
        baseline = len(few)
    for week in range(3):
        for hour in range(2):
            release = make_release(
                scheduled_start=WED_WINDOW - dt.timedelta(weeks=week) + dt.timedelta(hours=hour),
                at=NOW - dt.timedelta(weeks=4),
            )
            services.release_announce(release=release, by=engineer, at=NOW - dt.timedelta(weeks=4))
    with django_assert_max_num_queries(baseline):
        response = client.get("/calendar/", {"view": "month", "date": "2026-11-15"})
    assert len(re.findall(r"Items API 1\.\d+\.0", grid_html(response))) >= 4
