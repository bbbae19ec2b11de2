"""DST: a start in the spring-forward gap moves forward by the gap; a start in the repeated hour
means the first occurrence; durations are elapsed time. Expected instants worked out by hand."""

import datetime as dt

import pytest

from releases.windows import Policy, Reason, Recurrence, WindowCalendar
from tests.helpers import utc


def daily(zone: str, start: dt.time, minutes: int, since=dt.date(2026, 1, 1)) -> WindowCalendar:
    rec = Recurrence("FREQ=DAILY", start, dt.timedelta(minutes=minutes), zone, since)
    assert rec.validate() == {}
    return WindowCalendar([Policy(1, "daily", rec)])


def windows_on(cal: WindowCalendar, day: dt.date):
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) - dt.timedelta(hours=14)
    return [
        (w.start, w.end)
        for w in cal.windows(start, start + dt.timedelta(hours=36), "x")
        if w.start.astimezone(cal.policies[0].recurrence._tz).date() == day
    ]


@pytest.mark.parametrize(
    ("zone", "day", "local_start", "minutes", "expected_start"),
    [
        # Los Angeles springs forward 2026-03-08 02:00 -> 03:00: 02:30 becomes 03:30 PDT.
        ("America/Los_Angeles", dt.date(2026, 3, 8), dt.time(2, 30), 60, utc(2026, 3, 8, 10, 30)),
        # The day before and after, the same wall time is an ordinary instant.
        ("America/Los_Angeles", dt.date(2026, 3, 7), dt.time(2, 30), 60, utc(2026, 3, 7, 10, 30)),
        ("America/Los_Angeles", dt.date(2026, 3, 9), dt.time(2, 30), 60, utc(2026, 3, 9, 9, 30)),
        # London springs forward 2026-03-29 01:00 -> 02:00: 01:30 becomes 02:30 BST.
        ("Europe/London", dt.date(2026, 3, 29), dt.time(1, 30), 60, utc(2026, 3, 29, 1, 30)),
        # Lord Howe shifts by 30 minutes, 2026-10-04 02:00 -> 02:30: 02:15 becomes 02:45 (+11).
        ("Australia/Lord_Howe", dt.date(2026, 10, 4), dt.time(2, 15), 60, utc(2026, 10, 3, 15, 45)),
    ],
)
def test_start_inside_the_spring_forward_gap_moves_forward_by_the_gap(
    zone, day, local_start, minutes, expected_start
):
    found = windows_on(daily(zone, local_start, minutes), day)
    assert found == [(expected_start, expected_start + dt.timedelta(minutes=minutes))]


@pytest.mark.parametrize(
    ("zone", "day", "local_start", "expected_start"),
    [
        # Los Angeles falls back 2026-11-01 02:00 -> 01:00: 01:30 happens at 08:30 and 09:30 UTC.
        ("America/Los_Angeles", dt.date(2026, 11, 1), dt.time(1, 30), utc(2026, 11, 1, 8, 30)),
        # London falls back 2026-10-25 02:00 -> 01:00: first 01:30 is BST, 00:30 UTC.
        ("Europe/London", dt.date(2026, 10, 25), dt.time(1, 30), utc(2026, 10, 25, 0, 30)),
        # Lord Howe falls back 2026-04-05 02:00 -> 01:30: first 01:45 is +11:00.
        ("Australia/Lord_Howe", dt.date(2026, 4, 5), dt.time(1, 45), utc(2026, 4, 4, 14, 45)),
    ],
)
def test_start_inside_the_repeated_hour_takes_the_first_occurrence(
    zone, day, local_start, expected_start
):
    found = windows_on(daily(zone, local_start, 20), day)
    assert found == [(expected_start, expected_start + dt.timedelta(minutes=20))]


def test_duration_is_elapsed_time_across_the_spring_change():
    # 01:00 PST + 3 h elapsed = 05:00 PDT (four hours on the wall clock).
    cal = daily("America/Los_Angeles", dt.time(1, 0), 180)
    [(start, end)] = windows_on(cal, dt.date(2026, 3, 8))
    assert (start, end) == (utc(2026, 3, 8, 9), utc(2026, 3, 8, 12))
    zone = cal.policies[0].recurrence._tz
    assert end.astimezone(zone).time() == dt.time(5, 0)


def test_duration_is_elapsed_time_across_the_autumn_change():
    # 00:00 PDT + 3 h elapsed = 02:00 PST (two hours on the wall clock).
    cal = daily("America/Los_Angeles", dt.time(0, 0), 180)
    [(start, end)] = windows_on(cal, dt.date(2026, 11, 1))
    assert (start, end) == (utc(2026, 11, 1, 7), utc(2026, 11, 1, 10))


def test_default_policy_follows_pacific_time_across_the_autumn_change():
    rec = Recurrence(
        "FREQ=WEEKLY;BYDAY=WE,TH,FR",
        dt.time(0),
        dt.timedelta(hours=3),
        "America/Los_Angeles",
        dt.date(2020, 1, 1),
    )
    cal = WindowCalendar([Policy(1, "default", rec)])
    starts = [w.start for w in cal.windows(utc(2026, 10, 28), utc(2026, 11, 7), "x")]
    assert starts == [
        utc(2026, 10, 28, 7),
        utc(2026, 10, 29, 7),
        utc(2026, 10, 30, 7),  # PDT, UTC-7
        utc(2026, 11, 4, 8),
        utc(2026, 11, 5, 8),
        utc(2026, 11, 6, 8),  # PST, UTC-8
    ]
    # 07:30 UTC is inside on 28 October (00:30 PDT) and outside on 4 November (23:30 PST).
    assert cal.decide(utc(2026, 10, 28, 7, 30), "x").allowed
    refused = cal.decide(utc(2026, 11, 4, 7, 30), "x")
    assert (refused.allowed, refused.reason) == (False, Reason.OUTSIDE_WINDOW)
    assert refused.next_window.start == utc(2026, 11, 4, 8)


def test_a_day_shortened_by_dst_limits_the_duration_of_a_daily_window():
    # Daily at 00:00 Los Angeles: the gap between two starts is 23 h on the spring day.
    rec = Recurrence(
        "FREQ=DAILY", dt.time(0), dt.timedelta(hours=23), "America/Los_Angeles", dt.date(2026, 1, 1)
    )
    errors = rec.validate()
    assert "duration" in errors
    assert "23 h" in errors["duration"]
    assert rec.validate(max_duration_vs_gap=False) == {}
