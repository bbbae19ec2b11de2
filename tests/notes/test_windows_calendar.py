"""/calendar/windows.ics parsed by icalendar and expanded by a real recurrence expander."""

import datetime as dt

import pytest
import recurring_ical_events
from icalendar import Calendar

from releases.models import Freeze, WindowPolicy
from releases.selectors import window_calendar

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def fetch(client) -> Calendar:
    response = client.get("/calendar/windows.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def test_calendar_describes_windows_by_rule_with_a_vtimezone(client):
    cal = fetch(client)
    [tz] = cal.walk("VTIMEZONE")
    assert tz["TZID"] == "America/Los_Angeles"
    [event] = cal.walk("VEVENT")
    assert event["SUMMARY"] == "Release window: Regular release windows"
    assert event["RRULE"]["FREQ"] == ["WEEKLY"]
    assert event["RRULE"]["BYDAY"] == ["WE", "TH", "FR"]
    assert event["DURATION"].dt == dt.timedelta(hours=3)
    # RFC 5545: DTSTART is the first instance, so it must be a real one (2020-01-01 is a Wednesday).
    assert event["DTSTART"].dt == dt.datetime(2020, 1, 1, tzinfo=event["DTSTART"].dt.tzinfo)


def test_expanded_calendar_matches_the_engine_across_a_dst_change(client, api_component):
    cal = fetch(client)
    start, end = dt.datetime(2026, 10, 20, tzinfo=UTC), dt.datetime(2027, 3, 20, tzinfo=UTC)
    expanded = sorted(
        (e["DTSTART"].dt.astimezone(UTC), e["DTEND"].dt.astimezone(UTC))
        for e in recurring_ical_events.of(cal).between(start, end)
    )
    engine = [(w.start, w.end) for w in window_calendar().windows(start, end, "items-api")]
    assert expanded == engine
    assert len(engine) == 3 * 22  # 22 weeks, across 2026-11-01 and 2027-03-14


def test_calendar_lists_one_off_and_recurring_freezes(client):
    Freeze.objects.create(
        reason="Year end",
        starts_at=dt.datetime(2026, 12, 24, 8, tzinfo=UTC),
        ends_at=dt.datetime(2027, 1, 2, 8, tzinfo=UTC),
    )
    Freeze.objects.create(
        reason="No Fridays",
        rrule="FREQ=WEEKLY;BYDAY=FR",
        start_time=dt.time(0),
        duration_minutes=1440,
        zone="Europe/London",
        effective_from=dt.date(2026, 11, 1),
        effective_until=dt.date(2026, 12, 31),
    )
    cal = fetch(client)
    events = {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}
    one_off = events["Freeze: Year end"]
    assert one_off["DTSTART"].dt == dt.datetime(2026, 12, 24, 8, tzinfo=UTC)
    assert one_off["DTEND"].dt == dt.datetime(2027, 1, 2, 8, tzinfo=UTC)
    fridays = events["Freeze: No Fridays"]
    assert fridays["DTSTART"].dt.date() == dt.date(2026, 11, 6)  # first Friday on or after
    assert {str(t["TZID"]) for t in cal.walk("VTIMEZONE")} == {
        "America/Los_Angeles",
        "Europe/London",
    }
    occurrences = recurring_ical_events.of(cal).between(dt.date(2026, 11, 1), dt.date(2027, 3, 1))
    friday_dates = sorted(
        e["DTSTART"].dt.date() for e in occurrences if "Fridays" in str(e["SUMMARY"])
    )
    assert friday_dates[0] == dt.date(2026, 11, 6) and friday_dates[-1] == dt.date(2026, 12, 25)
    assert len(friday_dates) == 8


def test_effective_until_becomes_until_in_utc(client):
    WindowPolicy.objects.update(effective_until=dt.date(2026, 12, 31))
    [event] = fetch(client).walk("VEVENT")
    until = event["RRULE"]["UNTIL"][0]
    assert until == dt.datetime(2027, 1, 1, 7, 59, 59, tzinfo=UTC)  # 23:59:59 PST
