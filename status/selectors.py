"""Reads of the service's health, each with an explicit instant where the clock matters."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Prefetch, Q, Sum

from releases.models import Component
from releases.selectors import window_calendar
from releases.windows import Window
from status.models import Incident, IncidentUpdate, Level, Probe, ProbeRollup

# --- Incidents ---------------------------------------------------------------------------------


@dataclass
class ComponentStatus:
    component: Component
    level: str
    incidents: list[Incident] = field(default_factory=list)
    next_window: Window | None = None

    @property
    def label(self) -> str:
        return Level(self.level).label


def with_updates(incidents):
    """Incidents with their components and updates (newest first) in three queries."""
    return incidents.prefetch_related(
        "components",
        Prefetch(
            "updates",
            queryset=IncidentUpdate.objects.select_related("rollback__component").order_by(
                "-at", "-id"
            ),
        ),
    )


def open_incidents(*, public_only: bool = True) -> list[Incident]:
    incidents = Incident.objects.open()
    if public_only:
        incidents = incidents.public()
    return list(with_updates(incidents).order_by("-started_at", "-id"))


def component_statuses(now: dt.datetime, *, public_only: bool = True) -> list[ComponentStatus]:
    """Each component's service status now: the worst impact among its open incidents."""
    incidents = open_incidents(public_only=public_only)
    calendar = window_calendar()
    found = []
    for component in Component.objects.order_by("name"):
        mine = [i for i in incidents if any(c.pk == component.pk for c in i.components.all())]
        found.append(
            ComponentStatus(
                component=component,
                level=Level.worst(i.impact for i in mine),
                incidents=mine,
                next_window=calendar.next_window(now, component.slug),
            )
        )
    return found


def overall(statuses: list[ComponentStatus]) -> str:
    return Level.worst(s.level for s in statuses)


@dataclass
class Month:
    start: dt.date
    incidents: list[Incident]


def history(*, months: int = 12, now: dt.datetime) -> list[Month]:
    """The outage log: public incidents by the month they started (UTC), newest first, every
    month of the span listed (an empty month says so)."""
    first = _month_start(now.date(), back=months - 1)
    since = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    incidents = with_updates(
        Incident.objects.public().filter(started_at__gte=since).order_by("-started_at", "-id")
    )
    by_month: dict[dt.date, list[Incident]] = {}
    for incident in incidents:
        by_month.setdefault(incident.started_at.date().replace(day=1), []).append(incident)
    out, month = [], now.date().replace(day=1)
    for _ in range(months):
        out.append(Month(month, by_month.get(month, [])))
        month = _month_start(month, back=1)
    return out


def _month_start(day: dt.date, *, back: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


# --- Probes ------------------------------------------------------------------------------------
#
# Everything is read from the rollups (one row per probe and UTC hour or day), never from the raw
# samples: a year of 5-minute samples for 20 probes is two million rows, its rollups 175,000
# hourly and 7,300 daily ones, of which a dashboard reads a few thousand through the
# (probe, period, start) unique index. Uptime is up_samples / samples over the buckets that have
# data: a bucket the cluster missed has no samples and counts neither as up nor as down.

HOUR, DAY = ProbeRollup.Period.HOUR, ProbeRollup.Period.DAY
LATENCY_HOURS = 7 * 24
BAR_DAYS = 90
# Uptime figures: (label, period of the rollups read, how many buckets back, current included).
UPTIME_WINDOWS = [("24h", HOUR, 24), ("7d", HOUR, 7 * 24), ("30d", DAY, 30), ("90d", DAY, 90)]

# The charts' geometry, in SVG user units (the style sheet scales them to the page's width).
BAR_WIDTH, BAR_GAP, BAR_HEIGHT = 6, 2, 30
CHART_STEP, CHART_HEIGHT, CHART_TOP = 4, 100, 6


def _hour(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _day(at: dt.datetime) -> dt.datetime:
    return _hour(at).replace(hour=0)


def _ratio(up, samples) -> float | None:
    return up / samples if samples else None


@dataclass(slots=True)
class Bar:
    """One UTC day of a 90-day strip: the uptime fraction, or None for "no data"."""

    date: dt.date
    uptime: float | None
    samples: int = 0
    x: int = 0

    @property
    def level(self) -> str:
        """The CSS class: up, minor (below 99.9 %), down (below 99 %), none (no data)."""
        if self.uptime is None:
            return "none"
        if self.uptime >= 0.999:
            return "up"
        return "minor" if self.uptime >= 0.99 else "down"

    @property
    def uptime_shown(self) -> str:
        return percent(self.uptime)

    @property
    def label(self) -> str:
        if self.uptime is None:
            return f"{self.date:%a %d %b %Y}: no data"
        return f"{self.date:%a %d %b %Y}: {percent(self.uptime)} up ({self.samples} samples)"


@dataclass(slots=True)
class LatencyPoint:
    """One UTC hour: median and 95th percentile latency of successful answers, or None."""

    start: dt.datetime
    p50_ms: int | None
    p95_ms: int | None


@dataclass
class ProbeStatus:
    probe: Probe
    status: str  # "up", "down", "no data"
    uptime: dict[str, float | None]
    latency: list[LatencyPoint]
    bars: list[Bar]
    consider_resolving: bool = False
    _chart: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.probe.name

    @property
    def component(self) -> str:
        return self.probe.component.name

    @property
    def uptime_shown(self) -> list[tuple[str, str]]:
        return [(label, percent(value)) for label, value in self.uptime.items()]

    @property
    def bars_width(self) -> int:
        return len(self.bars) * (BAR_WIDTH + BAR_GAP) - BAR_GAP

    @property
    def chart(self) -> dict:
        """The latency chart: a path per series (each gap breaks the line), the scale's top."""
        if not self._chart:
            self._chart = latency_chart(self.latency)
        return self._chart


def percent(value: float | None) -> str:
    if value is None:
        return "no data"
    shown = f"{value * 100:.3f}".rstrip("0").rstrip(".")
    return f"{shown} %"


def _nice_ceiling(value: int) -> int:
    for step in (10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 60_000):
        if value <= step:
            return step
    return value


def latency_chart(points: list[LatencyPoint]) -> dict:
    top = _nice_ceiling(max((p.p95_ms or 0 for p in points), default=0) or 1)

    def path(values: list[int | None]) -> str:
        parts, drawing = [], False
        for i, value in enumerate(values):
            if value is None:
                drawing = False
                continue
            x = i * CHART_STEP
            y = CHART_TOP + CHART_HEIGHT - round(value / top * CHART_HEIGHT, 1)
            parts.append(f"{'L' if drawing else 'M'}{x} {y:g}")
            if not drawing and (i + 1 == len(values) or values[i + 1] is None):
                parts.append("h1")  # a lone point between gaps still shows, as a dot
            drawing = True
        return " ".join(parts)

    return {
        "p50": path([p.p50_ms for p in points]),
        "p95": path([p.p95_ms for p in points]),
        "top_ms": top,
        "width": (len(points) - 1) * CHART_STEP if points else 0,
        "height": CHART_HEIGHT + 2 * CHART_TOP,
        "baseline": CHART_TOP + CHART_HEIGHT,
        "gaps": sum(1 for p in points if p.p50_ms is None),
    }


def _bars(by_day: dict[dt.date, tuple[int, int]], today: dt.datetime, days: int) -> list[Bar]:
    first = (today - dt.timedelta(days=days - 1)).date()
    bars = []
    for i in range(days):
        date = first + dt.timedelta(days=i)
        samples, up = by_day.get(date, (0, 0))
        bars.append(Bar(date, _ratio(up, samples), samples, i * (BAR_WIDTH + BAR_GAP)))
    return bars


def uptime_bars(target: Probe | int, *, days: int = BAR_DAYS, now: dt.datetime) -> list[Bar]:
    """``days`` daily bars ending today (UTC), oldest first: a probe's, or a component's (given
    its id: the sum over its active probes). A day without samples is None ("no data")."""
    today = _day(now)
    rollups = ProbeRollup.objects.filter(
        period=DAY, start__gte=today - dt.timedelta(days=days - 1), start__lte=today
    )
    if isinstance(target, Probe):
        rollups = rollups.filter(probe=target)
    else:
        rollups = rollups.filter(probe__component_id=target, probe__is_active=True)
    rows = rollups.values("start").annotate(s=Sum("samples"), u=Sum("up_samples"))
    by_day = {row["start"].date(): (row["s"], row["u"]) for row in rows}
    return _bars(by_day, today, days)


def _uptimes(ids: list[int], now: dt.datetime) -> dict[int, dict[str, float | None]]:
    """Every probe's uptime figures: two grouped queries (hourly, daily), sums in SQL."""
    figures: dict[int, dict[str, float | None]] = {pk: {} for pk in ids}
    for period, floor in ((HOUR, _hour(now)), (DAY, _day(now))):
        windows = [(label, n) for label, p, n in UPTIME_WINDOWS if p == period]
        unit = dt.timedelta(hours=1) if period == HOUR else dt.timedelta(days=1)
        sums = {}
        for label, n in windows:
            since = Q(start__gte=floor - (n - 1) * unit)
            sums[f"s_{label}"] = Sum("samples", filter=since)
            sums[f"u_{label}"] = Sum("up_samples", filter=since)
        widest = max(n for _, n in windows)
        rows = (
            ProbeRollup.objects.filter(
                probe_id__in=ids,
                period=period,
                start__gte=floor - (widest - 1) * unit,
                start__lte=floor,
            )
            .values("probe_id")
            .annotate(**sums)
        )
        found = {row["probe_id"]: row for row in rows}
        for pk in ids:
            row = found.get(pk, {})
            for label, _ in windows:
                figures[pk][label] = _ratio(row.get(f"u_{label}"), row.get(f"s_{label}"))
    # In the order the labels were declared.
    order = [label for label, _, _ in UPTIME_WINDOWS]
    return {pk: {label: f[label] for label in order} for pk, f in figures.items()}


def probe_dashboard(now: dt.datetime) -> list[ProbeStatus]:
    """Each active probe: status now, uptime (24h/7d from hourly rollups, 30d/90d from daily
    ones; None without data), hourly p50/p95 over 7 days (168 points, None for gaps) and 90 daily
    bars. Five queries whatever the number of probes or samples."""
    probes = list(Probe.objects.filter(is_active=True).select_related("component", "open_incident"))
    if not probes:
        return []
    ids = [p.pk for p in probes]
    uptimes = _uptimes(ids, now)

    first_hour = _hour(now) - dt.timedelta(hours=LATENCY_HOURS - 1)
    hours = [first_hour + dt.timedelta(hours=i) for i in range(LATENCY_HOURS)]
    latency: dict[int, dict[dt.datetime, tuple]] = defaultdict(dict)
    for pk, start, p50, p95 in ProbeRollup.objects.filter(
        probe_id__in=ids, period=HOUR, start__gte=first_hour, start__lte=_hour(now)
    ).values_list("probe_id", "start", "p50_ms", "p95_ms"):
        latency[pk][start] = (p50, p95)

    today = _day(now)
    daily: dict[int, dict[dt.date, tuple[int, int]]] = defaultdict(dict)
    for pk, start, samples, up in ProbeRollup.objects.filter(
        probe_id__in=ids,
        period=DAY,
        start__gte=today - dt.timedelta(days=BAR_DAYS - 1),
        start__lte=today,
    ).values_list("probe_id", "start", "samples", "up_samples"):
        daily[pk][start.date()] = (samples, up)

    shown = []
    for probe in probes:
        points = latency[probe.pk]
        incident = probe.open_incident
        shown.append(
            ProbeStatus(
                probe=probe,
                status=probe.status_at(now),
                uptime=uptimes[probe.pk],
                latency=[LatencyPoint(h, *points.get(h, (None, None))) for h in hours],
                bars=_bars(daily[probe.pk], today, BAR_DAYS),
                consider_resolving=bool(
                    incident and incident.is_open and probe.recovered_at is not None
                ),
            )
        )
    return shown
