"""Reads that matter: the window calendar as the database defines it."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from django.db import connection

from lib import freshness
from releases import hooks
from releases.models import Component, Freeze, Release, RulesRevision, WindowPolicy
from releases.windows import Window, WindowCalendar

# Per process: (revision token, calendar). Rebuilt when the token changes (see RulesRevision).
_cached: tuple[uuid.UUID, WindowCalendar] | None = None
_lock = threading.Lock()


def load_window_calendar() -> WindowCalendar:
    """The engine over every policy, freeze and hold, straight from the database."""
    return WindowCalendar(
        [p.to_engine() for p in WindowPolicy.objects.with_scope()],
        [f.to_engine() for f in Freeze.objects.with_scope()],
        hooks.holds(),
    )


def _calendar_at(revision: uuid.UUID) -> WindowCalendar:
    global _cached
    cached = _cached
    if cached is not None and cached[0] == revision:
        return cached[1]
    with _lock:
        # The revision was read before the rules: these rules are that revision or newer, and
        # a newer one only makes the next call reload.
        calendar = load_window_calendar()
        _cached = (revision, calendar)
    return calendar


def window_calendar() -> WindowCalendar:
    """The current calendar: one query to check the revision, rebuilt only when rules changed."""
    revision = RulesRevision.objects.values_list("token", flat=True).get(pk=1)
    return _calendar_at(revision)


def window_calendar_for(component_slug: str) -> tuple[WindowCalendar, bool]:
    """The current calendar and whether the component exists (the gate's path): one query,
    or none while nothing has been committed since this thread last asked (lib.freshness)."""
    revision, exists = freshness.remembered(
        ("gate", component_slug), lambda: _revision_and_exists(component_slug)
    )
    return _calendar_at(revision), exists


def _revision_and_exists(component_slug: str) -> tuple[uuid.UUID, bool]:
    # Raw SQL: the gate answers every pipeline's every deploy, and this is its only query.
    revision_table = RulesRevision._meta.db_table
    component_table = Component._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT token FROM {revision_table} WHERE id = 1), "  # noqa: S608 - model names
            f"EXISTS (SELECT 1 FROM {component_table} WHERE slug = %s)",
            [component_slug],
        )
        token, exists = cursor.fetchone()
    if token is None:  # a database flushed since it was migrated: the row comes back
        token = RulesRevision.objects.get_or_create(pk=1)[0].token
    # Raw SQL returns the backend's own UUID form (a uuid on PostgreSQL, hex text on SQLite).
    return token if isinstance(token, uuid.UUID) else uuid.UUID(token), bool(exists)


def last_window_change(now: dt.datetime) -> dt.datetime | None:
    """The latest instant up to ``now`` at which some component's window opened or closed.

    Pages that say "open" or "closed now" put it in their validator: the same rules and the
    same latest change mean the same answer.
    """
    return window_changes(now)[0]


def window_changes(now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime]:
    """The latest instant up to ``now`` at which some component's window opened or closed, and
    the first after it (or ``now + LOOKBACK`` when none comes before: ask again then). Between
    the two, ``last_window_change`` answers the same."""
    calendar = window_calendar()
    latest, soonest = None, now + LOOKBACK
    for slug in Component.objects.values_list("slug", flat=True):
        for window in calendar.windows(now - LOOKBACK, soonest, slug):
            for edge in (window.start, window.end):
                if edge <= now and (latest is None or edge > latest):
                    latest = edge
                elif now < edge < soonest:
                    soonest = edge
    return latest, soonest


# A weekly rule opens and closes at least once in eight days; a longer gap changes nothing.
LOOKBACK = dt.timedelta(days=8)
DESK_SPAN = dt.timedelta(weeks=4)


def upcoming_windows(now: dt.datetime, span: dt.timedelta = DESK_SPAN) -> list[Window]:
    """Every component's open windows overlapping [now, now + span), sorted, duplicates once."""
    calendar = window_calendar()
    found = {
        (w.start, w.end): w
        for slug in Component.objects.values_list("slug", flat=True)
        for w in calendar.windows(now, now + span, slug)
    }
    return [found[key] for key in sorted(found)]


def scheduled_window(release: Release) -> tuple[dt.datetime, dt.datetime]:
    """Start and end of the window a release is scheduled into; for an exceptional release (or
    a regular one whose window the rules no longer hold) its own slot."""
    if release.kind == Release.Kind.REGULAR:
        window = window_calendar().window_at(release.scheduled_start, release.component.slug)
        if window is not None:
            return window.start, window.end
    return release.scheduled_start, release.expected_end
