"""The desk's calendar: what each local day holds, at which local times, and the pages."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine

from approvals import services as approvals
from notes import services as notices
from releases import calendar, services
from releases.models import Freeze, Release
from tests.helpers import IN_SLOT, NOW, WED_WINDOW, ask, store_rows_outside_the_range, utc

pytestmark = pytest.mark.django_db
PACIFIC = ZoneInfo("America/Los_Angeles")
CALENDAR = "/admin/releases/release/calendar/"
NOTICE = {
    "headline": "API keys replace shared secrets",
    "description": "Every request carries an API key.",
    "nature": "Authentication change.",
    "action_required": "Create a key.",
    "benefits": "Keys can be revoked one by one.",
    "impact_level": "medium",
}


@pytest.fixture(autouse=True)
def monday_evening():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def december(make_release, engineer, manager, client_component):
    """A release in each state, an approved slot, a published and a draft notice, a freeze."""
    planned = make_release(version="1.0.0", title="Planned one")
    shipped = make_release(version="1.1.0", scheduled_start=utc(2026, 12, 2, 9))
    services.release_announce(release=shipped, by=engineer, at=NOW)
    services.release_start(release=shipped, by=engineer, at=utc(2026, 12, 2, 9, 5))
    services.release_complete(release=shipped, by=engineer, at=utc(2026, 12, 2, 9, 40))
    announced = make_release(version="1.2.0", scheduled_start=utc(2026, 12, 3, 8, 30))
    services.release_announce(release=announced, by=engineer, at=NOW)
    cancelled = make_release(version="1.3.0", scheduled_start=utc(2026, 12, 4, 8))
    services.release_cancel(release=cancelled, by=engineer, at=NOW)
    urgent = make_release(version="3.0.0", kind="exceptional", scheduled_start=IN_SLOT)
    request = ask(urgent, engineer)
    approvals.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    perceptible = make_release(
        version="4.0.0", impact="perceptible", scheduled_start=utc(2026, 12, 16, 8, 15)
    )
    notice = notices.notice_create(
        release=perceptible,
        by=engineer,
        at=NOW,
        tentative_start=perceptible.scheduled_start,
        **NOTICE,
    )
    notices.notice_publish(notice=notice, by=engineer, at=NOW)
    drafted = make_release(
        version="4.1.0", impact="perceptible", scheduled_start=utc(2026, 12, 17, 8, 15)
    )
    notices.notice_create(
        release=drafted,
        by=engineer,
        at=NOW,
        tentative_start=drafted.scheduled_start,
        **{**NOTICE, "headline": "Draft about webhooks"},
    )
    Freeze.objects.create(
        reason="Payments freeze", starts_at=utc(2026, 12, 10), ends_at=utc(2026, 12, 12)
    )
    return {"planned": planned, "shipped": shipped, "request": request, "notice": notice}


def grid_of(view: str, day: dt.date, zone=PACIFIC, component=None) -> calendar.Grid:
    start, end = calendar.bounds(view, day, zone)
    entries = calendar.desk_entries(start, end, component=component)
    return calendar.layout(view, day, zone, entries, today=dt.date(2026, 11, 30))


def cell(grid: calendar.Grid, day: str) -> list[tuple[str, str, str, str]]:
    [found] = [d for d in grid.days if d.date.isoformat() == day]
    return [(p.kind, p.when, p.entry.label, p.entry.state) for p in found.entries]


def test_a_month_shows_windows_freezes_releases_by_state_slots_and_notices(december):
    grid = grid_of(calendar.MONTH, dt.date(2026, 12, 14))
    assert grid.title == "December 2026"
    # Whole weeks: Monday 30 November to Sunday 3 January, in Pacific time.
    assert (grid.days[0].date, grid.days[-1].date) == (dt.date(2026, 11, 30), dt.date(2027, 1, 3))
    assert grid.start == utc(2026, 11, 30, 8) and grid.end == utc(2027, 1, 4, 8)
    assert [d.in_period for d in grid.days[:3]] == [False, True, True]
    assert grid.days[0].today and not grid.days[1].today
    assert cell(grid, "2026-12-01") == [
        ("slot", "06:00–08:00", "Approved slot: items-api 3.0.0", "approved"),
        ("release", "06:30–07:30", "items-api 3.0.0", "planned"),
    ]
    assert cell(grid, "2026-12-02") == [
        ("window", "00:00–03:00", "Release window", ""),
        ("release", "00:00–01:00", "items-api 1.0.0", "planned"),
        ("release", "01:00–02:00", "items-api 1.1.0", "released"),
    ]
    assert cell(grid, "2026-12-03")[1] == ("release", "00:30–01:30", "items-api 1.2.0", "announced")
    assert cell(grid, "2026-12-04")[1] == ("release", "00:00–01:00", "items-api 1.3.0", "cancelled")
    # The freeze runs from Wednesday 16:00 to Friday 16:00 Pacific and closes two windows.
    assert cell(grid, "2026-12-09") == [
        ("window", "00:00–03:00", "Release window", ""),
        ("freeze", "from 16:00", "Freeze: Payments freeze", ""),
    ]
    assert cell(grid, "2026-12-10") == [("freeze", "all day", "Freeze: Payments freeze", "")]
    assert cell(grid, "2026-12-11") == [("freeze", "until 16:00", "Freeze: Payments freeze", "")]
    notice_day = cell(grid, "2026-12-16")
    assert ("notice", "00:15", "Notice: API keys replace shared secrets", "published") in notice_day
    draft = ("notice", "00:15", "Notice: Draft about webhooks", "draft")
    assert draft in cell(grid, "2026-12-17")
    windows = [p for d in grid.days for p in d.entries if p.kind == "window"]
    assert len(windows) == 5 * 3 - 2  # five weeks of WE/TH/FR, minus the two frozen
    assert {p.entry.detail for p in windows} == {"items-api, js-client"}


def test_a_week_lists_each_day_with_details_and_links_to_the_objects(client, engineer, december):
    client.force_login(engineer)
    html = client.get(CALENDAR, {"view": "week", "date": "2026-12-02"}).content.decode()
    assert "Week 49: Mon 30 Nov – Sun 06 Dec 2026" in html
    wednesday = html[html.index('data-date="2026-12-02"') : html.index('data-date="2026-12-03"')]
    assert 'class="entry entry-release state-released"' in wednesday
    assert f'href="/admin/releases/release/{december["shipped"].pk}/change/"' in wednesday
    assert '<time datetime="2026-12-02T09:00:00Z"' in wednesday
    assert "Released" in wednesday and "Planned" in wednesday
    tuesday = html[html.index('data-date="2026-12-01"') : html.index('data-date="2026-12-02"')]
    request = december["request"]
    assert f'href="/admin/approvals/approvalrequest/{request.pk}/change/"' in tuesday
    assert "Approved slot: items-api 3.0.0" in tuesday
    assert "exceptional" in tuesday
    # Navigation keeps the view: a week back, a week on, this week, or the month.
    assert 'href="?view=week&amp;date=2026-11-25"' in html
    assert 'href="?view=week&amp;date=2026-12-09"' in html
    assert 'href="?view=month&amp;date=2026-12-02"' in html
    month = client.get(CALENDAR, {"view": "month", "date": "2026-12-16"}).content.decode()
    notice = december["notice"]
    assert f'href="/admin/notes/advancenotice/{notice.pk}/change/"' in month
    assert re.search(r'href="/admin/releases/freeze/\d+/change/"', month)
    assert re.search(r'href="/admin/releases/windowpolicy/\d+/change/"', month)


def test_the_component_filter_keeps_only_that_component(client, engineer, december):
    client.force_login(engineer)
    html = client.get(
        CALENDAR, {"view": "month", "date": "2026-12-01", "component": "js-client"}
    ).content.decode()
    assert "items-api 1.0.0" not in html and "Approved slot" not in html
    assert "Release window" in html and "Payments freeze" in html
    assert '<option value="js-client" selected>' in html
    assert 'href="?view=month&amp;date=2026-11-01&amp;component=js-client"' in html
    grid = grid_of(calendar.WEEK, dt.date(2026, 12, 2), component="items-api")
    assert [p.entry.detail for p in grid.days[2].entries if p.kind == "window"] == ["items-api"]


def test_bad_query_values_fall_back_to_this_month(client, engineer, december):
    client.force_login(engineer)
    for query in (
        {"view": "year", "date": "yesterday"},
        {"date": "9999-01-01"},
        {"component": "nope"},
    ):
        response = client.get(CALENDAR, query)
        assert response.status_code == 200
        assert response.context["grid"].title == "November 2026"
        assert response.context["component"] is None


def test_local_times_stay_right_across_the_fall_back(api_component, make_release):
    """Sunday 1 November 2026: Pacific clocks go back from 02:00 PDT to 01:00 PST."""
    Freeze.objects.create(
        reason="Around the change",
        starts_at=utc(2026, 11, 1, 8, 30),
        ends_at=utc(2026, 11, 1, 9, 30),
    )
    before = grid_of(calendar.WEEK, dt.date(2026, 10, 28))
    after = grid_of(calendar.WEEK, dt.date(2026, 11, 4))
    # The window opens at 00:00 local on both Wednesdays, an hour apart in UTC.
    [october] = [p for p in before.days[2].entries if p.kind == "window"]
    [november] = [p for p in after.days[2].entries if p.kind == "window"]
    assert (october.when, november.when) == ("00:00–03:00", "00:00–03:00")
    assert (october.starts, november.starts) == (utc(2026, 10, 28, 7), utc(2026, 11, 4, 8))
    sunday = before.days[6]
    assert sunday.date == dt.date(2026, 11, 1)
    assert sunday.shift == "Clocks go back 1 h (PDT → PST)"
    # 01:30 happens twice that night: the times say which.
    assert cell(before, "2026-11-01") == [
        ("freeze", "01:30 PDT–01:30 PST", "Freeze: Around the change", "")
    ]
    assert before.end == utc(2026, 11, 2, 8) and before.start == utc(2026, 10, 26, 7)
    assert before.abbreviations == ["PDT", "PST"]


def test_a_release_across_the_spring_forward_keeps_its_local_times(make_release):
    """Sunday 14 March 2027: 02:00 PST becomes 03:00 PDT; the day has 23 hours."""
    release = make_release(
        version="9.0.0", kind="exceptional", scheduled_start=utc(2027, 3, 14, 9, 30)
    )
    grid = grid_of(calendar.MONTH, dt.date(2027, 3, 1))
    day = next(d for d in grid.days if d.date == dt.date(2027, 3, 14))
    assert day.shift == "Clocks go forward 1 h (PST → PDT)"
    assert cell(grid, "2027-03-14") == [
        ("release", "01:30 PST–03:30 PDT", f"items-api {release.version}", "planned")
    ]
    [week_after] = [p for p in next(d for d in grid.days if d.date == dt.date(2027, 3, 17)).entries]
    assert (week_after.when, week_after.starts) == ("00:00–03:00", utc(2027, 3, 17, 7))


def test_a_reader_in_another_zone_sees_the_days_in_theirs(client, engineer, december):
    client.force_login(engineer)
    client.post("/admin/preferences/", {"time_zone": "Asia/Tokyo"})
    response = client.get(CALENDAR, {"view": "week", "date": "2026-12-02"})
    grid = response.context["grid"]
    assert grid.zone == "Asia/Tokyo"
    wednesday = cell(grid, "2026-12-02")
    # Wednesday 00:00 Pacific is Wednesday 17:00 in Tokyo; Tuesday's slot runs past midnight.
    assert ("window", "17:00–20:00", "Release window", "") in wednesday
    assert wednesday[0] == ("slot", "until 01:00", "Approved slot: items-api 3.0.0", "approved")
    assert cell(grid, "2026-12-01")[0] == (
        "slot",
        "from 23:00",
        "Approved slot: items-api 3.0.0",
        "approved",
    )
    assert "times in Asia/Tokyo (JST)" in response.content.decode()


def test_the_calendar_costs_the_same_queries_however_much_it_shows(
    client, engineer, make_release, django_assert_max_num_queries
):
    client.force_login(engineer)
    client.get(CALENDAR, {"date": "2026-12-01"})  # the window calendar is cached after this
    with django_assert_max_num_queries(12) as few:
        client.get(CALENDAR, {"date": "2026-12-01"})
        baseline = len(few)
    for week in range(4):
        for hour in range(3):
            make_release(scheduled_start=WED_WINDOW + dt.timedelta(weeks=week, hours=hour))
    client.get(CALENDAR, {"date": "2026-12-01"})
    with django_assert_max_num_queries(baseline):
        html = client.get(CALENDAR, {"date": "2026-12-01"}).content.decode()
    grid = html[: html.index('class="calendar-legend"')]
    assert grid.count("entry entry-release state-planned") == 12


def test_releases_outside_every_window_say_so(make_release):
    Release.objects.filter(pk=make_release(version="8.0.0").pk).update(
        scheduled_start=utc(2026, 12, 5, 20)  # a Saturday noon: a rule change stranded it
    )
    grid = grid_of(calendar.WEEK, dt.date(2026, 12, 5))
    [placed] = [p for p in grid.days[5].entries]
    assert placed.entry.detail == "Planned, outside every window"


def test_rows_stored_outside_the_supported_range_break_neither_calendar(
    client, engineer, api_component
):

    store_rows_outside_the_range(api_component, engineer)
    client.force_login(engineer)
    for path in (CALENDAR, "/calendar/"):
        for query in ({}, {"view": "week", "date": "2199-12-20"}, {"date": "1970-01-01"}):
            response = client.get(path, query)
            assert response.status_code == 200, (path, query)
    html = client.get(CALENDAR, {"view": "week", "date": "2026-12-02"}).content.decode()
    assert "Freeze: Forever" in html and "all day" in html
