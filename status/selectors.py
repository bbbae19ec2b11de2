"""Reads of the service's health, each with an explicit instant where the clock matters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Prefetch

from releases.models import Component
from releases.selectors import window_calendar
from releases.windows import Window
from status.models import Incident, IncidentUpdate, Level

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
