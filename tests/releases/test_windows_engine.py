"""The window engine on hand-made cases: merging, freezes, scope, decisions and validation."""

import datetime as dt

import pytest

from releases.windows import Freeze, Interval, Policy, Reason, Recurrence, WindowCalendar
from tests.helpers import utc

LA = "America/Los_Angeles"


def weekly(days="WE,TH,FR", start=dt.time(0), hours=3, zone=LA, since=dt.date(2020, 1, 1), **kw):
    return Recurrence(
        f"FREQ=WEEKLY;BYDAY={days}", start, dt.timedelta(hours=hours), zone, since, **kw
    )


DEFAULT = Policy(1, "default", weekly())


def test_overlapping_windows_of_two_policies_merge_into_one():
    late = Policy(2, "late", weekly(start=dt.time(2), hours=2))  # 02:00-04:00, overlaps 00-03
    cal = WindowCalendar([DEFAULT, late])
    [window] = cal.windows(utc(2026, 11, 25), utc(2026, 11, 25, 23), "x")
    assert (window.start, window.end) == (utc(2026, 11, 25, 8), utc(2026, 11, 25, 12))
    assert window.policies == (1, 2)


def test_windows_that_only_touch_merge_too():
    after = Policy(2, "after", weekly(start=dt.time(3), hours=1))  # 03:00-04:00
    [window] = WindowCalendar([DEFAULT, after]).windows(utc(2026, 11, 25), utc(2026, 11, 26), "x")
    assert window.end - window.start == dt.timedelta(hours=4)


def test_a_freeze_closes_only_the_part_of_a_window_it_overlaps():
    freeze = Freeze(
        9, "database migration", interval=Interval(utc(2026, 11, 25, 9), utc(2026, 11, 25, 10))
    )
    cal = WindowCalendar([DEFAULT], [freeze])
    found = [(w.start, w.end) for w in cal.windows(utc(2026, 11, 25), utc(2026, 11, 26), "x")]
    assert found == [
        (utc(2026, 11, 25, 8), utc(2026, 11, 25, 9)),
        (utc(2026, 11, 25, 10), utc(2026, 11, 25, 11)),
    ]
    refused = cal.decide(utc(2026, 11, 25, 9, 30), "x")
    assert (refused.allowed, refused.reason) == (False, Reason.FROZEN)
    assert "database migration" in refused.detail
    assert refused.next_window.start == utc(2026, 11, 25, 10)
    assert cal.decide(utc(2026, 11, 25, 10), "x").allowed  # the end of a freeze is open


def test_a_recurring_freeze_closes_every_occurrence_it_overlaps():
    # No releases on Fridays (all day, Pacific time).
    fridays = Freeze(5, "no Friday releases", recurrence=weekly(days="FR", hours=24))
    cal = WindowCalendar([DEFAULT], [fridays])
    days = {
        w.start.astimezone(DEFAULT.recurrence._tz).strftime("%a")
        for w in cal.windows(utc(2026, 11, 1), utc(2026, 12, 31), "x")
    }
    assert days == {"Wed", "Thu"}


def test_freeze_scope_only_closes_its_components():
    freeze = Freeze(
        9,
        "client freeze",
        interval=Interval(utc(2026, 1, 1), utc(2027, 1, 1)),
        components=frozenset({"js-client"}),
    )
    cal = WindowCalendar([DEFAULT], [freeze])
    at = utc(2026, 11, 26, 9)
    assert not cal.decide(at, "js-client").allowed
    assert cal.decide(at, "items-api").allowed
    trace = {t.id: t.verdict for t in cal.decide(at, "items-api").trace}
    assert trace == {1: "open", 9: "out_of_scope"}


def test_component_without_any_policy_is_denied_with_no_policy():
    scoped = Policy(1, "api only", weekly(), components=frozenset({"items-api"}))
    decision = WindowCalendar([scoped]).decide(utc(2026, 11, 26, 9), "js-client")
    assert (decision.allowed, decision.reason, decision.next_window) == (
        False,
        Reason.NO_POLICY,
        None,
    )


def test_decision_with_duration_refuses_a_release_that_would_not_fit():
    cal = WindowCalendar([DEFAULT])
    at = utc(2026, 11, 26, 10)  # one hour before the window closes
    refused = cal.decide(at, "x", duration=dt.timedelta(hours=2))
    assert (refused.allowed, refused.reason) == (False, Reason.DOES_NOT_FIT)
    assert refused.next_window.start == utc(2026, 11, 27, 8)
    assert cal.decide(at, "x", duration=dt.timedelta(hours=1)).allowed


def test_next_window_skips_windows_too_short_for_the_release():
    short = Policy(2, "short thursday", weekly(days="TH", start=dt.time(12), hours=1))
    cal = WindowCalendar([DEFAULT, short])
    after = utc(2026, 11, 26, 12)  # Thursday 04:00 PST; the short window opens 20:00 UTC
    assert cal.next_window(after, "x").start == utc(2026, 11, 26, 20)
    assert cal.next_window(after, "x", min_length=dt.timedelta(hours=2)).start == utc(
        2026, 11, 27, 8
    )


def test_effective_dates_bound_the_policy():
    bounded = Policy(
        1, "november", weekly(since=dt.date(2026, 11, 1), effective_until=dt.date(2026, 11, 26))
    )
    cal = WindowCalendar([bounded])
    found = [w.start.date() for w in cal.windows(utc(2026, 10, 1), utc(2026, 12, 31), "x")]
    assert found[0] == dt.date(2026, 11, 4) and found[-1] == dt.date(2026, 11, 26)
    assert cal.next_window(utc(2026, 11, 27), "x") is None


def test_window_at_the_exact_opening_instant_is_open_and_at_closing_is_closed():
    cal = WindowCalendar([DEFAULT])
    assert cal.window_at(utc(2026, 11, 26, 8), "x") is not None
    assert cal.window_at(utc(2026, 11, 26, 11), "x") is None


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="naive"):
        WindowCalendar([DEFAULT]).decide(dt.datetime(2026, 11, 26, 9), "x")


def test_interval_greater_than_one_keeps_the_phase_of_effective_from_far_in_the_future():
    # Every other Wednesday from Wed 2026-01-07: 2090-01-04 is 3339 weeks later (odd, closed),
    # 2090-01-11 is 3340 weeks later (even, open).
    biweekly = Recurrence(
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
        dt.time(0),
        dt.timedelta(hours=3),
        "UTC",
        dt.date(2026, 1, 7),
    )
    cal = WindowCalendar([Policy(1, "biweekly", biweekly)])
    assert (dt.date(2090, 1, 4) - dt.date(2026, 1, 7)).days == 3339 * 7
    assert not cal.decide(utc(2090, 1, 4, 1), "x").allowed
    assert cal.decide(utc(2090, 1, 11, 1), "x").allowed
    assert cal.next_window(utc(2090, 1, 4, 1), "x").start == utc(2090, 1, 11)


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"rule": "FREQ=WEEKLY;BYDAY=XX"}, "rule", "BYDAY"),
        ({"rule": "FREQ=HOURLY"}, "rule", "HOURLY"),
        ({"rule": "FREQ=WEEKLY;COUNT=3"}, "rule", "effective until"),
        ({"rule": "FREQ=WEEKLY;BYHOUR=3"}, "rule", "start time"),
        ({"rule": "BYDAY=MO"}, "rule", "FREQ is required"),
        ({"rule": "FREQ=WEEKLY;INTERVAL=0"}, "rule", "INTERVAL"),
        ({"rule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rule", "no date"),
        ({"rule": "FREQ=DAILY;WAT=1"}, "rule", "WAT"),
        ({"zone": "Pacific/Atlantis"}, "zone", "Pacific/Atlantis"),
        ({"zone": "../etc/passwd"}, "zone", "IANA"),
        ({"duration": dt.timedelta(0)}, "duration", "longer than zero"),
        ({"duration": dt.timedelta(minutes=-5)}, "duration", "longer than zero"),
        ({"duration": dt.timedelta(hours=24)}, "duration", "shortest gap"),
        ({"effective_until": dt.date(2019, 12, 31)}, "effective_until", "before"),
    ],
)
def test_invalid_recurrence_names_the_bad_field(kwargs, field, fragment):
    values = {
        "rule": "FREQ=WEEKLY;BYDAY=WE,TH,FR",
        "start_time": dt.time(0),
        "duration": dt.timedelta(hours=3),
        "zone": LA,
        "effective_from": dt.date(2020, 1, 1),
    }
    values.update(kwargs)
    errors = Recurrence(**values).validate()
    assert field in errors, errors
    assert fragment in errors[field]


def test_duration_equal_to_the_shortest_gap_is_refused_and_one_minute_less_is_fine():
    # WE,TH: shortest gap one day (24 h; no DST change in UTC).
    rec = Recurrence(
        "FREQ=WEEKLY;BYDAY=WE,TH", dt.time(0), dt.timedelta(hours=24), "UTC", dt.date(2026, 1, 1)
    )
    assert "duration" in rec.validate()
    ok = Recurrence(
        "FREQ=WEEKLY;BYDAY=WE,TH",
        dt.time(0),
        dt.timedelta(hours=24) - dt.timedelta(minutes=1),
        "UTC",
        dt.date(2026, 1, 1),
    )
    assert ok.validate() == {}


def test_touching_windows_merge_even_when_the_range_ends_inside_the_first():
    # Found by the property tests: a range ending inside A must still see B, which starts
    # exactly when A ends, or the two come back as separate windows.
    a = Policy(
        1,
        "a",
        Recurrence("FREQ=DAILY", dt.time(22), dt.timedelta(hours=10), "UTC", dt.date(2000, 1, 1)),
    )
    b = Policy(
        2,
        "b",
        Recurrence("FREQ=DAILY", dt.time(8), dt.timedelta(hours=2), "UTC", dt.date(2000, 1, 1)),
    )
    cal = WindowCalendar([a, b])
    [window, *_] = cal.windows(utc(2000, 1, 1, 23), utc(2000, 1, 2, 1), "x")
    assert (window.start, window.end) == (utc(2000, 1, 1, 22), utc(2000, 1, 2, 10))


def test_an_endless_chain_of_windows_is_reported_cut_at_the_chain_limit():
    from releases.windows import CHAIN_LIMIT

    day = Policy(
        1,
        "day",
        Recurrence("FREQ=DAILY", dt.time(8), dt.timedelta(hours=14), "UTC", dt.date(2000, 1, 1)),
    )
    night = Policy(
        2,
        "night",
        Recurrence("FREQ=DAILY", dt.time(22), dt.timedelta(hours=10), "UTC", dt.date(2000, 1, 1)),
    )
    cal = WindowCalendar([day, night])
    at = utc(2026, 6, 1, 12)
    window = cal.window_at(at, "x")
    assert window.start == at - CHAIN_LIMIT
    assert at + CHAIN_LIMIT <= window.end <= at + CHAIN_LIMIT + dt.timedelta(seconds=1)
    assert cal.decide(at, "x").allowed
