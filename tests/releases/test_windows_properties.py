"""Property tests of the window engine over random policies, freezes and instants, 1990–2100.

The oracle below answers "is this instant open?" the slow, obvious way — plain dateutil from the
anchor, no rebasing, no cache, no merging — so the engine is checked against something
independent of its own shortcuts.
"""

import datetime as dt
import itertools

from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from releases.recurrence import Rule
from releases.windows import (
    CHAIN_LIMIT,
    Freeze,
    Interval,
    Policy,
    Recurrence,
    WindowCalendar,
    get_zone,
)

ZONES = [
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Lord_Howe",
    "UTC",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
COMPONENTS = ["a", "b"]
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def rules(draw):
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 3))}")
    if freq == "WEEKLY" and draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
        parts.append("BYDAY=" + ",".join(days))
    if freq == "MONTHLY":
        choice = draw(st.sampled_from(["none", "monthday", "nth"]))
        if choice == "monthday":
            parts.append(f"BYMONTHDAY={draw(st.sampled_from([1, 15, 28, 31, -1]))}")
        elif choice == "nth":
            parts.append(
                f"BYDAY={draw(st.sampled_from(['1', '2', '-1']))}{draw(st.sampled_from(DAYS))}"
            )
    if freq == "YEARLY" and draw(st.booleans()):
        parts.append(f"BYMONTH={draw(st.integers(1, 12))}")
    if freq == "DAILY" and draw(st.booleans()):
        parts.append(
            "BYDAY=" + ",".join(draw(st.lists(st.sampled_from(DAYS), min_size=1, unique=True)))
        )
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    return ";".join(parts)


@st.composite
def recurrences(draw, *, max_hours=30):
    since = draw(st.dates(dt.date(1990, 1, 1), dt.date(2099, 1, 1)))
    rec = Recurrence(
        rule=draw(rules()),
        start_time=dt.time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))),
        duration=dt.timedelta(minutes=draw(st.integers(1, max_hours * 60))),
        zone=draw(st.sampled_from(ZONES)),
        effective_from=since,
        effective_until=draw(st.none() | st.dates(since, dt.date(2100, 12, 31))),
    )
    return rec


@st.composite
def calendars(draw):
    policies = []
    for i in range(draw(st.integers(1, 3))):
        rec = draw(recurrences())
        assume(rec.validate() == {})
        scope = draw(st.none() | st.frozensets(st.sampled_from(COMPONENTS), min_size=1))
        policies.append(Policy(i + 1, f"p{i + 1}", rec, scope))
    freezes = []
    for i in range(draw(st.integers(0, 3))):
        scope = draw(st.none() | st.frozensets(st.sampled_from(COMPONENTS), min_size=1))
        if draw(st.booleans()):
            start = draw(instants())
            length = dt.timedelta(minutes=draw(st.integers(1, 60 * 24 * 20)))
            freezes.append(
                Freeze(100 + i, f"f{i}", interval=Interval(start, start + length), components=scope)
            )
        else:
            rec = draw(recurrences(max_hours=48))
            assume(rec.validate(max_duration_vs_gap=False) == {})
            freezes.append(Freeze(100 + i, f"f{i}", recurrence=rec, components=scope))
    return WindowCalendar(policies, freezes)


def instants():
    return st.datetimes(
        dt.datetime(1990, 1, 1), dt.datetime(2100, 12, 31), timezones=st.just(dt.UTC)
    )


def oracle_occurrence_contains(rec: Recurrence, at: dt.datetime) -> bool:
    """Does some occurrence of ``rec`` contain ``at``? Plain dateutil iteration from the anchor."""
    zone = get_zone(rec.zone)
    local = at.astimezone(zone)
    first = dt.datetime.combine(local.date() - rec.duration - dt.timedelta(days=2), dt.time())
    last = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time())
    rule = rrulestr(
        Rule(rec.rule, rec.effective_from).text,
        dtstart=dt.datetime.combine(rec.effective_from, dt.time()),
    )
    for day in rule.between(first, last, inc=True):
        if rec.effective_until and day.date() > rec.effective_until:
            continue
        start = dt.datetime.combine(day.date(), rec.start_time, tzinfo=zone).astimezone(dt.UTC)
        if start <= at < start + rec.duration:
            return True
    return False


def oracle_open(cal: WindowCalendar, at: dt.datetime, component: str) -> bool:
    opened = any(
        p.applies_to(component) and oracle_occurrence_contains(p.recurrence, at)
        for p in cal.policies
    )
    frozen = any(
        f.applies_to(component)
        and (at in f.interval if f.interval else oracle_occurrence_contains(f.recurrence, at))
        for f in cal.freezes
    )
    return opened and not frozen


@PROPERTY_SETTINGS
@given(cal=calendars(), at=instants(), component=st.sampled_from(COMPONENTS))
def test_decision_agrees_with_the_brute_force_oracle(cal, at, component):
    assert cal.decide(at, component).allowed == oracle_open(cal, at, component)


@PROPERTY_SETTINGS
@given(
    cal=calendars(), at=instants(), span=st.integers(1, 60), component=st.sampled_from(COMPONENTS)
)
def test_windows_are_sorted_disjoint_and_agree_with_decisions(cal, at, span, component):
    found = cal.windows(at, at + dt.timedelta(days=span), component)
    for before, after in itertools.pairwise(found):
        assert before.start < before.end < after.start < after.end
    for window in found:
        assert cal.decide(window.start, component).allowed
        middle = window.start + (window.end - window.start) / 2
        assert cal.decide(middle, component).allowed
        if window.length < CHAIN_LIMIT:  # longer ones are reported cut (see _merged)
            assert not cal.decide(window.end, component).allowed

    # Instants between two windows are denied.
    for before, after in itertools.pairwise(found):
        assert not cal.decide(before.end + (after.start - before.end) / 2, component).allowed


@PROPERTY_SETTINGS
@given(cal=calendars(), at=instants(), component=st.sampled_from(COMPONENTS))
def test_an_instant_inside_an_applicable_freeze_is_denied(cal, at, component):
    frozen = [
        f
        for f in cal.freezes
        if f.applies_to(component) and f.occurrences(at, at + dt.timedelta(microseconds=1))
    ]
    if frozen:
        decision = cal.decide(at, component)
        assert not decision.allowed
        assert decision.window is None


@PROPERTY_SETTINGS
@given(cal=calendars(), at=instants(), component=st.sampled_from(COMPONENTS))
def test_next_opening_is_after_the_instant_and_nothing_opens_in_between(cal, at, component):
    upcoming = cal.next_window(at, component)
    if upcoming is None:
        return
    assert upcoming.start > at
    assert cal.decide(upcoming.start, component).allowed
    between = cal.windows(at, upcoming.start, component)
    assert all(w.start <= at for w in between)


@settings(max_examples=150, deadline=None)
@given(
    rule=rules(),
    anchor=st.dates(dt.date(1990, 1, 1), dt.date(2090, 1, 1)),
    offset=st.integers(0, 12),
)
def test_rebased_years_equal_plain_iteration_from_the_anchor(rule, anchor, offset):
    compiled = Rule(rule, anchor)
    year = anchor.year + offset
    plain = rrulestr(compiled.text, dtstart=dt.datetime.combine(anchor, dt.time()))
    expected = tuple(
        d.date()
        for d in plain.between(dt.datetime(year, 1, 1), dt.datetime(year, 12, 31), inc=True)
    )
    assert compiled.dates_in_year(year) == expected


# --- The engine at the edges of what a datetime can hold ------------------------------------------

ANY_INSTANT = st.datetimes(
    dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)
)


@st.composite
def extreme_calendars(draw):
    """Rules and freezes that a row stored before any limit existed might hold."""
    since = draw(st.sampled_from([dt.date(1, 1, 1), dt.date(1970, 1, 1), dt.date(9998, 6, 1)]))
    rec = Recurrence(
        rule=draw(st.sampled_from(["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=WE,TH,FR", "FREQ=YEARLY"])),
        start_time=dt.time(draw(st.integers(0, 23))),
        duration=dt.timedelta(minutes=draw(st.integers(1, 600))),
        zone=draw(st.sampled_from(["America/Los_Angeles", "Pacific/Kiritimati", "UTC"])),
        effective_from=since,
        effective_until=draw(st.none() | st.just(dt.date(9999, 12, 31))),
    )
    start = draw(ANY_INSTANT)
    end = draw(st.sampled_from([dt.datetime(9999, 12, 31, tzinfo=dt.UTC), start + TINY]))
    freezes = [Freeze(9, "forever", interval=Interval(start, max(end, start + TINY)))]
    return WindowCalendar([Policy(1, "p", rec)], freezes)


TINY = dt.timedelta(seconds=1)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(cal=extreme_calendars(), at=ANY_INSTANT, span=st.integers(0, 10**6))
def test_the_engine_never_overflows_whatever_it_is_given(cal, at, span):
    later = at + min(dt.timedelta(days=span), dt.datetime(9999, 12, 31, tzinfo=dt.UTC) - at)
    cal.windows(at, later, "a")
    decision = cal.decide(at, "a", duration=dt.timedelta(days=span))
    assert decision.reason in {"in_window", "outside_window", "frozen", "does_not_fit"}
    cal.window_at(at, "a")
    cal.next_window(at, "a", min_length=dt.timedelta(hours=span % 30))


@st.composite
def year_edges(draw):
    """Instants near a year's turn (where a year's spans meet the next's) or anywhere."""
    year = draw(st.integers(1990, 2099))
    turn = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    near = turn + dt.timedelta(minutes=draw(st.integers(-60 * 24 * 50, 60 * 24 * 50)))
    return draw(st.sampled_from([near, turn])) if draw(st.booleans()) else draw(instants())


@st.composite
def chaining_calendars(draw):
    """Also policies that chain into windows longer than the chain limit (daily, end to end),
    which the per-year spans must not report whole."""
    cal = draw(calendars())
    if draw(st.booleans()):
        zone = draw(st.sampled_from(ZONES))
        since = draw(st.dates(dt.date(1990, 1, 1), dt.date(2099, 1, 1)))
        halves = [
            Recurrence("FREQ=DAILY", dt.time(hour), dt.timedelta(hours=12), zone, since)
            for hour in (0, 12)
        ]
        extra = [Policy(10 + i, f"chain{i}", rec) for i, rec in enumerate(halves)]
        cal = WindowCalendar([*cal.policies, *extra], cal.freezes)
    return cal


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cal=chaining_calendars(),
    at=year_edges(),
    minutes=st.integers(0, 60 * 24 * 45),
    component=st.sampled_from(COMPONENTS),
)
def test_windows_looked_up_in_a_years_spans_equal_windows_merged_for_the_range(
    cal, at, minutes, component
):
    """windows() answers short ranges from the component's merged spans of the year; that must
    be exactly what merging the occurrences around the range gives (the reference path, taken
    when the index is off), ranges across a year's turn and long chains included."""
    from unittest import mock

    from releases import windows as engine

    end = at + dt.timedelta(minutes=minutes)
    indexed = cal.windows(at, end, component)
    reference = WindowCalendar(cal.policies, cal.freezes)
    with mock.patch.object(engine, "INDEX_REACH", dt.timedelta(-1)):  # never the index
        assert reference.windows(at, end, component) == indexed


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rec=recurrences(max_hours=48), at=year_edges())
def test_the_occurrence_at_an_instant_is_the_first_overlapping_it(rec, at):
    """A trace asks each rule for the occurrence containing the instant by bisecting the
    year's ends; it must be the first the range search finds, across a year's turn, and for
    freezes whose occurrences overlap (a daily freeze may last 30 hours)."""
    assume(rec.validate(max_duration_vs_gap=False) == {})
    overlapping = rec.occurrences(at, at + dt.timedelta(microseconds=1))
    assert rec.occurrence_at(at) == (overlapping[0] if overlapping else None)


def test_of_two_overlapping_freeze_occurrences_the_first_is_named():
    daily = Recurrence("FREQ=DAILY", dt.time(0), dt.timedelta(hours=30), "UTC", dt.date(2026, 1, 1))
    at = dt.datetime(2026, 12, 31, 3, tzinfo=dt.UTC)  # in the 30th's and the 31st's
    assert len(daily.occurrences(at, at + dt.timedelta(microseconds=1))) == 2
    assert daily.occurrence_at(at).start == dt.datetime(2026, 12, 30, tzinfo=dt.UTC)
    turn = dt.datetime(2027, 1, 1, 3, tzinfo=dt.UTC)  # the 31st's, from the year before
    assert daily.occurrence_at(turn).start == dt.datetime(2026, 12, 31, tzinfo=dt.UTC)


@st.composite
def quarter_edges(draw):
    """Instants near a quarter's turn (where one quarter's lookups meet the next's), given with
    an offset of either sign (a quarter is chosen by the instant's own fields), or anywhere."""
    year = draw(st.integers(1990, 2099))
    turn = dt.datetime(year, draw(st.sampled_from([1, 4, 7, 10])), 1, tzinfo=dt.UTC)
    near = turn + dt.timedelta(minutes=draw(st.integers(-60 * 24 * 4, 60 * 24 * 4)))
    at = draw(st.sampled_from([near, turn])) if draw(st.booleans()) else draw(instants())
    return at.astimezone(get_zone(draw(st.sampled_from(["UTC", "Pacific/Kiritimati", *ZONES]))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cal=chaining_calendars(),
    ats=st.lists(quarter_edges(), min_size=1, max_size=6),
    component=st.sampled_from(COMPONENTS),
    shown=st.sampled_from(["UTC", "Asia/Kolkata", "America/Los_Angeles"]),
)
def test_decisions_looked_up_in_a_quarter_equal_decisions_searched_rule_by_rule(
    cal, ats, component, shown
):
    """A decision looks its windows and its trace up in the quarter's sorted pieces (made once,
    with the trace entries that are the same at every instant); it must be exactly the decision
    the range search and a rule-by-rule trace give — every entry, in the calendar's order, one-off
    freezes left out once over, the first of overlapping freeze occurrences named — for several
    instants asked of one calendar in turn (the lookups are kept between them)."""
    from unittest import mock

    from lib import zones
    from releases.windows import _frozen_by

    reference = WindowCalendar(cal.policies, cal.freezes)
    with zones.shown_in(shown):
        for at in ats:
            trace, frozen_by = cal._traced(at, component)
            by_rule = cal._trace(at, component)
            assert trace == tuple(by_rule)
            assert frozen_by == _frozen_by(by_rule)
            with mock.patch.object(WindowCalendar, "_quarter", return_value=None):
                expected = reference.decide(at, component)
            assert cal.decide(at, component) == expected


def test_a_trace_leaves_one_off_freezes_out_once_over_and_names_what_is_open_or_frozen():
    """The same instants asked in and out of order: what a trace holds follows the instant,
    not what was asked before (the traces for each count of freezes over are kept)."""
    weekly = Recurrence("FREQ=WEEKLY;BYDAY=WE", dt.time(0), dt.timedelta(hours=3), "UTC",
                        dt.date(2026, 1, 1))  # fmt: skip
    first = Interval(dt.datetime(2026, 12, 2, 1, tzinfo=dt.UTC),
                     dt.datetime(2026, 12, 2, 2, tzinfo=dt.UTC))  # fmt: skip
    later = Interval(dt.datetime(2026, 12, 9, tzinfo=dt.UTC),
                     dt.datetime(2026, 12, 10, tzinfo=dt.UTC))  # fmt: skip
    cal = WindowCalendar(
        [Policy(1, "weekly", weekly)],
        [Freeze(7, "other team", interval=first, components=frozenset({"b"})),
         Freeze(8, "year end", interval=later)],
    )  # fmt: skip

    def said(at):
        return [(t.id, t.verdict) for t in cal.decide(at, "a").trace]

    open_at = dt.datetime(2026, 12, 2, 1, 30, tzinfo=dt.UTC)
    after_first = dt.datetime(2026, 12, 2, 2, 30, tzinfo=dt.UTC)
    frozen_at = dt.datetime(2026, 12, 9, 1, tzinfo=dt.UTC)
    after_both = dt.datetime(2026, 12, 16, 1, tzinfo=dt.UTC)
    for _ in range(2):
        assert said(after_both) == [(1, "open")]
        assert said(frozen_at) == [(1, "open"), (8, "frozen")]
        assert cal.decide(frozen_at, "a").reason == "frozen"
        assert said(after_first) == [(1, "open"), (8, "clear")]
        assert said(open_at) == [(1, "open"), (7, "out_of_scope"), (8, "clear")]


def test_freezes_over_an_open_instant_each_named_by_first_occurrence_the_refusal_by_first():
    daily = Recurrence("FREQ=DAILY", dt.time(0), dt.timedelta(hours=20), "UTC", dt.date(2026, 1, 1))
    long = Recurrence("FREQ=DAILY", dt.time(0), dt.timedelta(hours=30), "UTC", dt.date(2026, 1, 1))
    day = Interval(
        dt.datetime(2026, 12, 31, tzinfo=dt.UTC), dt.datetime(2026, 12, 31, 6, tzinfo=dt.UTC)
    )
    cal = WindowCalendar(
        [Policy(1, "daily", daily)],
        [Freeze(7, "overlapping", recurrence=long), Freeze(8, "one day", interval=day)],
    )
    at = dt.datetime(
        2026, 12, 31, 3, tzinfo=dt.UTC
    )  # in both freezes, and in the 30th's and 31st's
    decision = cal.decide(at, "a")
    assert [(t.id, t.verdict, t.occurrence.start.day) for t in decision.trace] == [
        (1, "open", 31),
        (7, "frozen", 30),
        (8, "frozen", 31),
    ]
    assert decision.reason == "frozen"
    assert "inside a freeze: overlapping." in decision.detail


def test_an_instant_given_with_an_offset_that_puts_it_in_another_quarter_is_traced_right():
    """The public methods turn an instant to UTC first; the quarter's lookups are right for an
    instant given with any offset all the same (a quarter is chosen by the instant's own fields:
    05:00 on 1 April at +14:00 is still 31 March in UTC, 15:00 on 31 March at -10:00 is already
    1 April)."""
    rec = Recurrence("FREQ=DAILY", dt.time(0), dt.timedelta(hours=2), "UTC", dt.date(2026, 1, 1))
    afternoon = Recurrence(
        "FREQ=DAILY", dt.time(14), dt.timedelta(hours=2), "UTC", dt.date(2026, 1, 1)
    )
    cal = WindowCalendar([Policy(1, "night", rec), Policy(2, "afternoon", afternoon)])
    ahead = dt.datetime(2026, 3, 31, 15, tzinfo=dt.UTC).astimezone(get_zone("Pacific/Kiritimati"))
    behind = dt.datetime(2026, 4, 1, 1, tzinfo=dt.UTC).astimezone(get_zone("Pacific/Honolulu"))
    assert (ahead.month, behind.month) == (4, 3)
    for at, open_id in [(ahead, 2), (behind, 1)]:
        decision = cal.decide(at, "a")
        assert decision.allowed
        assert [t.id for t in decision.trace if t.verdict == "open"] == [open_id]
        trace, _ = cal._traced(at, "a")
        assert [t.id for t in trace if t.verdict == "open"] == [open_id]


def test_a_quarter_with_too_many_overlapping_rules_to_index_is_traced_rule_by_rule():
    """Long rules overlapping by the hundred would make a quarter's trace lookup huge: past
    STAB_ENTRIES the quarter's traces are made rule by rule, and say exactly the same."""
    from unittest import mock

    from releases import windows as engine

    daily = Recurrence("FREQ=DAILY", dt.time(0), dt.timedelta(hours=20), "UTC", dt.date(2026, 1, 1))
    year = [
        Freeze(100 + i, f"long {i}", interval=Interval(
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=i),
            dt.datetime(2027, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=i)))
        for i in range(5)
    ]  # fmt: skip
    ats = [dt.datetime(2026, 5, d, h, tzinfo=dt.UTC) for d in (1, 9, 20) for h in (3, 21)]
    indexed = WindowCalendar([Policy(1, "daily", daily)], year)
    with mock.patch.object(engine, "STAB_ENTRIES", 10):
        capped = WindowCalendar([Policy(1, "daily", daily)], year)
        decided = [capped.decide(at, "a") for at in ats]
        assert capped._quarter("a", ats[0]).points == []  # not indexed
    assert decided == [indexed.decide(at, "a") for at in ats]
    assert indexed._quarter("a", ats[0]).points  # indexed
    assert {d.reason for d in decided} == {"frozen", "outside_window"}
