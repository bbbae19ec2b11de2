"""Reads that matter: the window calendar as the database defines it."""

from __future__ import annotations

import threading
import uuid

from django.db import connection

from releases.models import Component, Freeze, RulesRevision, WindowPolicy
from releases.windows import WindowCalendar

# Per process: (revision token, calendar). Rebuilt when the token changes (see RulesRevision).
_cached: tuple[uuid.UUID, WindowCalendar] | None = None
_lock = threading.Lock()


def load_window_calendar() -> WindowCalendar:
    """The engine over every policy and freeze, straight from the database (four queries)."""
    return WindowCalendar(
        [p.to_engine() for p in WindowPolicy.objects.with_scope()],
        [f.to_engine() for f in Freeze.objects.with_scope()],
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
    """The current calendar and whether the component exists, in one query (the gate's path)."""
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
    # Raw SQL returns the backend's own UUID form (a uuid on PostgreSQL, hex text on SQLite).
    revision = token if isinstance(token, uuid.UUID) else uuid.UUID(token)
    return _calendar_at(revision), bool(exists)
