"""Review of the quarter lookups (WindowCalendar._quarter, _fill, _stab, _traced) and the zone-keyed
word caches: whatever the rules and however they are asked, a decision, a trace and windows()
must be exactly what the same calendar gives with its quarters turned off (the rule-by-rule
trace, windows merged for the range).

Hostile inputs: instants exactly at occurrence starts and ends (and a microsecond either side),
at quarter and year turns in UTC and in local time, given in other offsets; one-off freezes
ending exactly at the instant or at a quarter's turn, spanning whole quarters and years; daily
freezes lasting 30 hours (overlapping occurrences); chains longer than CHAIN_LIMIT near a
quarter's turn; effective_until mid-quarter; duplicate ids; rules out of scope; components with
no policy; DST zones (half-hour DST at Lord Howe, Chatham's 45-minute offset); the engine's
extreme years; caches patched small so they are cleared while in use; several threads at once;
the same decisions in several display zones.

The last three tests pin defects found in review: two fixed, one known (see each docstring).
"""

import datetime as dt
import random
import sys
import threading
from contextlib import ExitStack, nullcontext
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lib import zones
from releases import windows as engine
from releases.windows import (
    CEILING,
    FLOOR,
    Freeze,
    Hold,
    Interval,
    Policy,
    Recurrence,
    WindowCalendar,
    _frozen_by,
    between,
    get_zone,
    when,
)
from tests.releases.test_windows_properties import ZONES, rules

UTC = dt.UTC
COMPONENTS = ["a", "b", "c"]
DST_ZONES = ["America/Los_Angeles", "Australia/Lord_Howe", "Pacific/Chatham", "Europe/London"]
ALL_ZONES = [*ZONES, "Pacific/Kiritimati", "Pacific/Honolulu"]
MICRO = dt.timedelta(microseconds=1)
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def reference_decide(cal: WindowCalendar, at, component, **kw):
    """The same rules, a calendar that remembers nothing, with its quarters turned off."""
    reference = WindowCalendar(cal.policies, cal.freezes, cal.holds)
    with mock.patch.object(WindowCalendar, "_quarter", return_value=None):
        return reference.decide(at, component, **kw)


def reference_decide_now(cal: WindowCalendar, at, component, **kw):
    reference = WindowCalendar(cal.policies, cal.freezes, cal.holds)
    with mock.patch.object(WindowCalendar, "_quarter", return_value=None):
        return reference.decide_now(at, component, **kw)


def reference_windows(cal: WindowCalendar, start, end, component):
    reference = WindowCalendar(cal.policies, cal.freezes)
    with mock.patch.object(WindowCalendar, "_quarter", return_value=None):
        return reference.windows(start, end, component)


def no_memo():
    """Decisions never remembered (the memo, older than the quarters, has defects of its own:
    see the last tests), so each answer is the lookups' own."""
    return mock.patch.object(engine, "MEMO_NEAR", dt.timedelta(-1))


def check(cal: WindowCalendar, at: dt.datetime, component: str, duration=dt.timedelta(0)):
    """Every lookup at ``at`` against its reference."""
    utc = engine.require_aware(at)
    trace, frozen_by = cal._traced(utc, component)
    by_rule = cal._trace(utc, component)
    assert trace == tuple(by_rule), (at, component)
    assert frozen_by == _frozen_by(by_rule), (at, component)
    if FLOOR < utc < CEILING:  # the slack keeps a quarter right for an instant given in offset
        assert cal._traced(at, component) == (trace, frozen_by), (at, component)
    expected = reference_decide(cal, at, component, duration=duration)
    decision = cal.decide(at, component, duration=duration)
    assert decision == expected, (at, component, duration)
    worded_afresh(decision)


def worded_afresh(decision):
    """The words a decision holds are those made again, with no cache, in the current zone
    (the reference shares the module's caches of words, so it cannot tell)."""
    uncached, zone = engine._between.__wrapped__, zones.current()
    for entry in decision.trace:
        if entry.occurrence is not None:
            words = "Open" if entry.verdict == "open" else "Frozen"
            span = uncached(entry.occurrence.start, entry.occurrence.end, zone)
            assert entry.detail == f"{words} {span}.", entry
    if decision.reason == "in_window":
        span = uncached(decision.window.start, decision.window.end, zone)
        assert f" is inside the window {span}." in decision.detail
    if not decision.allowed and decision.next_window is not None:
        opening = f" The next window opens at {when(decision.next_window.start)}."
        assert decision.detail.endswith(opening)


# --- Strategies ---------------------------------------------------------------------------------

YEARS = [1970, 1971, 2026, 2027, 2099, 2198, 2199]


@st.composite
def recurrences(draw, year: int, *, max_minutes: int):
    since = dt.date(year, 1, 1) + dt.timedelta(days=draw(st.integers(-400, 200)))
    until = draw(st.none() | st.integers(0, 400).map(lambda d: since + dt.timedelta(days=d)))
    minutes = draw(
        st.sampled_from([60, 180, 12 * 60, 24 * 60, 30 * 60]) | st.integers(1, max_minutes)
    )
    return Recurrence(
        rule=draw(rules()),
        start_time=dt.time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))),
        duration=dt.timedelta(minutes=min(minutes, max_minutes)),
        zone=draw(st.sampled_from([*DST_ZONES, *ALL_ZONES])),
        effective_from=since,
        effective_until=until,
    )


def quarter_turns(year: int):
    """A quarter's turn near ``year``, in UTC or at local midnight somewhere."""
    return st.builds(
        lambda y, month, zone: dt.datetime(y, month, 1, tzinfo=get_zone(zone)).astimezone(UTC),
        st.integers(year - 1, year + 1),
        st.sampled_from([1, 4, 7, 10]),
        st.sampled_from(["UTC", *DST_ZONES, "Pacific/Kiritimati", "Pacific/Honolulu"]),
    )


def scopes():
    return st.none() | st.frozensets(st.sampled_from(COMPONENTS), min_size=1, max_size=2)


@st.composite
def hostile_calendars(draw, year: int | None = None):
    year = draw(st.sampled_from(YEARS)) if year is None else year
    ids = st.integers(1, 4) | st.just("dup")  # ids repeat across policies and freezes
    policies = []
    for i in range(draw(st.integers(0, 4))):
        rec = draw(recurrences(year, max_minutes=30 * 60))
        assume(rec.validate() == {})
        policies.append(Policy(draw(ids), f"p{i}", rec, draw(scopes()), draw(st.none() | ids)))
    if draw(st.booleans()):  # two daily halves: one window for ever, longer than CHAIN_LIMIT
        zone = draw(st.sampled_from([*DST_ZONES, "UTC"]))
        since = draw(st.dates(dt.date(year - 1, 1, 1), dt.date(year + 1, 12, 1)))
        until = draw(st.none() | st.integers(20, 200).map(lambda d: since + dt.timedelta(days=d)))
        for k, hour in enumerate((0, 12)):
            rec = Recurrence(
                "FREQ=DAILY", dt.time(hour), dt.timedelta(hours=12), zone, since, until
            )
            policies.append(Policy(50 + k, f"half{k}", rec, draw(scopes())))
    freezes = []
    for i in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["one-off", "to a turn", "long", "recurring", "30 h"]))
        scope = draw(scopes())
        if kind == "recurring":
            rec = draw(recurrences(year, max_minutes=48 * 60))
            assume(rec.validate(max_duration_vs_gap=False) == {})
            freezes.append(Freeze(draw(ids), f"f{i}", recurrence=rec, components=scope))
            continue
        if kind == "30 h":  # occurrences overlap: a trace names the first
            since = dt.date(year, 1, 1) + dt.timedelta(days=draw(st.integers(-200, 200)))
            zone = draw(st.sampled_from([*DST_ZONES, "UTC"]))
            rule = draw(st.sampled_from(["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TU,WE"]))
            until = draw(st.none() | st.just(since + dt.timedelta(days=60)))
            hour = dt.time(draw(st.integers(0, 23)))
            rec = Recurrence(rule, hour, dt.timedelta(hours=30), zone, since, until)
            freezes.append(Freeze(draw(ids), f"f{i}", recurrence=rec, components=scope))
            continue
        turn = draw(quarter_turns(year))
        length = draw(
            st.sampled_from([MICRO, dt.timedelta(hours=3), dt.timedelta(days=92)])
            | st.integers(1, 60 * 24 * 800).map(lambda m: dt.timedelta(minutes=m))
        )
        if kind == "to a turn":  # ends exactly at a quarter's turn
            interval = Interval(turn - length, turn)
        elif kind == "long":  # whole quarters or years
            start = turn - dt.timedelta(days=draw(st.integers(0, 400)))
            interval = Interval(start, start + dt.timedelta(days=draw(st.integers(90, 800))))
        else:
            start = turn + dt.timedelta(minutes=draw(st.integers(-60 * 24 * 120, 60 * 24 * 120)))
            interval = Interval(start, start + length)
        freezes.append(Freeze(draw(ids), f"f{i}", interval=interval, components=scope))
    return year, WindowCalendar(policies, freezes)


def edges(cal: WindowCalendar, year: int) -> list[dt.datetime]:
    """Where something starts or ends near ``year``: occurrences, one-off freezes."""
    lo = dt.datetime(max(year - 1, 4), 1, 1, tzinfo=UTC)
    hi = dt.datetime(min(year + 2, 9996), 1, 1, tzinfo=UTC)
    found = []
    for rule in (*(p.recurrence for p in cal.policies), *cal.freezes):
        for o in rule.occurrences(lo, hi)[:300]:
            found += [o.start, o.end]
    return found


@st.composite
def instants_of(draw, cal: WindowCalendar, year: int):
    choice = draw(st.sampled_from(["edge", "edge", "turn", "turn", "anywhere"]))
    found = edges(cal, year)
    if choice == "edge" and found:
        at = draw(st.sampled_from(found))
    elif choice in ("edge", "turn"):
        at = draw(quarter_turns(year))
    else:
        at = dt.datetime(year, 1, 1, tzinfo=UTC) + dt.timedelta(
            minutes=draw(st.integers(-60 * 24 * 366, 60 * 24 * 366 * 2))
        )
    at += draw(
        st.sampled_from([dt.timedelta(0), dt.timedelta(0), MICRO, -MICRO])
        | st.integers(-600, 600).map(lambda m: dt.timedelta(minutes=m))
    )
    zone = draw(
        st.sampled_from(["UTC", "UTC", *DST_ZONES, "Pacific/Kiritimati", "Pacific/Honolulu"])
    )
    return at.astimezone(get_zone(zone))


# --- Properties -----------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), drawn=hostile_calendars())
def test_decisions_and_traces_at_hostile_instants_equal_the_reference(data, drawn):
    """Many instants of one calendar in random order (its quarters and caches kept between),
    some with a duration, in a display zone."""
    year, cal = drawn
    ats = data.draw(st.lists(instants_of(cal, year), min_size=1, max_size=8))
    shown = data.draw(st.sampled_from([None, "UTC", *DST_ZONES]))
    with no_memo(), zones.shown_in(shown) if shown else nullcontext():
        for at in ats:
            component = data.draw(st.sampled_from(COMPONENTS))
            duration = data.draw(
                st.sampled_from([dt.timedelta(0), dt.timedelta(hours=2), dt.timedelta(hours=30)])
            )
            check(cal, at, component, duration)


@SETTINGS
@given(data=st.data(), drawn=hostile_calendars())
def test_windows_from_hostile_instants_equal_the_windows_merged_for_the_range(data, drawn):
    """Ranges up to and just past INDEX_REACH, from edges and quarter turns, in any offset."""
    year, cal = drawn
    for _ in range(4):
        start = data.draw(instants_of(cal, year))
        length = data.draw(
            st.sampled_from([dt.timedelta(0), MICRO, dt.timedelta(days=8)])
            | st.sampled_from([engine.INDEX_REACH, engine.INDEX_REACH + MICRO])
            | st.integers(1, 60 * 24 * 45).map(lambda m: dt.timedelta(minutes=m))
        )
        component = data.draw(st.sampled_from(COMPONENTS))
        end = start + length
        assert cal.windows(start, end, component) == reference_windows(cal, start, end, component)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), drawn=hostile_calendars())
def test_caches_cleared_while_in_use_give_the_same_answers(data, drawn):
    """INDEXED_QUARTERS, TRACE_BASES and HIT_ENTRIES patched to one or two: every few lookups
    clears a cache another lookup of the same decision has just filled."""
    year, cal = drawn
    ats = data.draw(st.lists(instants_of(cal, year), min_size=2, max_size=4))
    with (
        no_memo(),
        mock.patch.object(engine, "INDEXED_QUARTERS", 1),
        mock.patch.object(engine, "TRACE_BASES", 1),
        mock.patch.object(engine, "HIT_ENTRIES", 1),
    ):
        for at in ats + ats[::-1]:
            for component in ("a", "b"):
                check(cal, at, component)


# --- Examples -----------------------------------------------------------------------------------


def daily(hour, hours, zone="UTC", since=dt.date(2025, 1, 1), until=None, rule="FREQ=DAILY"):
    return Recurrence(rule, dt.time(hour), dt.timedelta(hours=hours), zone, since, until)


def test_a_one_off_freeze_ending_at_the_instant_and_at_a_quarter_turn_is_left_out():
    turn = dt.datetime(2026, 7, 1, tzinfo=UTC)
    cal = WindowCalendar(
        [Policy(1, "all day", daily(22, 4)), Policy(2, "b only", daily(23, 2), frozenset({"b"}))],
        [
            Freeze(7, "to the turn", interval=Interval(turn - dt.timedelta(days=100), turn)),
            Freeze(8, "one microsecond", interval=Interval(turn - MICRO, turn)),
            Freeze(9, "not a", interval=Interval(turn, turn + MICRO), components=frozenset("b")),
            Freeze(7, "same id, whole year", interval=Interval(turn - dt.timedelta(days=200),
                                                               turn + dt.timedelta(days=200))),
        ],
    )  # fmt: skip
    with no_memo():
        for at in (turn - MICRO, turn, turn + MICRO, turn - dt.timedelta(days=100)):
            for component in ("a", "b", "nobody"):
                check(cal, at, component)
                check(cal, at.astimezone(ZoneInfo("Pacific/Kiritimati")), component)
                check(cal, at.astimezone(ZoneInfo("Pacific/Honolulu")), component)
    trace = cal.decide(turn, "a").trace
    assert [(t.id, t.verdict) for t in trace if t.kind == "freeze"] == [(9, "out_of_scope"),
                                                                       (7, "frozen")]  # fmt: skip


def test_chains_longer_than_the_chain_limit_near_a_quarter_turn():
    """Two daily halves chained for 50 days across 1 July, cut by a one-hour weekly freeze,
    and a chain that ends (effective_until) mid-quarter."""
    since, until = dt.date(2026, 6, 1), dt.date(2026, 7, 20)
    cal = WindowCalendar(
        [Policy(1, "am", daily(0, 12, "America/Los_Angeles", since, until)),
         Policy(2, "pm", daily(12, 12, "America/Los_Angeles", since, until)),
         Policy(3, "short", daily(3, 1, "Australia/Lord_Howe"), frozenset({"b"}))],
        [Freeze(4, "weekly", recurrence=daily(6, 1, rule="FREQ=WEEKLY;BYDAY=MO"),
                components=frozenset({"b"}))],
    )  # fmt: skip
    turn = dt.datetime(2026, 7, 1, tzinfo=UTC)
    with no_memo():
        for days in (-40, -36, -35, -3, -1, 0, 1, 3, 19, 20, 21, 36):
            for shift in (dt.timedelta(0), MICRO, -MICRO, dt.timedelta(hours=7)):
                at = turn + dt.timedelta(days=days) + shift
                for component in ("a", "b"):
                    check(cal, at, component)
                    for length in (dt.timedelta(days=1), dt.timedelta(days=40)):
                        expected = reference_windows(cal, at, at + length, component)
                        assert cal.windows(at, at + length, component) == expected


def test_dst_transitions_in_half_hour_and_45_minute_zones():
    """Windows and freezes starting in the hour a clock skips or repeats, asked at each
    transition and either side of it."""
    cal = WindowCalendar(
        [Policy(1, "la", daily(1, 2, "America/Los_Angeles", until=dt.date(2027, 12, 31))),
         Policy(2, "lord howe", daily(1, 2, "Australia/Lord_Howe")),
         Policy(3, "chatham", daily(2, 3, "Pacific/Chatham"), frozenset({"b"}))],
        [Freeze(4, "la night", recurrence=daily(1, 30, "America/Los_Angeles")),
         Freeze(5, "lh", recurrence=daily(2, 1, "Australia/Lord_Howe"), components=frozenset("a"))],
    )  # fmt: skip
    transitions = []
    for name in ("America/Los_Angeles", "Australia/Lord_Howe", "Pacific/Chatham"):
        zone = ZoneInfo(name)
        at = dt.datetime(2026, 1, 1, tzinfo=UTC)
        while at < dt.datetime(2027, 1, 1, tzinfo=UTC):  # hour by hour: find offset changes
            nxt = at + dt.timedelta(hours=1)
            if at.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
                transitions.append(nxt)
            at = nxt
    assert len(transitions) == 6
    with no_memo():
        for turn in transitions:
            for shift in (-1, 0, 1, 30, 60, 90, 150):
                at = turn + dt.timedelta(minutes=shift)
                for component in ("a", "b"):
                    check(cal, at, component, dt.timedelta(hours=shift % 3))


def test_the_engines_extreme_years():
    """Years 3 and 9996 are asked rule by rule; 4 and 9995 are the first and last indexed."""
    cal = WindowCalendar(
        [Policy(1, "daily", Recurrence("FREQ=WEEKLY;BYDAY=WE,TH,FR", dt.time(22),
                                       dt.timedelta(hours=5), "Pacific/Kiritimati",
                                       dt.date(1, 1, 1)))],
        [Freeze(2, "long", recurrence=daily(20, 30, "America/Los_Angeles", dt.date(1, 1, 1))),
         Freeze(3, "forever", interval=Interval(dt.datetime(9995, 11, 1, tzinfo=UTC),
                                                dt.datetime(9999, 12, 31, tzinfo=UTC))),
         Freeze(4, "early", interval=Interval(dt.datetime(3, 12, 30, tzinfo=UTC),
                                              dt.datetime(4, 1, 2, tzinfo=UTC)))],
    )  # fmt: skip
    ats = [FLOOR, FLOOR + MICRO, CEILING - MICRO, CEILING, dt.datetime(1, 1, 2, tzinfo=UTC)]
    for year in (3, 4, 1970, 2199, 9995, 9996):
        for month in (1, 4, 7, 10, 12):
            base = dt.datetime(year, month, 1, tzinfo=UTC)
            ats += [base - MICRO, base, base + dt.timedelta(hours=37)]
    with no_memo():
        for at in ats:
            check(cal, at, "a", dt.timedelta(hours=1))
            end = min(at + dt.timedelta(days=39), dt.datetime(9999, 12, 31, tzinfo=UTC))
            assert cal.windows(at, end, "a") == reference_windows(cal, at, end, "a")


def test_decide_now_with_holds_equals_the_reference():
    start = dt.datetime(2026, 9, 30, 22, tzinfo=UTC)
    cal = WindowCalendar(
        [Policy(1, "daily", daily(21, 4))],
        [Freeze(2, "30 h", recurrence=daily(23, 30, rule="FREQ=WEEKLY;BYDAY=TH,FR"))],
        [Hold(1, "incident", "Major incident.", start, start + dt.timedelta(hours=3)),
         Hold(2, "b only", "B is held.", start, None, frozenset({"b"}))],
    )  # fmt: skip
    with no_memo():
        for minutes in range(-120, 24 * 60, 45):
            at = start + dt.timedelta(minutes=minutes)
            for component in ("a", "b"):
                got = cal.decide_now(at, component, duration=dt.timedelta(minutes=30))
                expected = reference_decide_now(
                    cal, at, component, duration=dt.timedelta(minutes=30)
                )
                assert got == expected


def test_many_components_more_than_the_indexed_quarters():
    """More components than INDEXED_QUARTERS: the index is cleared again and again."""
    rng = random.Random(5)
    components = [f"c{i}" for i in range(12)]
    policies = [
        Policy(i, f"p{i}", daily(rng.randrange(24), rng.randint(1, 5), rng.choice(DST_ZONES)),
               frozenset(rng.sample(components, 3)) if i % 2 else None)
        for i in range(6)
    ]  # fmt: skip
    freezes = []
    for i in range(20):
        start = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(hours=rng.randrange(8760))
        interval = Interval(start, start + dt.timedelta(hours=rng.randint(1, 200)))
        scope = frozenset(rng.sample(components, 4)) if i % 3 else None
        freezes.append(Freeze(100 + i, f"f{i}", interval=interval, components=scope))
    cal = WindowCalendar(policies, freezes)
    ats = [dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=rng.randrange(525600))
           for _ in range(60)]  # fmt: skip
    with no_memo(), mock.patch.object(engine, "INDEXED_QUARTERS", 5):
        for at in ats:
            for component in rng.sample(components, 3):
                check(cal, at, component)
    assert len(cal._index) <= 5


def test_the_same_decisions_in_several_display_zones_are_each_zones_own():
    """The trace entries and window words are kept per zone: asked in turn in five zones (and
    none), twice, each answer is the reference's in that zone."""
    cal = WindowCalendar(
        [Policy(1, "weekly", daily(0, 3, "America/Los_Angeles", rule="FREQ=WEEKLY;BYDAY=WE,TH")),
         Policy(2, "daily", daily(9, 1, "Australia/Lord_Howe"))],
        [Freeze(3, "overlapping", recurrence=daily(8, 30, "Pacific/Chatham",
                                                   rule="FREQ=WEEKLY;BYDAY=TH,FR"))],
    )  # fmt: skip
    ats = [dt.datetime(2026, 12, 2, 9, tzinfo=UTC) + dt.timedelta(hours=h) for h in range(0, 72, 5)]
    shown = [
        None,
        "America/Los_Angeles",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "Asia/Kolkata",
        "UTC",
    ]
    with no_memo():
        for _ in range(2):
            for name in shown:
                with zones.shown_in(name) if name else nullcontext():
                    for at in ats:
                        check(cal, at, "a")
    with zones.shown_in("Asia/Tokyo"):
        tokyo = cal.decide(ats[0], "a").detail
    with zones.shown_in("America/Los_Angeles"):
        assert cal.decide(ats[0], "a").detail != tokyo
        assert "PST" in cal.decide(ats[0], "a").detail


def test_threads_deciding_on_one_calendar_at_once_each_get_the_reference_answer():
    """Four threads, each in its own display zone, ask one calendar (as the gate's process
    does) with its caches patched small, so quarters are filled, traced and cleared under each
    other's feet; decisions are remembered (instants minutes apart) too."""
    rng = random.Random(7)
    policies = []
    for i in range(6):
        days = ",".join(rng.sample(["MO", "WE", "FR", "SA"], 2))
        hours = rng.randint(1, 9)
        rule = f"FREQ=WEEKLY;BYDAY={days}"
        rec = daily(rng.randrange(24), hours, rng.choice(DST_ZONES), dt.date(2026, 1, 1), rule=rule)
        scope = None if i % 2 else frozenset(rng.sample(COMPONENTS, 2))
        policies.append(Policy(i, f"p{i}", rec, scope))
    monthly = daily(2, 20, "UTC", rule="FREQ=MONTHLY;BYMONTHDAY=1")
    freezes = [Freeze(200, "monthly", recurrence=monthly)]
    for i in range(12):
        start = dt.datetime(2026, 3, 1, tzinfo=UTC) + dt.timedelta(hours=rng.randrange(24 * 200))
        interval = Interval(start, start + dt.timedelta(hours=rng.randint(1, 90)))
        scope = None if i % 2 else frozenset(rng.sample(COMPONENTS, 2))
        freezes.append(Freeze(100 + i, f"f{i}", interval=interval, components=scope))
    cal = WindowCalendar(policies, freezes)
    walks = []
    for _ in range(30):
        at = dt.datetime(2026, 3, 25, tzinfo=UTC) + dt.timedelta(
            minutes=rng.randrange(200 * 24 * 60)
        )
        walks += [(at + dt.timedelta(minutes=3 * k), rng.choice(COMPONENTS)) for k in range(3)]
    names = ["UTC", "America/Los_Angeles", "Australia/Lord_Howe", "Pacific/Chatham"]
    expected = {}
    for name in names:
        with zones.shown_in(name):
            expected[name] = [reference_decide(cal, at, c) for at, c in walks]
    failures = []

    def ask(name: str, order: list[int]):
        with zones.shown_in(name):
            for i in order:
                try:
                    if cal.decide(walks[i][0], walks[i][1]) != expected[name][i]:
                        failures.append((name, walks[i]))
                except Exception as exc:
                    failures.append((name, walks[i], repr(exc)))

    interval = sys.getswitchinterval()
    with ExitStack() as stack:
        for name, value in [("INDEXED_QUARTERS", 2), ("TRACE_BASES", 1), ("HIT_ENTRIES", 2)]:
            stack.enter_context(mock.patch.object(engine, name, value))
        sys.setswitchinterval(1e-6)
        try:
            threads = []
            for k, name in enumerate(names):
                order = list(range(len(walks)))
                if k % 2:
                    random.Random(k).shuffle(order)
                threads.append(threading.Thread(target=ask, args=(name, order * 2)))
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            sys.setswitchinterval(interval)
    assert failures == []


# --- Defects found in review ----------------------------------------------------------------------


def test_between_words_each_instant_of_a_repeated_hour_as_its_own():
    """Found in review, fixed (keyed in UTC): between() is lru-cached on (start, end,
    zone). Two aware datetimes with the same ZoneInfo compare (and hash) equal when only
    ``fold`` differs, though they are different instants (01:30 PDT and 01:30 PST, an hour
    apart), so the second was worded as the first."""
    la = ZoneInfo("America/Los_Angeles")
    first = dt.datetime(2026, 11, 1, 1, 30, tzinfo=la)  # PDT, 08:30 UTC
    second = first.replace(fold=1)  # PST, 09:30 UTC
    end = dt.datetime(2026, 11, 1, 11, tzinfo=UTC)
    with zones.shown_in("UTC"):
        words = [between(first, end), between(second, end)]
        assert words == [between(first.astimezone(UTC), end), between(second.astimezone(UTC), end)]


def test_a_remembered_decision_names_the_first_of_overlapping_freeze_occurrences():
    """Found in review, fixed (span_around sees every occurrence covering the instant), older
    than the quarter lookups: a freeze lasting 30 h on Mondays and
    Tuesdays has two occurrences over Tuesday 00:00-06:00, and a trace names the first
    (Monday's). Asked at 07:00 and 07:05 (as a gate follows the clock), the calendar remembers
    the decision for [Tue 00:00, Tue 12:00) — _span takes each rule's span_around, which is the
    *last* occurrence containing the instant, and misses Monday's end at 06:00 — so at 03:00 it
    names Tuesday's occurrence where a fresh decision names Monday's."""
    cal = WindowCalendar(
        [Policy(1, "noon", daily(12, 2))],
        [Freeze(7, "start of week", recurrence=daily(0, 30, rule="FREQ=WEEKLY;BYDAY=MO,TU"))],
    )
    tuesday = dt.datetime(2026, 5, 12, tzinfo=UTC)
    cal.decide(tuesday + dt.timedelta(hours=7), "a")
    cal.decide(tuesday + dt.timedelta(hours=7, minutes=5), "a")
    at = tuesday + dt.timedelta(hours=3)
    assert cal.decide(at, "a") == reference_decide(cal, at, "a")


@pytest.mark.xfail(
    strict=True,
    reason="known, older than the quarter lookups: a week cut from a chain longer than the "
    "chain limit takes its policies' order from the range it was merged for",
)
def test_a_remembered_window_cut_from_a_long_chain_lists_its_policies_as_a_fresh_one():
    """Found in review, known and left (xfail), older than the quarter lookups, cosmetic:
    two daily halves chain for ever, cut into weeks by a one-minute weekly freeze. A week's
    window is shorter than CHAIN_LIMIT, so the memo keeps it, but its ``policies`` come from
    the span merged for the range asked, whose first occurrence differs at 12:00 exactly (the
    morning half ends there, touching) and at 12:05. Remembered at 12:05, the answer at 12:00
    lists (2, 1); a fresh decision lists (1, 2)."""
    cal = WindowCalendar(
        [Policy(1, "am", daily(0, 12, since=dt.date(2026, 1, 1))),
         Policy(2, "pm", daily(12, 12, since=dt.date(2026, 1, 1)))],
        [Freeze(9, "weekly", recurrence=daily(6, 1 / 60, rule="FREQ=WEEKLY;BYDAY=MO"))],
    )  # fmt: skip
    noon = dt.datetime(2026, 5, 13, 12, tzinfo=UTC)
    cal.decide(noon + dt.timedelta(minutes=5), "a")
    cal.decide(noon + dt.timedelta(minutes=6), "a")
    assert cal.decide(noon, "a") == reference_decide(cal, noon, "a")
