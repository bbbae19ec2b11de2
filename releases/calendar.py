"""The calendar people look at: month and week grids of windows, freezes, releases and more.

Reads only. Entries are plain values with UTC instants; ``layout`` puts them on the local days
of one zone (the desk's, or the public display zone), each with its local times, so a window
that opens at 00:00 Pacific is on Wednesday's cell in Pacific time and on Tuesday's (22:00) for
a reader in Honolulu. Days are cut at local midnight, so a day is 23 or 25 hours long when
the clocks change, and its times say which offset they are in.

The releases app knows windows, freezes and releases. What sits above it (approvals' slots,
notes' notice dates) is gathered through ``hooks.register_calendar_source``, called from
those apps' AppConfig.ready(), as ``hooks.register_facts`` does for guards: releases never
imports them.
"""

from __future__ import annotations

import calendar as stdlib_calendar
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from lib.instants import local_and_utc
from lib.zones import iso_utc
from releases import hooks
from releases.models import Component, Release
from releases.selectors import window_calendar
from releases.windows import EARLIEST, LATEST, WindowCalendar

MONTH, WEEK = "month", "week"
VIEWS = (MONTH, WEEK)
# Several entries starting at the same instant: the rules first, then what happens in them.
KIND_ORDER = {"freeze": 0, "window": 1, "slot": 2, "release": 3, "notice": 4}
# A release lasts at most a week (releases.models.MAX_RELEASE_MINUTES): one starting that long
# before a period may still overlap it.
RELEASE_REACH = dt.timedelta(days=7)


@dataclass(frozen=True)
class Entry:
    """One thing on the calendar: a span [start, end), or an instant when ``end`` is None."""

    kind: str  # window | freeze | release | slot | notice
    start: dt.datetime
    end: dt.datetime | None
    label: str  # "items-api 5.0.0", "Release window", "Freeze: Payments"
    detail: str = ""  # "Announced", "items-api, js-client"
    state: str = ""  # a release's state or a notice's status (for colour), else ""
    title: str = ""  # a longer text for a tooltip: the release's title
    # Which object it stands for, as ("app_label.model", pk); the desk links it to the admin.
    ref: tuple[str, int] | None = None
    url: str = ""  # a link given by whoever built it (the public site's own pages)


# A source gives the entries of [start, end) for one component (None: every component).
Source = Callable[[dt.datetime, dt.datetime, str | None], Iterable[Entry]]


# --- Entries ---------------------------------------------------------------------------------


def window_entries(
    calendar: WindowCalendar, start: dt.datetime, end: dt.datetime, components: Sequence[str]
) -> list[Entry]:
    """Each component's windows as the engine merges them; one entry per distinct span, naming
    the components it is open for."""
    spans: dict[tuple[dt.datetime, dt.datetime], tuple[list[str], int | str]] = {}
    for slug in components:
        for window in calendar.windows(start, end, slug):
            slugs, _ = spans.setdefault((window.start, window.end), ([], window.policies[0]))
            slugs.append(slug)
    return [
        Entry(
            "window",
            span_start,
            span_end,
            "Release window",
            ", ".join(sorted(slugs)),
            ref=("releases.windowpolicy", policy),
        )
        for (span_start, span_end), (slugs, policy) in sorted(spans.items())
    ]


def freeze_entries(
    calendar: WindowCalendar, start: dt.datetime, end: dt.datetime, component: str | None
) -> list[Entry]:
    """Occurrences of every freeze (of those that apply to ``component``, if one is given)."""
    found = []
    for freeze in calendar.freezes:
        if component is not None and not freeze.applies_to(component):
            continue
        scope = ", ".join(sorted(freeze.components)) if freeze.components else "all components"
        for occurrence in freeze.occurrences(start, end):
            lifted = occurrence.end >= LATEST  # a one-off freeze with no end
            found.append(
                Entry(
                    "freeze",
                    occurrence.start,
                    occurrence.end,
                    f"Freeze: {freeze.reason}",
                    scope + (" · until lifted" if lifted else ""),
                    ref=("releases.freeze", freeze.id),
                )
            )
    return found


def releases_between(start: dt.datetime, end: dt.datetime, component: str | None = None):
    """Releases whose scheduled run may overlap [start, end), any state (one query)."""
    releases = Release.objects.filter(
        scheduled_start__gte=start - RELEASE_REACH, scheduled_start__lt=end
    ).select_related("component")
    if component is not None:
        releases = releases.filter(component__slug=component)
    return releases.order_by("scheduled_start", "id")


def release_entries(
    releases: Iterable[Release], start: dt.datetime, end: dt.datetime, calendar: WindowCalendar
) -> list[Entry]:
    """The desk's view of releases: scheduled start to expected end, labelled by state."""
    found = []
    for release in releases:
        if not (release.scheduled_start < end and start < release.expected_end):
            continue
        notes = [release.get_state_display()]
        if release.kind == Release.Kind.EXCEPTIONAL:
            notes.append("exceptional")
        elif release.state in (Release.State.PLANNED, Release.State.ANNOUNCED) and (
            calendar.window_at(release.scheduled_start, release.component.slug) is None
        ):
            notes.append("outside every window")
        if release.impact == Release.Impact.PERCEPTIBLE:
            notes.append("perceptible impact")
        found.append(
            Entry(
                "release",
                release.scheduled_start,
                release.expected_end,
                f"{release.component.slug} {release.version}",
                ", ".join(notes),
                state=release.state,
                title=release.title,
                ref=("releases.release", release.pk),
            )
        )
    return found


def desk_entries(
    start: dt.datetime, end: dt.datetime, *, component: str | None = None
) -> list[Entry]:
    """Everything the release team sees on [start, end): windows, freezes, releases in every
    state, and what the other apps registered (approved slots, notice dates).

    A constant number of queries: the calendar's revision, the components, the releases, and
    one per registered source.
    """
    calendar = window_calendar()
    if component is None:
        slugs = list(Component.objects.values_list("slug", flat=True))
    else:
        slugs = [component]
    entries = [
        *window_entries(calendar, start, end, slugs),
        *freeze_entries(calendar, start, end, component),
        *release_entries(releases_between(start, end, component), start, end, calendar),
    ]
    for source in hooks.calendar_sources:
        entries.extend(source(start, end, component))
    return entries


# --- Periods and the grid --------------------------------------------------------------------

FIRST_DAY, LAST_DAY = EARLIEST.date(), (LATEST - dt.timedelta(days=1)).date()


def period(view: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last local dates a view shows: whole weeks, Monday to Sunday."""
    if view == WEEK:
        first = day - dt.timedelta(days=day.weekday())
        return first, first + dt.timedelta(days=6)
    month_first = day.replace(day=1)
    month_last = day.replace(day=stdlib_calendar.monthrange(day.year, day.month)[1])
    first = month_first - dt.timedelta(days=month_first.weekday())
    return first, month_last + dt.timedelta(days=6 - month_last.weekday())


def midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The instant a local date begins (fold=0, like the engine: see releases.windows)."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


@dataclass(frozen=True)
class Query:
    """What a calendar page was asked for, with anything invalid replaced by the default: this
    month (or week), every component."""

    view: str
    day: dt.date
    components: list[tuple[str, str]]  # (slug, name) of every component, for the filter
    component: str | None
    start: dt.datetime
    end: dt.datetime


def read_query(params, *, zone: ZoneInfo, today: dt.date, order_by: str = "name") -> Query:
    """?view=month|week&date=YYYY-MM-DD&component=<slug>, read for a page in ``zone``."""
    view = params.get("view")
    view = view if view in VIEWS else MONTH
    day = shown_date(view, params.get("date"), today)
    components = list(Component.objects.order_by(order_by).values_list("slug", "name"))
    component = params.get("component") or None
    if component not in {slug for slug, _ in components}:
        component = None
    start, end = bounds(view, day, zone)
    return Query(view, day, components, component, start, end)


def bounds(view: str, day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The instants [start, end) a view of ``day`` covers in ``zone``."""
    first, last = period(view, day)
    return midnight(first, zone), midnight(last + dt.timedelta(days=1), zone)


def shown_date(view: str, text: str | None, today: dt.date) -> dt.date:
    """The date a query asks for, within the supported range; today when it asks for none or
    for something that is not a date. The whole period must fit the range too."""
    try:
        day = dt.date.fromisoformat(text) if text else today
    except ValueError:
        return today
    first, last = period(view if view in VIEWS else MONTH, day)
    if first < FIRST_DAY or last + dt.timedelta(days=1) > LAST_DAY:
        return today
    return day


@dataclass(frozen=True)
class Placed:
    """An entry as one day shows it: its local times that day (None: it began on an earlier
    day, or goes on to a later one)."""

    entry: Entry
    starts: dt.datetime | None
    ends: dt.datetime | None
    start_text: str  # "00:30", or "01:30 PST" on a day the clocks change
    end_text: str
    start_full: str  # "Wed 02 Dec 2026 00:30 PST (08:30 UTC)", for a tooltip
    end_full: str
    url: str = ""

    @property
    def instant(self) -> bool:
        return self.entry.end is None

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def when(self) -> str:
        """Its times that day in words, as the template writes them: "00:00–03:00", "from
        16:00", "until 04:00", "all day", or "09:30" for an instant."""
        if self.instant:
            return self.start_text
        if self.starts and self.ends:
            return f"{self.start_text}–{self.end_text}"
        if self.starts:
            return f"from {self.start_text}"
        if self.ends:
            return f"until {self.end_text}"
        return "all day"

    # For <time datetime> and a tooltip with the instant in full and in UTC.
    @property
    def start_iso(self) -> str | None:
        return iso_utc(self.starts)

    @property
    def end_iso(self) -> str | None:
        return iso_utc(self.ends)


@dataclass
class Day:
    date: dt.date
    in_period: bool  # in the month shown (a month view also shows its first and last weeks)
    today: bool
    entries: list[Placed] = field(default_factory=list)
    shift: str = ""  # "Clocks go back 1 h (PDT → PST)" on a day the offset changes

    @property
    def weekend(self) -> bool:
        return self.date.weekday() >= 5


@dataclass
class Grid:
    view: str
    date: dt.date  # the date asked for
    zone: str
    title: str
    weeks: list[list[Day]]
    start: dt.datetime
    end: dt.datetime
    previous: dt.date | None
    next: dt.date | None
    today: dt.date
    abbreviations: list[str]  # the zone's names in the period: ["PDT", "PST"]

    @property
    def days(self) -> list[Day]:
        return [day for week in self.weeks for day in week]

    @property
    def empty(self) -> bool:
        return not any(day.entries for day in self.days if day.in_period)


def _clock(instant: dt.datetime, zone: ZoneInfo, named: bool) -> str:
    local = instant.astimezone(zone)
    return f"{local:%H:%M} {local:%Z}" if named else f"{local:%H:%M}"


def _shift(before: dt.datetime, after: dt.datetime, zone: ZoneInfo) -> str:
    a, b = before.astimezone(zone), after.astimezone(zone)
    if a.utcoffset() == b.utcoffset():
        return ""
    change = b.utcoffset() - a.utcoffset()
    minutes = abs(int(change.total_seconds() // 60))
    amount = f"{minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")
    way = "forward" if change > dt.timedelta(0) else "back"
    return f"Clocks go {way} {amount} ({a:%Z} → {b:%Z})"


def _neighbours(view: str, day: dt.date) -> tuple[dt.date | None, dt.date | None]:
    if view == WEEK:
        before, after = day - dt.timedelta(days=7), day + dt.timedelta(days=7)
    else:
        before = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        after = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    within = []
    for candidate in (before, after):
        first, last = period(view, candidate)
        ok = first >= FIRST_DAY and last + dt.timedelta(days=1) <= LAST_DAY
        within.append(candidate if ok else None)
    return within[0], within[1]


def _title(view: str, day: dt.date, first: dt.date, last: dt.date) -> str:
    if view == MONTH:
        return f"{day:%B %Y}"
    week = first.isocalendar().week
    return f"Week {week}: {first:%a %d %b} – {last:%a %d %b %Y}"


def layout(
    view: str,
    day: dt.date,
    zone: ZoneInfo,
    entries: Iterable[Entry],
    *,
    today: dt.date,
    link: Callable[[Entry], str] | None = None,
) -> Grid:
    """The month or week holding ``day``, as weeks of local days in ``zone``, each listing the
    entries that touch it in time order with their local times.

    On a day whose offset changes, times carry the zone's abbreviation (01:30 PDT, then 01:30
    PST an hour later).
    """
    view = view if view in VIEWS else MONTH
    first, last = period(view, day)
    count = (last - first).days + 1
    dates = [first + dt.timedelta(days=i) for i in range(count)]
    edges = [midnight(d, zone) for d in [*dates, last + dt.timedelta(days=1)]]
    days = [
        Day(
            d,
            in_period=view == WEEK or d.month == day.month,
            today=d == today,
            shift=_shift(edges[i], edges[i + 1], zone),
        )
        for i, d in enumerate(dates)
    ]
    ordered = sorted(entries, key=lambda e: (e.start, KIND_ORDER.get(e.kind, 9), e.label))
    for entry in ordered:
        url = entry.url or (link(entry) if link else "")
        for i, cell in enumerate(days):
            lo, hi = edges[i], edges[i + 1]
            named = bool(cell.shift)
            if entry.end is None:
                if lo <= entry.start < hi:
                    text = _clock(entry.start, zone, named)
                    full = local_and_utc(entry.start, zone)
                    cell.entries.append(Placed(entry, entry.start, None, text, "", full, "", url))
                continue
            if not (entry.start < hi and lo < entry.end):
                continue
            starts = entry.start if entry.start >= lo else None
            ends = entry.end if entry.end <= hi else None
            start_text = _clock(starts, zone, named) if starts else ""
            if ends is None:
                end_text = ""
            elif ends == hi:
                end_text = "24:00"  # up to midnight: the end of this day, not the next one's start
            else:
                end_text = _clock(ends, zone, named)
            cell.entries.append(
                Placed(
                    entry,
                    starts,
                    ends,
                    start_text,
                    end_text,
                    local_and_utc(starts, zone) if starts else "",
                    local_and_utc(ends, zone) if ends else "",
                    url,
                )
            )
    previous, following = _neighbours(view, day)
    abbreviations = []
    for edge in edges:
        name = edge.astimezone(zone).tzname()
        if name not in abbreviations:
            abbreviations.append(name)
    return Grid(
        view=view,
        date=day,
        zone=zone.key,
        title=_title(view, day, first, last),
        weeks=[days[i : i + 7] for i in range(0, len(days), 7)],
        start=edges[0],
        end=edges[-1],
        previous=previous,
        next=following,
        today=today,
        abbreviations=abbreviations,
    )


def navigation(grid: Grid, component: str | None = None) -> dict[str, str]:
    """Query strings for the grid's links: previous, next, today, and each view of its date;
    the component filter is kept."""

    def query(view: str, day: dt.date | None) -> str:
        if day is None:
            return ""
        params = {"view": view, "date": day.isoformat()}
        if component:
            params["component"] = component
        return "?" + urlencode(params)

    return {
        "previous": query(grid.view, grid.previous),
        "next": query(grid.view, grid.next),
        "today": query(grid.view, grid.today),
        "month": query(MONTH, grid.date),
        "week": query(WEEK, grid.date),
    }
