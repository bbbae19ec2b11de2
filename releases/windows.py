"""The release-window engine: when may a component ship? Pure Python over plain values.

Policies open windows; freezes close whatever part of a window they overlap. Windows of several
policies that overlap or touch merge into one. Every instant is an aware UTC ``datetime``.

Time semantics (RFC 5545, section 3.3.5): a window starts at the policy's local start time on
each date its rule yields, in the policy's IANA zone. A local time that does not exist (the
spring-forward gap) moves forward by the length of the gap; a local time that occurs twice
(fall back) means the first occurrence. Both are what ``zoneinfo`` does with ``fold=0``. The
duration is elapsed time, so a three-hour window lasts three hours even across a DST change.

The models adapt to these values (``releases.models``); nothing here imports Django.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lib import zones
from lib.zones import iso_utc  # noqa: F401 - the engine's instants, as the API writes them

from .recurrence import InvalidRule, Rule

UTC = dt.UTC
# The instants Nightshift accepts anywhere (API, admin forms, models): [EARLIEST, LATEST).
# Inputs outside are refused at every boundary with these words (see ``range_error``).
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=UTC)
# The engine itself works inside a wider span and saturates at its edges, so that whatever it
# is given (a stored row from before the range existed, say) it never overflows a datetime.
FLOOR = dt.datetime(3, 1, 1, tzinfo=UTC)
CEILING = dt.datetime(9997, 1, 1, tzinfo=UTC)
# How far ahead the next opening is looked for; a rule with no window in five years is off.
HORIZON = dt.timedelta(days=5 * 366)
# How far beyond a range windows that chain into it are followed (see _merged).
CHAIN_LIMIT = dt.timedelta(days=35)
# Windows that touch merge, so a search must also see occurrences that only touch its range.
TOUCH = dt.timedelta(microseconds=1)
# How far ahead decide() looks at once: a week and a day covers every weekly rule.
LOOKAHEAD = dt.timedelta(days=8)
# Decisions, and windows() over ranges up to INDEX_REACH long, look up what they need in the
# component's lookups for the quarter the instant (or range) starts in: windows merged once,
# reaching INDEX_REACH beyond the quarter, and the occurrences covering each instant of it, both
# INDEX_SLACK either side (the engine's instants are UTC; the slack keeps a quarter right for an
# instant given with an offset). A calendar keeps at most INDEXED_QUARTERS (~250 KB each for 50
# policies and 200 freezes; STAB_ENTRIES bounds the traces' part).
INDEX_REACH = dt.timedelta(days=40)
INDEX_SLACK = dt.timedelta(days=2)
INDEXED_QUARTERS = 128
# Occurrences compared when checking a duration against the gaps of its rule.
GAP_SAMPLE_YEARS = 8


class Reason:
    """Reason codes of a decision; stable, part of the API."""

    IN_WINDOW = "in_window"
    OUTSIDE_WINDOW = "outside_window"
    FROZEN = "frozen"
    NO_POLICY = "no_policy"
    DOES_NOT_FIT = "does_not_fit"


@lru_cache(maxsize=512)
def get_zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; raises ValueError naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"'{name}' is not an IANA time zone (for example America/Los_Angeles)"
        ) from None


def require_aware(value: dt.datetime, name: str = "instant") -> dt.datetime:
    """Return ``value`` in UTC (within the engine's span); a naive datetime is a ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must carry a UTC offset or zone, got naive {value.isoformat()}")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # within a day of datetime's own limits
        return FLOOR if value.year < 2 else CEILING
    return clamp(value)


def clamp(instant: dt.datetime) -> dt.datetime:
    """The instant, or the engine's floor or ceiling if it lies beyond."""
    return min(max(instant, FLOOR), CEILING)


def plus(instant: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """``instant + delta``, saturating at the engine's ceiling (or floor) instead of overflowing."""
    if delta >= dt.timedelta(0):
        return instant + delta if CEILING - instant > delta else CEILING
    return instant + delta if instant - FLOOR > -delta else FLOOR


def minus(instant: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """``instant - delta``, saturating likewise."""
    return plus(instant, -delta)


def range_error(instant: dt.datetime | dt.date) -> str | None:
    """Why an instant (or a date) is outside the supported range, in words; None if inside."""
    if isinstance(instant, dt.datetime):
        if instant.tzinfo is not None and EARLIEST <= instant < LATEST:
            return None
    elif EARLIEST.date() <= instant < LATEST.date():
        return None
    return (
        f"Nightshift supports dates from {EARLIEST.date().isoformat()} up to "
        f"{(LATEST - dt.timedelta(days=1)).date().isoformat()}"
        f"; {instant.isoformat()} is outside."
    )


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open span of time [start, end) in UTC."""

    start: dt.datetime
    end: dt.datetime

    def __contains__(self, instant: dt.datetime) -> bool:
        return self.start <= instant < self.end

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Recurrence:
    """Occurrences of ``duration`` starting at ``start_time`` (local) on each date ``rule`` yields.

    ``effective_from`` and ``effective_until`` are local dates, both inclusive; the first is the
    rule's anchor (RFC 5545's DTSTART), which sets the phase of an INTERVAL greater than one.
    """

    rule: str
    start_time: dt.time
    duration: dt.timedelta
    zone: str
    effective_from: dt.date
    effective_until: dt.date | None = None

    @cached_property
    def _rule(self) -> Rule:
        return Rule(self.rule, self.effective_from)

    @cached_property
    def _tz(self) -> ZoneInfo:
        return get_zone(self.zone)

    def validate(self, *, max_duration_vs_gap: bool = True) -> dict[str, str]:
        """Errors by field name; empty when the recurrence is usable."""
        errors: dict[str, str] = {}
        try:
            self._rule  # noqa: B018 - parsing is the check
        except InvalidRule as exc:
            errors["rule"] = f"Invalid RRULE: {exc}."
        try:
            self._tz  # noqa: B018
        except ValueError as exc:
            errors["zone"] = f"{exc}."
        if self.duration <= dt.timedelta(0):
            errors["duration"] = "The duration must be longer than zero."
        if self.effective_until is not None and self.effective_until < self.effective_from:
            errors["effective_until"] = "'Effective until' is before 'effective from'."
        if errors:
            return errors
        starts = self._sample_starts()
        if not starts:
            errors["rule"] = (
                f"The rule yields no date in the {GAP_SAMPLE_YEARS} years after "
                f"{self.effective_from.isoformat()}."
            )
        elif max_duration_vs_gap and len(starts) > 1:
            gap = min(b - a for a, b in itertools.pairwise(starts))
            if self.duration >= gap:
                errors["duration"] = (
                    f"The duration ({lasting(self.duration)}) must be shorter than the shortest "
                    f"gap between two occurrences ({lasting(gap)}), or windows would overlap."
                )
        return errors

    @property
    def normalized_rule(self) -> str:
        """The rule as parsed: upper-case parts, no "RRULE:" prefix."""
        return self._rule.text

    def first_start(self) -> dt.datetime | None:
        """The first occurrence's local start (aware, in the zone), within the sample years."""
        for year in range(self.effective_from.year, self.effective_from.year + GAP_SAMPLE_YEARS):
            dates = self._rule.dates_in_year(year)
            if dates:
                return dt.datetime.combine(dates[0], self.start_time, tzinfo=self._tz)
        return None

    def _sample_starts(self) -> list[dt.datetime]:
        year = self.effective_from.year
        starts: list[dt.datetime] = []
        for y in range(year, year + GAP_SAMPLE_YEARS):
            starts.extend(o.start for o in self._year(y))
        return starts

    def occurrences(self, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        """Occurrences overlapping [start, end), whole (not clipped), in order."""
        tz = self._tz
        first_year = max(FLOOR.year, minus(start, self.duration).astimezone(tz).year)
        last_year = min(CEILING.year, end.astimezone(tz).year)
        found: list[Interval] = []
        for year in range(first_year, last_year + 1):
            items = self._year(year)
            # Occurrences of one policy never overlap, so starts and ends are both sorted.
            lo = bisect.bisect_right(items, start, key=_end)
            hi = bisect.bisect_left(items, end, key=_start)
            found.extend(items[lo:hi])
        return found

    def occurrence_at(self, at: dt.datetime) -> Interval | None:
        """The first occurrence containing ``at``, or None: ``occurrences(at, at + 1 µs)[0]``,
        found by bisecting each year's ends (a decision's trace asks it of every rule). A
        freeze's occurrences may overlap; they all last as long, so ends are sorted too."""
        tz = self._tz
        first_year = max(FLOOR.year, minus(at, self.duration).astimezone(tz).year)
        for year in range(first_year, min(CEILING.year, at.astimezone(tz).year) + 1):
            ends, items = _ends_in_year(self, year)
            i = bisect.bisect_right(ends, at)  # the first occurrence still going on at `at`
            if i < len(items):
                return items[i] if items[i].start <= at else None
        return None

    def _year(self, year: int) -> tuple[Interval, ...]:
        return _occurrences_in_year(self, year)

    def span_around(self, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The span around ``at`` in which the same occurrences (or none) hold each instant: no
        occurrence starts or ends inside it (a freeze's may overlap). Looked for in the years
        around ``at`` only; the span is cut there (a shorter span is always safe)."""
        year = at.astimezone(self._tz).year
        items = [o for y in (year - 1, year, year + 1) for o in self._year(y)]
        lo = dt.datetime(max(FLOOR.year, year - 1), 1, 1, tzinfo=UTC)
        hi = dt.datetime(min(CEILING.year, year + 1), 12, 31, tzinfo=UTC)
        # All occurrences last as long: starts and ends are both sorted.
        i = bisect.bisect_right(items, at, key=_start)  # items[:i] have started by `at`
        j = bisect.bisect_right(items, at, key=_end)  # items[:j] have ended by `at`
        if i:
            lo = max(lo, items[i - 1].start)
        if j:
            lo = max(lo, items[j - 1].end)
        if i < len(items):
            hi = min(hi, items[i].start)
        if j < len(items):
            hi = min(hi, items[j].end)
        return lo, hi

    def to_utc(self, day: dt.date) -> dt.datetime:
        """The instant this recurrence starts on a local date (fold=0: see module doc)."""
        return dt.datetime.combine(day, self.start_time, tzinfo=self._tz).astimezone(UTC)


def _start(interval: Interval) -> dt.datetime:
    return interval.start


def _end(interval: Interval) -> dt.datetime:
    return interval.end


@lru_cache(maxsize=16384)
def _ends_in_year(rec: Recurrence, year: int) -> tuple[list[dt.datetime], tuple[Interval, ...]]:
    items = _occurrences_in_year(rec, year)
    return [o.end for o in items], items


@lru_cache(maxsize=16384)
def _occurrences_in_year(rec: Recurrence, year: int) -> tuple[Interval, ...]:
    if year < FLOOR.year or year > CEILING.year:
        return ()
    until = rec.effective_until
    out = []
    for day in rec._rule.dates_in_year(year):
        if until is not None and day > until:
            break
        begin = rec.to_utc(day)
        out.append(Interval(begin, plus(begin, rec.duration)))
    return tuple(out)


def lasting(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"]
    return " ".join(p for p in parts if not p.startswith("0 ")) or "0 min"


@dataclass(frozen=True, slots=True)
class Policy:
    """Opens a window at each occurrence of its recurrence, for all or some components."""

    id: int | str
    name: str
    recurrence: Recurrence
    components: frozenset[str] | None = None  # None: every component
    version: int | None = None  # which edit of the rule this is (a trace names it)

    def applies_to(self, component: str) -> bool:
        return self.components is None or component in self.components


@dataclass(frozen=True, slots=True)
class Freeze:
    """Closes windows: once over ``interval`` or at each occurrence of ``recurrence``."""

    id: int | str
    reason: str
    interval: Interval | None = None
    recurrence: Recurrence | None = None
    components: frozenset[str] | None = None
    version: int | None = None

    def __post_init__(self) -> None:
        if (self.interval is None) == (self.recurrence is None):
            raise ValueError("a freeze is either one-off (interval) or recurring (recurrence)")

    def applies_to(self, component: str) -> bool:
        return self.components is None or component in self.components

    def occurrences(self, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        if self.interval is not None:
            return [self.interval] if self.interval.overlaps(start, end) else []
        assert self.recurrence is not None
        return self.recurrence.occurrences(start, end)

    def occurrence_at(self, at: dt.datetime) -> Interval | None:
        if self.interval is not None:
            return self.interval if at in self.interval else None
        assert self.recurrence is not None
        return self.recurrence.occurrence_at(at)


@dataclass(frozen=True, slots=True)
class Hold:
    """Stops regular releases from *starting* while it lasts, without closing any window.

    Unlike a freeze it is about now, not the calendar: a major outage holds releases until it
    is resolved, whenever that is, so scheduling into a later window stays possible. The gate
    and the start guard consult holds; ``decide`` (which scheduling uses) does not.
    """

    id: int | str
    code: str  # the reason code the gate and the start guard answer with
    detail: str
    start: dt.datetime
    end: dt.datetime | None = None  # None: until it is lifted
    components: frozenset[str] | None = None

    def applies(self, at: dt.datetime, component: str) -> bool:
        in_scope = self.components is None or component in self.components
        return in_scope and self.start <= at and (self.end is None or at < self.end)


@dataclass(frozen=True, slots=True)
class Window:
    """An open span for a component, and the policies whose occurrences make it up."""

    start: dt.datetime
    end: dt.datetime
    policies: tuple[int | str, ...]

    def __contains__(self, instant: dt.datetime) -> bool:
        return self.start <= instant < self.end

    @property
    def length(self) -> dt.timedelta:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """What one policy or freeze said about an instant."""

    kind: str  # "policy" | "freeze"
    id: int | str
    name: str
    verdict: str  # policy: open | closed | out_of_scope; freeze: frozen | clear | out_of_scope
    detail: str
    occurrence: Interval | None = None
    version: int | None = None  # the rule's version the verdict was reached by


@dataclass(frozen=True, slots=True)
class Decision:
    """Allow or deny, why in a code and a sentence, and the windows around the instant."""

    allowed: bool
    reason: str
    detail: str
    at: dt.datetime
    component: str
    window: Window | None
    next_window: Window | None
    trace: tuple[TraceEntry, ...] = field(default=())


class WindowCalendar:
    """The windows of every component, from a set of policies and freezes.

    Build one per set of rules (it keeps per-component lookups); every method takes the instant.
    """

    def __init__(
        self,
        policies: Iterable[Policy],
        freezes: Iterable[Freeze] = (),
        holds: Iterable[Hold] = (),
    ):
        self.policies = tuple(policies)
        self.freezes = tuple(freezes)
        self.holds = tuple(holds)
        self._scoped: dict[str, _Scoped] = {}
        # (component, year, quarter) -> its windows and occurrences, see _quarter
        self._index: dict[tuple[str, int, int], _Quarter] = {}
        # One-off freezes by end (a trace leaves them out once over): ends, and their slots
        order = sorted(
            (f.interval.end, slot)
            for slot, f in enumerate(self.freezes, start=len(self.policies))
            if f.interval is not None
        )
        self._one_off_ends = [end for end, _ in order]
        self._one_off_slots = [slot for _, slot in order]
        # (slot, occurrence's start, zone) -> the trace entry of a rule open or frozen then
        self._hit_entries: dict[tuple, TraceEntry] = {}
        # (component, zone) -> sorted [(start, end, decision, detail after "when(at)")]
        self._memo: dict[tuple[str, str], list] = {}
        self._last_asked: dict[tuple[str, str], dt.datetime] = {}

    def holds_at(self, at: dt.datetime, component: str) -> list[Hold]:
        """The holds stopping ``component``'s regular releases from starting at ``at``."""
        return [hold for hold in self.holds if hold.applies(at, component)]

    def decide_now(
        self, at: dt.datetime, component: str, *, duration: dt.timedelta = dt.timedelta(0)
    ) -> Decision:
        """``decide``, then the holds: the gate's question, "may it ship at this instant?"."""
        decision = self.decide(at, component, duration=duration)
        held = self.holds_at(decision.at, component)
        if not held:
            return decision
        detail = " ".join(hold.detail for hold in held)
        if not decision.allowed:
            detail += " " + decision.detail
        trace = (
            *decision.trace,
            *(TraceEntry("hold", h.id, h.code, "held", h.detail) for h in held),
        )
        return replace(decision, allowed=False, reason=held[0].code, detail=detail, trace=trace)

    def _for(self, component: str) -> _Scoped:
        scoped = self._scoped.get(component)
        if scoped is None:
            outside = f"Does not apply to '{component}'."
            quiet = {"policy": ("closed", _CLOSED), "freeze": ("clear", _CLEAR)}
            slots = tuple(
                (kind, rule, _entry(kind, rule, *quiet[kind], None) if rule.applies_to(component)
                 else _entry(kind, rule, "out_of_scope", outside, None))
                for kind, rules in (("policy", self.policies), ("freeze", self.freezes))
                for rule in rules
            )  # fmt: skip
            scoped = _Scoped(
                tuple(p for p in self.policies if p.applies_to(component)),
                tuple(f for f in self.freezes if f.applies_to(component)),
                slots,
            )
            self._scoped[component] = scoped
        return scoped

    def windows(self, start: dt.datetime, end: dt.datetime, component: str) -> list[Window]:
        """Open windows overlapping [start, end), sorted, disjoint and whole (not clipped)."""
        start, end = require_aware(start, "start"), require_aware(end, "end")
        if end <= start:
            return []
        scoped = self._for(component)
        if not scoped.policies:
            return []
        quarter = self._quarter(component, start) if end - start <= INDEX_REACH else None
        if quarter is None:
            merged = self._merged(scoped.policies, start, end)
        else:
            self._fill(quarter, scoped)
            if not quarter.long:  # every window of the quarter, cut by freezes: a lookup
                i = bisect.bisect_right(quarter.piece_ends, start)
                return quarter.pieces[i : bisect.bisect_left(quarter.piece_starts, end, lo=i)]
            i = j = bisect.bisect_right(quarter.ends, start)  # the first span ending after start
            while j < len(quarter.spans) and quarter.spans[j][0] < end:
                j += 1
            merged = quarter.spans[i:j]
            if any(e - s >= CHAIN_LIMIT for s, e, _ in merged):
                # A window chained longer than the limit is reported cut relative to the
                # range asked: merged for the range.
                merged = self._merged(scoped.policies, start, end)
        return [w for w in self._cut(scoped, merged) if w.start < end and start < w.end]

    def _quarter(self, component: str, instant: dt.datetime) -> _Quarter | None:
        """The component's lookups for the quarter ``instant`` falls in (by its own offset),
        made empty here and filled as asked; None at the edges of the engine's span."""
        year, number = instant.year, (instant.month - 1) // 3
        if not FLOOR.year < year < CEILING.year - 1:
            return None
        quarter = self._index.get((component, year, number))
        if quarter is None:
            if len(self._index) >= INDEXED_QUARTERS:
                self._index.clear()
            first = dt.datetime(year, 3 * number + 1, 1, tzinfo=UTC)
            after = dt.datetime(year + number // 3, (3 * number + 3) % 12 + 1, 1, tzinfo=UTC)
            quarter = self._index[component, year, number] = _Quarter(first, after)
        return quarter

    def _fill(self, quarter: _Quarter, scoped: _Scoped) -> None:
        """Merge the quarter's spans once, and cut them by the freezes into its windows."""
        if quarter.spans is not None:
            return
        # A span that overlaps a range starting in the quarter and reaching at most INDEX_REACH
        # is in what this merges, whole unless it is chained longer than the chain limit
        # (_merged follows chains that far beyond its range).
        spans = self._merged(
            scoped.policies, quarter.first - INDEX_SLACK, quarter.after + INDEX_REACH + INDEX_SLACK
        )
        quarter.long = any(e - s >= CHAIN_LIMIT for s, e, _ in spans)
        quarter.pieces = [] if quarter.long else self._cut(scoped, spans)
        quarter.piece_starts = [w.start for w in quarter.pieces]
        quarter.piece_ends = [w.end for w in quarter.pieces]
        quarter.ends = [s[1] for s in spans]
        quarter.spans = spans

    @staticmethod
    def _cut(
        scoped: _Scoped, merged: Sequence[tuple[dt.datetime, dt.datetime, tuple[int | str, ...]]]
    ) -> list[Window]:
        """The merged spans minus the freezes: whole windows, sorted and disjoint."""
        if not merged:
            return []
        # Fetch the freezes once for all spans, then give each span the few that can reach it.
        closed = scoped.freeze_occurrences(merged[0][0], merged[-1][1])
        closed_starts = [c.start for c in closed]
        longest = max((c.end - c.start for c in closed), default=dt.timedelta(0))
        out: list[Window] = []
        for span_start, span_end, ids in merged:
            lo = bisect.bisect_left(closed_starts, minus(span_start, longest))
            hi = bisect.bisect_left(closed_starts, span_end)
            for piece_start, piece_end in _subtract(span_start, span_end, closed[lo:hi]):
                out.append(Window(piece_start, piece_end, ids))
        return out

    @staticmethod
    def _merged(
        policies: Sequence[Policy], start: dt.datetime, end: dt.datetime
    ) -> list[tuple[dt.datetime, dt.datetime, tuple[int | str, ...]]]:
        # Occurrences of different policies may chain (A overlaps or touches B, B touches C):
        # widen the range until the outermost merged spans begin and end inside it. Chains
        # can go on for ever (two daily policies end to end keep a component always open), so
        # the search stops CHAIN_LIMIT either side of the range: a longer window is reported
        # cut there.
        lo, hi = start, end
        floor, ceiling = minus(start, CHAIN_LIMIT), plus(end, CHAIN_LIMIT)
        while True:
            found = sorted(
                (
                    (o, p.id)
                    for p in policies
                    for o in p.recurrence.occurrences(minus(lo, TOUCH), plus(hi, TOUCH))
                ),
                key=lambda pair: pair[0].start,
            )
            merged: list[list] = []
            for occurrence, policy_id in found:
                if merged and occurrence.start <= merged[-1][1]:
                    last = merged[-1]
                    last[1] = max(last[1], occurrence.end)
                    if policy_id not in last[2]:
                        last[2] = (*last[2], policy_id)
                else:
                    merged.append([occurrence.start, occurrence.end, (policy_id,)])
            if not merged:
                return []
            new_lo = max(floor, min(lo, merged[0][0]))
            new_hi = min(ceiling, max(hi, merged[-1][1]))
            if (new_lo, new_hi) == (lo, hi):
                break
            lo, hi = new_lo, new_hi
        for span in merged:
            span[0], span[1] = max(span[0], floor), min(span[1], ceiling)
        return [(s, e, ids) for s, e, ids in merged]

    def window_at(self, at: dt.datetime, component: str) -> Window | None:
        """The open window containing ``at``, or None."""
        at = require_aware(at, "at")
        for window in self.windows(at, plus(at, TOUCH), component):
            if at in window:
                return window
        return None

    def next_window(
        self,
        after: dt.datetime,
        component: str,
        *,
        min_length: dt.timedelta = dt.timedelta(0),
    ) -> Window | None:
        """The first window opening strictly after ``after`` (and lasting ``min_length``)."""
        after = require_aware(after, "after")
        step = dt.timedelta(days=8)
        lo = after
        while lo - after < HORIZON and lo < CEILING:
            hi = plus(lo, step)
            for window in self.windows(lo, hi, component):
                if window.start > after and window.length >= min_length:
                    return window
            lo, step = hi, min(step * 2, dt.timedelta(days=366))
        return None

    def decide(
        self,
        at: dt.datetime,
        component: str,
        *,
        duration: dt.timedelta = dt.timedelta(0),
    ) -> Decision:
        """May ``component`` ship at ``at`` (and finish within ``duration``)? With a trace.

        The gate asks this of "now", over and over: a decision for an instant is kept for the
        span around it in which no rule's occurrence starts or ends (``_span``), and answers
        any instant in that span, worded for it.
        """
        at = require_aware(at, "at")
        memo = None
        if not duration:
            zone = zones.current()
            memo = self._memo.setdefault((component, zone.key if zone else ""), [])
            i = bisect.bisect_right(memo, at, key=_memo_start) - 1
            try:
                found = memo[i] if i >= 0 else None
            except IndexError:  # another thread started the memo again meanwhile
                found = None
            # Both ends checked: another thread's insertion may have moved the entries.
            if found is not None and found[0] <= at < found[1]:
                return _reworded(found[2], found[3], at)
        decision = self._decide(at, component, duration)
        if memo is not None:
            # Worth keeping when asked about instants close together (the gate's "now");
            # scattered questions (scheduling, a calendar) would only pay for the span.
            key = (component, zone.key if zone else "")
            last = self._last_asked.get(key)
            self._last_asked[key] = at
            if last is not None and abs(at - last) <= MEMO_NEAR:
                self._remember(memo, at, component, decision)
        return decision

    def _remember(self, memo: list, at: dt.datetime, component: str, decision: Decision):
        lo, hi = self._span(at, component)
        for window in (decision.window, decision.next_window):
            # A window longer than the chain search reports its ends from where it was asked.
            if window is not None and window.length >= CHAIN_LIMIT:
                return
        if decision.next_window is None and decision.reason != Reason.NO_POLICY:
            return  # none within the horizon, which moves with the instant
        prefix = when(at)
        tail = decision.detail[len(prefix) :] if decision.detail.startswith(prefix) else None
        if len(memo) >= MEMO_SPANS:
            memo.clear()
        bisect.insort(memo, (lo, hi, decision, tail), key=_memo_start)

    def _span(self, at: dt.datetime, component: str) -> tuple[dt.datetime, dt.datetime]:
        """Around ``at``, the span in which every rule says what it says at ``at``: no
        occurrence of a policy or freeze that applies starts or ends in it, and no one-off
        freeze ends (the trace leaves those out once they are over). At most a day each side."""
        lo, hi = minus(at, MEMO_REACH), plus(at, MEMO_REACH)
        scoped = self._for(component)
        for policy in scoped.policies:
            a, b = policy.recurrence.span_around(at)
            lo, hi = max(lo, a), min(hi, b)
        for freeze in self.freezes:
            if freeze.interval is not None:
                start, end = freeze.interval.start, freeze.interval.end
                if end <= at:
                    lo = max(lo, end)
                elif not freeze.applies_to(component):
                    hi = min(hi, end)
                elif start <= at:
                    lo, hi = max(lo, start), min(hi, end)
                else:
                    hi = min(hi, start)
            elif freeze.applies_to(component):
                a, b = freeze.recurrence.span_around(at)
                lo, hi = max(lo, a), min(hi, b)
        return lo, hi

    def _decide(self, at: dt.datetime, component: str, duration: dt.timedelta) -> Decision:
        policies = self._for(component).policies
        # One pass serves both questions: the window containing `at` and the next opening.
        nearby = self.windows(at, plus(at, LOOKAHEAD), component) if policies else []
        # Sorted, disjoint, and each ends after `at`: only the first may contain it.
        window = nearby[0] if nearby and nearby[0].start <= at else None
        trace, frozen_by = self._traced(at, component)
        finish = plus(at, duration)
        if window is not None and finish <= window.end:
            reason = Reason.IN_WINDOW
            detail = f"{when(at)} is inside the window {between(window.start, window.end)}."
        elif window is not None:
            reason = Reason.DOES_NOT_FIT
            detail = (
                f"The window closes at {when(window.end)}, before {when(finish)}, when a "
                f"release of {lasting(duration)} starting at {when(at)} would finish."
            )
        elif not policies:
            reason = Reason.NO_POLICY
            detail = f"No window policy applies to '{component}', so it has no release window."
        elif frozen_by is not None:
            reason = Reason.FROZEN
            detail = f"{when(at)} is inside a freeze: {frozen_by.name}."
        else:
            reason = Reason.OUTSIDE_WINDOW
            detail = f"{when(at)} is outside every release window for '{component}'."
        allowed = reason == Reason.IN_WINDOW
        upcoming = next((w for w in nearby if w.start > at and w.length >= duration), None)
        if upcoming is None and policies:
            upcoming = self.next_window(at, component, min_length=duration)
        if not allowed and upcoming is not None:
            detail += f" The next window opens at {_edge(upcoming.start)}."
        elif not allowed and policies and duration:
            detail += f" No window in the next five years lasts {lasting(duration)}."
        return Decision(allowed, reason, detail, at, component, window, upcoming, trace)

    def _traced(
        self, at: dt.datetime, component: str
    ) -> tuple[tuple[TraceEntry, ...], TraceEntry | None]:
        """What every rule says about ``at`` (the trace), and the freeze that closed it if a
        policy had it open. Most entries are the same at every instant (_Scoped.slots); the
        few rules open or frozen at ``at`` are looked up in the quarter's occurrences."""
        scoped = self._for(component)
        quarter = self._quarter(component, at)
        if quarter is not None and quarter.points is None:
            self._stab(quarter, scoped)
        # Rule by rule at the edges of the engine's span, and where too many rules overlap.
        if quarter is None or not quarter.points:
            trace = self._trace(at, component)
            return tuple(trace), _frozen_by(trace)
        hits = quarter.actives[bisect.bisect_right(quarter.points, at) - 1]
        gone = bisect.bisect_right(self._one_off_ends, at)  # one-off freezes over by `at`
        base, where = scoped.base(gone, self._one_off_slots)
        if not hits:
            return base, None
        trace = list(base)
        zone = zones.current()
        opened = False
        frozen_by = None
        for slot, kind, rule, hit in hits:
            key = (slot, hit.start, zone)
            entry = self._hit_entries.get(key)
            if entry is None:
                if len(self._hit_entries) >= HIT_ENTRIES:
                    self._hit_entries.clear()
                entry = self._hit_entries[key] = _hit_entry(kind, rule, hit)
            trace[where[slot]] = entry
            if kind == "policy":
                opened = True
            elif frozen_by is None:  # the first freeze in the trace's order
                frozen_by = entry
        return tuple(trace), frozen_by if opened else None

    def _stab(self, quarter: _Quarter, scoped: _Scoped) -> None:
        """Cut the quarter at every start and end of an occurrence of a rule that applies, and
        list for each piece the occurrences covering it: the first of each rule's, in the
        trace's order (what occurrence_at would give)."""
        lo, hi = quarter.first - INDEX_SLACK, quarter.after + INDEX_SLACK
        hits = []
        for slot, (kind, rule, constant) in enumerate(scoped.slots):
            if constant.verdict != "out_of_scope":
                found = (rule.recurrence if kind == "policy" else rule).occurrences(lo, hi)
                hits.extend((slot, kind, rule, o) for o in found)  # by start within a rule
        points = sorted({lo} | {t for *_, o in hits for t in (o.start, o.end) if lo < t < hi})
        actives: list[list] = [[] for _ in points]
        budget = STAB_ENTRIES
        for hit in hits:
            # From the piece it starts (the first, when it starts before the quarter's reach)
            # to the last piece starting before it ends.
            first = bisect.bisect_left(points, hit[3].start)
            last = bisect.bisect_left(points, hit[3].end)
            budget -= last - first
            if budget < 0:  # long rules overlapping by the hundred: not worth the memory
                quarter.points = []
                return
            for i in range(first, last):
                if not actives[i] or actives[i][-1][0] != hit[0]:
                    actives[i].append(hit)
        quarter.actives = [tuple(a) for a in actives]
        quarter.points = points

    def _trace(self, at: dt.datetime, component: str) -> list[TraceEntry]:
        entries: list[TraceEntry] = []
        # Rules that do not apply to the component say the same thing at every instant, and so
        # does a rule with no occurrence at the instant: their entries are made once per
        # component (_Scoped.slots), not at every decision.
        for kind, rule, constant in self._for(component).slots:
            if kind == "policy":
                if constant.verdict == "out_of_scope":
                    entries.append(constant)
                elif hit := rule.recurrence.occurrence_at(at):
                    entries.append(_hit_entry("policy", rule, hit))
                else:
                    entries.append(constant)  # closed
                continue
            if rule.interval is not None and rule.interval.end <= at:
                continue  # over before the instant: it can say nothing about it
            if constant.verdict == "out_of_scope":
                entries.append(constant)
            elif hit := rule.occurrence_at(at):
                entries.append(_hit_entry("freeze", rule, hit))
            else:
                entries.append(constant)  # clear
        return entries


# A remembered decision covers at most this much either side of the instant it was made for,
# and a component keeps at most so many (then starts again).
MEMO_REACH = dt.timedelta(days=1)
MEMO_SPANS = 4096
# Two questions about instants this close: the asker follows the clock (the gate's "now").
MEMO_NEAR = dt.timedelta(minutes=10)
# Traces kept per component, one per count of one-off freezes over; and entries of rules open
# or frozen at an instant, worded once per occurrence and zone.
TRACE_BASES = 512
HIT_ENTRIES = 65536
# The most (piece, occurrence) pairs a quarter's trace lookup may hold (~8 bytes each); beyond
# (long rules overlapping by the hundred), that quarter's traces are made rule by rule. The
# benchmark's 50 policies + 200 freezes need ~3,000.
STAB_ENTRIES = 50_000


def _memo_start(entry) -> dt.datetime:
    return entry[0]


def _reworded(decision: Decision, tail: str | None, at: dt.datetime) -> Decision:
    """A remembered decision, for another instant of its span."""
    detail = decision.detail if tail is None else when(at) + tail
    d = decision  # built directly: dataclasses.replace() costs several times more
    return Decision(d.allowed, d.reason, detail, at, d.component, d.window, d.next_window, d.trace)


_CLOSED = "No occurrence of this policy contains the instant."
_CLEAR = "This freeze does not cover the instant."


def _entry(kind: str, rule, verdict: str, detail: str, hit: Interval | None) -> TraceEntry:
    name = rule.name if kind == "policy" else rule.reason
    return TraceEntry(kind, rule.id, name, verdict, detail, hit, rule.version)


def _hit_entry(kind: str, rule, hit: Interval) -> TraceEntry:
    """The entry of a policy open, or a freeze frozen, by its occurrence ``hit``."""
    if kind == "policy":
        return _entry(kind, rule, "open", f"Open {between(hit.start, hit.end)}.", hit)
    return _entry(kind, rule, "frozen", f"Frozen {between(hit.start, hit.end)}.", hit)


class _Quarter:
    """One component's lookups around a quarter of the calendar (first to after, in UTC),
    each made on first use: its windows (spans merged, then cut by freezes) and, for
    traces, the occurrences covering each piece of it. Both are sorted, for bisection."""

    __slots__ = (
        "actives",
        "after",
        "ends",
        "first",
        "long",
        "piece_ends",
        "piece_starts",
        "pieces",
        "points",
        "spans",
    )

    def __init__(self, first: dt.datetime, after: dt.datetime):
        self.first, self.after = first, after
        self.spans: list | None = None  # merged spans (start, end, policy ids), by start
        self.ends: list[dt.datetime] = []
        self.long = False  # a span chained past the chain limit: windows are merged per range
        self.pieces: list[Window] = []  # the windows, when no span is long
        self.piece_starts: list[dt.datetime] = []
        self.piece_ends: list[dt.datetime] = []
        self.points: list[dt.datetime] | None = None  # where an occurrence starts or ends
        self.actives: list[tuple] = []  # per piece [points[i], points[i + 1]): who covers it


class _Scoped:
    """The policies and freezes of one component, one-off freezes indexed by start."""

    __slots__ = (
        "_bases",
        "_longest",
        "_one_off",
        "_one_off_starts",
        "_recurring",
        "policies",
        "slots",
    )

    def __init__(
        self,
        policies: tuple[Policy, ...],
        freezes: tuple[Freeze, ...],
        slots: tuple[tuple[str, Policy | Freeze, TraceEntry], ...] = (),
    ):
        self.policies = policies
        # Every rule in the calendar's order, with its entry when it does not apply, or when it
        # applies and has no occurrence at the instant (closed, clear): the same at every one.
        self.slots = slots
        self._recurring = tuple(f for f in freezes if f.recurrence is not None)
        self._one_off = sorted((f.interval for f in freezes if f.interval is not None), key=_start)
        self._one_off_starts = [i.start for i in self._one_off]
        self._longest = max((i.end - i.start for i in self._one_off), default=dt.timedelta(0))
        self._bases: dict[int, tuple[tuple[TraceEntry, ...], list[int]]] = {}

    def base(
        self, gone: int, one_off_slots: Sequence[int]
    ) -> tuple[tuple[TraceEntry, ...], list[int]]:
        """The trace of an instant where no rule is open or frozen and the first ``gone``
        one-off freezes by end are over (and left out), and where each slot's entry is in it."""
        found = self._bases.get(gone)
        if found is None:
            over = set(one_off_slots[:gone])
            entries: list[TraceEntry] = []
            where: list[int] = []
            for slot, (_, _, constant) in enumerate(self.slots):
                where.append(len(entries))
                if slot not in over:
                    entries.append(constant)
            if len(self._bases) >= TRACE_BASES:
                self._bases.clear()
            found = self._bases[gone] = (tuple(entries), where)
        return found

    def freeze_occurrences(self, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        """Freeze occurrences overlapping [start, end), sorted by start."""
        # A one-off freeze overlapping the span starts after start - longest and before end.
        lo = bisect.bisect_left(self._one_off_starts, minus(start, self._longest))
        hi = bisect.bisect_left(self._one_off_starts, end)
        found = [i for i in self._one_off[lo:hi] if i.end > start]
        for freeze in self._recurring:
            found.extend(freeze.recurrence.occurrences(start, end))
        found.sort(key=_start)
        return found


def _frozen_by(trace: Sequence[TraceEntry]) -> TraceEntry | None:
    """The freeze that closed an instant some policy had open, if any."""
    if not any(t.kind == "policy" and t.verdict == "open" for t in trace):
        return None
    return next((t for t in trace if t.kind == "freeze" and t.verdict == "frozen"), None)


def _subtract(
    start: dt.datetime, end: dt.datetime, holes: Sequence[Interval]
) -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) minus the (sorted) holes."""
    pieces = []
    cursor = start
    for hole in holes:
        if hole.end <= cursor:
            continue
        if hole.start >= end:
            break
        if hole.start > cursor:
            pieces.append((cursor, hole.start))
        cursor = max(cursor, hole.end)
        if cursor >= end:
            break
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def when(instant: dt.datetime) -> str:
    """An instant as refusals and traces word it: local (lib.zones) and UTC.

    'Wed 02 Dec 2026 00:00 PST (2026-12-02 08:00 UTC)'; UTC alone when no zone is chosen.
    """
    utc = instant.astimezone(UTC).replace(second=0, microsecond=0, tzinfo=None)
    zone = zones.current()
    if zone is None:
        return _words(utc, None, "")
    local = instant.astimezone(zone)
    return _words(utc, local.replace(second=0, microsecond=0, tzinfo=None), local.tzname())


@lru_cache(maxsize=1024)
def _words(utc: dt.datetime, local: dt.datetime | None, name: str) -> str:
    # Naive minutes (an aware key would equal the same instant in another zone): the gate words
    # "now" at every call, and a minute's calls share the words. isoformat() is several times
    # faster than strftime(), and decide() formats a dozen.
    words = utc.isoformat(" ", "minutes") + " UTC"
    return words if local is None else f"{local:%a %d %b %Y %H:%M} {name} ({words})"


def between(start: dt.datetime, end: dt.datetime) -> str:
    """A span as refusals word it: 'Wed 02 Dec 2026 00:00–03:00 PST (08:00–11:00 UTC)' when it
    lies within one local and one UTC day, else both ends in full."""
    # Keyed in UTC: two local instants an hour apart in a repeated hour differ only by fold,
    # which datetime equality (and so the cache) does not see.
    return _between(start.astimezone(UTC), end.astimezone(UTC), zones.current())


def _edge(instant: dt.datetime) -> str:
    """``when(instant)`` for a window's edge, which decisions word again and again."""
    return _edge_in(instant.astimezone(UTC), zones.current())  # in UTC, as _between


@lru_cache(maxsize=4096)
def _edge_in(instant: dt.datetime, zone: ZoneInfo | None) -> str:
    return when(instant)  # in `zone`, the current one: it keys the cache


@lru_cache(maxsize=4096)  # a decision words its window; the same few windows, again and again
def _between(start: dt.datetime, end: dt.datetime, zone: ZoneInfo | None) -> str:
    a, b = start.astimezone(UTC), end.astimezone(UTC)
    if zone is None:
        if a.date() == b.date():
            return f"{a:%Y-%m-%d %H:%M}–{b:%H:%M} UTC"
        return f"{when(start)} – {when(end)}"
    la, lb = start.astimezone(zone), end.astimezone(zone)
    if la.date() == lb.date() and a.date() == b.date() and la.tzname() == lb.tzname():
        return f"{la:%a %d %b %Y %H:%M}–{lb:%H:%M %Z} ({a:%Y-%m-%d %H:%M}–{b:%H:%M} UTC)"
    return f"{when(start)} – {when(end)}"
