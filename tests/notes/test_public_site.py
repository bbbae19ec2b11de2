"""What a customer with no account reads: pages, Atom feeds (feedparser), calendar (icalendar)."""

import datetime as dt

import feedparser
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from icalendar import Calendar

from notes import services as notices
from releases import services
from tests.helpers import NOW, WED_WINDOW, utc
from tests.notes.test_rendering import assert_nothing_runs
from tests.notes.xss_vectors import VECTORS

pytestmark = pytest.mark.django_db
IN_WINDOW = WED_WINDOW + dt.timedelta(minutes=10)
# Customers read on Thursday in the window: Wednesday's releases shipped, Thursday's are public.
READ_AT = utc(2026, 12, 3, 8, 30)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(READ_AT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def history(make_release, engineer, client_component):
    """planned, announced, shipped-with-a-slip, rolled back, cancelled."""
    planned = make_release(version="0.9.0", title="Not announced yet")
    announced = services.release_announce(
        release=make_release(
            version="1.2.0", title="Coming soon", scheduled_start=utc(2026, 12, 3, 8)
        ),
        by=engineer,
        at=NOW,
    )
    shipped = make_release(version="1.1.0", title="Faster search")
    shipped = services.release_announce(release=shipped, by=engineer, at=NOW)
    shipped = services.release_start(release=shipped, by=engineer, at=IN_WINDOW)
    _first, internal = shipped.items.order_by("id")
    shipped = services.release_complete(
        release=shipped, by=engineer, at=IN_WINDOW, shipped_item_ids=[internal.pk]
    )
    services.item_add(
        release=shipped,
        by=engineer,
        at=IN_WINDOW,
        title="Hotfix shipped",
        type="fixed",
        planned=False,
        shipped=True,
    )
    bad = make_release(
        version="5.0.0",
        component=client_component,
        title="Broken client",
        scheduled_start=WED_WINDOW + dt.timedelta(hours=1),
    )
    for step in (services.release_announce, services.release_start, services.release_complete):
        bad = step(release=bad, by=engineer, at=WED_WINDOW + dt.timedelta(hours=1))
    bad = services.release_rollback(
        release=bad, by=engineer, reason="crash", at=WED_WINDOW + dt.timedelta(hours=1, minutes=30)
    )
    cancelled = services.release_cancel(
        release=make_release(version="0.0.1", title="Dropped"), by=engineer, at=NOW
    )
    return {
        "planned": planned,
        "announced": announced,
        "shipped": shipped,
        "bad": bad,
        "cancelled": cancelled,
    }


def test_only_announced_and_later_releases_and_only_public_items_are_public(client, history):
    html = client.get("/releases/").content.decode()
    for title in ("Coming soon", "Faster search", "Broken client"):
        assert title in html
    for hidden in ("Not announced yet", "Dropped", "Typo in errors"):  # internal item too
        assert hidden not in html
    assert client.get("/releases/items-api/0.9.0/").status_code == 404
    assert client.get("/releases/items-api/0.0.1/").status_code == 404


def test_until_it_ships_the_items_to_be_released_after_it_what_shipped_and_what_slipped(
    client, history
):
    coming = client.get("/releases/items-api/1.2.0/").content.decode()
    assert "Items to be released" in coming and "Search is faster" in coming
    done = client.get("/releases/items-api/1.1.0/").content.decode()
    released = done[done.index("What was released") : done.index("Planned, not released")]
    assert "Hotfix shipped" in released and "Search is faster" not in released
    slipped = done[done.index("Planned, not released") :]
    assert "<del>Search is faster</del>" in slipped


def test_a_rolled_back_release_says_so_and_which_version_is_current(
    client, history, make_release, engineer, client_component
):
    html = client.get("/releases/js-client/5.0.0/").content.decode()
    assert "Rolled back" in html and 'class="rolled-back"' in html
    assert "is current again" not in html  # nothing earlier to restore


def test_notes_are_grouped_by_window_date_and_filtered(client, history):
    html = client.get("/releases/").content.decode()
    wednesday = html.index('<time datetime="2026-12-02">')
    thursday = html.index('<time datetime="2026-12-03">')
    assert thursday < wednesday  # newest first
    only_client = client.get("/releases/", {"component": "js-client"}).content.decode()
    assert "Broken client" in only_client and "Faster search" not in only_client
    fixed = client.get("/releases/", {"type": "fixed"}).content.decode()
    assert "Hotfix shipped" in fixed and "Coming soon" not in fixed
    dated = client.get("/releases/", {"start": "2026-12-03", "end": "2026-12-03"}).content.decode()
    assert "Coming soon" in dated and "Faster search" not in dated
    wrong = client.get("/releases/", {"start": "2026-12-03", "end": "2026-12-01"}).content.decode()
    assert "The end date is before the start date." in wrong


def test_the_releases_feed_parses_and_matches_the_public_releases(client, history):
    feed = feedparser.parse(client.get("/feeds/releases.atom").content)
    assert feed.bozo == 0 and feed.version == "atom10"
    titles = sorted(e.title for e in feed.entries)
    assert titles == [
        "Items API 1.1.0: Faster search",
        "Items API 1.2.0: Coming soon",
        "JS client 5.0.0: Broken client (rolled back)",
    ]
    content = " ".join(e.summary for e in feed.entries)
    assert "Typo in errors" not in content and "Not announced yet" not in content
    by_component = feedparser.parse(client.get("/feeds/releases.atom?component=js-client").content)
    assert [e.title for e in by_component.entries] == [
        "JS client 5.0.0: Broken client (rolled back)"
    ]
    assert client.get("/feeds/releases.atom?component=ghost").status_code == 404


def published_notice(release, engineer, **overrides):
    values = {
        "headline": "Keys replace secrets",
        "description": "Details.",
        "tentative_start": release.scheduled_start,
        "nature": "Auth change.",
        "action_required": "Create a key.",
        "benefits": "Revocable keys.",
    }
    values.update(overrides)
    notice = notices.notice_create(release=release, by=engineer, at=NOW, **values)
    return notices.notice_publish(notice=notice, by=engineer, at=NOW)


def test_notices_pages_feed_and_calendar(client, make_release, engineer, history):
    release = make_release(
        version="10.0.0", impact="perceptible", scheduled_start=utc(2027, 1, 6, 8)
    )
    notice = published_notice(release, engineer)
    notices.notice_update(notice=notice, by=engineer, at=NOW, tentative_start=utc(2027, 1, 7, 8))
    listing = client.get("/notices/").content.decode()
    assert "Keys replace secrets" in listing
    page = client.get(f"/notices/{notice.pk}/").content.decode()
    for text in ("What you need to do", "Create a key.", "Revocable keys.", "Date moved from"):
        assert text in page
    feed = feedparser.parse(client.get("/feeds/notices.atom").content)
    assert [e.title for e in feed.entries] == ["Keys replace secrets (published)"]
    cal = Calendar.from_ical(client.get("/calendar/releases.ics").content)
    summaries = {str(e["SUMMARY"]) for e in cal.walk("VEVENT")}
    assert "Advance notice: Keys replace secrets" in summaries
    assert "Items API 1.1.0: Faster search" in summaries
    assert not any("Not announced" in s or "Dropped" in s for s in summaries)
    draft = notices.notice_create(
        release=make_release(
            version="10.1.0", impact="perceptible", scheduled_start=utc(2027, 1, 6, 8, 30)
        ),
        by=engineer,
        at=NOW,
        headline="Secret draft",
    )
    assert client.get(f"/notices/{draft.pk}/").status_code == 404


def test_pages_and_feeds_answer_304_until_something_public_changes(client, history, engineer):
    for url in ("/releases/", "/feeds/releases.atom", "/", "/notices/"):
        first = client.get(url)
        etag = first["ETag"]
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    services.item_add(release=history["announced"], by=engineer, at=NOW, title="New")
    assert client.get("/releases/", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_the_notes_list_runs_a_constant_number_of_queries(client, make_release, engineer):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/releases/").status_code == 200
        return len(ctx.captured_queries)

    services.release_announce(release=make_release(version="1.0.0"), by=engineer, at=NOW)
    few = count()
    for i in range(15):
        release = make_release(version=f"3.{i}.0", items=[{"title": f"i{n}"} for n in range(i)])
        services.release_announce(release=release, by=engineer, at=NOW)
    assert count() == few


def test_no_xss_vector_reaches_a_page_or_a_feed(client, make_release, engineer):
    payload = "\n\n".join(VECTORS)
    release = make_release(
        version="6.6.6",
        title="<script>alert(1)</script>",
        notes=payload,
        items=[{"title": "<img src=x onerror=alert(1)>", "description": payload}],
        impact="perceptible",
        scheduled_start=utc(2027, 1, 6, 8),
    )
    notice = published_notice(
        release,
        engineer,
        description=payload,
        action_required=payload,
        benefits=payload,
        nature=payload,
    )
    services.release_announce(release=release, by=engineer, at=NOW)
    for url in (
        "/",
        "/releases/",
        "/releases/items-api/6.6.6/",
        "/notices/",
        f"/notices/{notice.pk}/",
    ):
        html = client.get(url).content.decode()
        main = html.split("<main>")[1].split("</main>")[0]  # where notes and notices go
        if url != "/notices/":  # the list shows headlines only
            assert "alert(1)" in main  # the payload is on the page, as inert text
        assert_nothing_runs(main)
    for url in ("/feeds/releases.atom", "/feeds/notices.atom"):
        entries = feedparser.parse(client.get(url).content).entries
        assert entries
        for entry in entries:
            assert_nothing_runs(entry.summary)
