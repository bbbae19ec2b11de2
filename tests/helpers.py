"""What tests share besides fixtures: the instants they run at, users and clients by role,
and the markers for PostgreSQL-only and multi-threaded tests."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from accounts.services import apikey_create

UTC = dt.UTC


def make_user(django_user_model, username: str, group: str | None = None, *, staff=False):
    user = django_user_model.objects.create_user(
        username=username,
        password="pw-" + username,
        email=f"{username}@example.com",
        is_staff=staff,
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def client_for(user) -> APIClient:
    """An API client acting as ``user`` through a key of its own (None: anonymous)."""
    client = APIClient()
    client.user = user
    if user is not None:
        _, plaintext = apikey_create(user=user, name="tests")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# A Monday evening; the next windows are Wed 2 Dec, Thu 3 Dec, Fri 4 Dec, 08:00–11:00 UTC (PST).
NOW = dt.datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
WED_WINDOW = dt.datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


SLOT = (utc(2026, 12, 1, 14), utc(2026, 12, 1, 16))  # Tuesday afternoon: no regular window
IN_SLOT = utc(2026, 12, 1, 14, 30)


def ask(release, by, **overrides):
    """File an approval request through the service (high urgency, SLOT, at NOW)."""
    from approvals import services

    values = {
        "urgency": "high",
        "justification": "Connection leak takes the API down nightly.",
        "slot_start": SLOT[0],
        "slot_end": SLOT[1],
        "at": NOW,
    }
    values.update(overrides)
    return services.request_create(release=release, by=by, **values)


# Row locks (select_for_update) do nothing on SQLite: concurrency tests run on PostgreSQL only.
# serialized_rollback restores what migrations created (roles, default policy) after the flush.
postgres_only = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="select_for_update() is a no-op on SQLite; concurrency is tested on PostgreSQL",
)
threaded_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def store_rows_outside_the_range(component, owner) -> None:
    """Rows no form or API accepts any more, as an old database or a script may hold them: a
    freeze ending in 9999, a policy from year 1 with a billion-minute window, a release in 9999.
    No read may fail because of them."""
    from releases.models import Freeze, Release, WindowPolicy

    Freeze.objects.create(
        reason="Forever",
        starts_at=utc(2026, 1, 1),
        ends_at=dt.datetime(9999, 12, 31, tzinfo=dt.UTC),
    )
    WindowPolicy.objects.create(
        name="Odd", rrule="FREQ=DAILY", start_time=dt.time(23), duration_minutes=10**9,
        zone="Pacific/Kiritimati", effective_from=dt.date(1, 1, 1),
        effective_until=dt.date(9999, 12, 31),
    )  # fmt: skip
    Release.objects.create(
        component=component, version="9.9.9", title="Far", kind="exceptional",
        scheduled_start=dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC),
        expected_duration_minutes=10**9, owner=owner, state="announced",
        public_from=utc(2026, 1, 1),
    )  # fmt: skip


def wait_until(condition, timeout: float, what: str, *, every: float = 0.2):
    """``condition()``'s first truthy value within ``timeout`` seconds, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
