"""Shared fixtures: a user per role, an API key each, and API clients acting as them."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from accounts import roles
from accounts.services import apikey_create
from releases.models import Component

UTC = dt.UTC


def _user(django_user_model, username: str, group: str | None = None, *, staff=False):
    user = django_user_model.objects.create_user(
        username=username,
        password="pw-" + username,
        email=f"{username}@example.com",
        is_staff=staff,
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def engineer(django_user_model):
    return _user(django_user_model, "erin", roles.RELEASE_ENGINEERS, staff=True)


@pytest.fixture
def manager(django_user_model):
    return _user(django_user_model, "morgan", roles.SENIOR_MANAGEMENT, staff=True)


@pytest.fixture
def manager2(django_user_model):
    return _user(django_user_model, "max", roles.SENIOR_MANAGEMENT, staff=True)


@pytest.fixture
def operator(django_user_model):
    return _user(django_user_model, "opal", roles.OPERATIONS, staff=True)


@pytest.fixture
def customer(django_user_model):
    return _user(django_user_model, "casey")


@pytest.fixture
def outsider(django_user_model):
    return _user(django_user_model, "oscar")


def _client_for(user) -> APIClient:
    _, plaintext = apikey_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    client.user = user
    return client


@pytest.fixture
def engineer_api(engineer):
    return _client_for(engineer)


@pytest.fixture
def manager_api(manager):
    return _client_for(manager)


@pytest.fixture
def operator_api(operator):
    return _client_for(operator)


@pytest.fixture
def customer_api(customer):
    return _client_for(customer)


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def api_component(db):
    return Component.objects.create(slug="items-api", name="Items API", kind=Component.Kind.API)


@pytest.fixture
def client_component(db):
    return Component.objects.create(slug="js-client", name="JS client", kind=Component.Kind.CLIENT)


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


@pytest.fixture
def make_release(engineer, api_component):
    """Schedule a release through the service (regular, Wednesday's window, 60 minutes)."""
    from releases import services

    counter = iter(range(1, 10_000))

    def make(**overrides):
        values = {
            "by": engineer,
            "component": api_component,
            "version": f"1.{next(counter)}.0",
            "title": "Faster search",
            "scheduled_start": WED_WINDOW,
            "expected_duration_minutes": 60,
            "items": [
                {"title": "Search is faster", "type": "changed"},
                {"title": "Typo in errors", "type": "fixed", "public": False},
            ],
            "at": NOW,
        }
        values.update(overrides)
        return services.release_create(**values)

    return make


# Row locks (select_for_update) do nothing on SQLite: concurrency tests run on PostgreSQL only.
# serialized_rollback restores what migrations created (roles, default policy) after the flush.
postgres_only = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="select_for_update() is a no-op on SQLite; concurrency is tested on PostgreSQL",
)
threaded_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def _migration_data(request):
    """Transactional tests end with a flush, which takes what the data migrations made with
    it (pytest-django's serialized rollback does not cover the live server): put it back."""
    marker = request.node.get_closest_marker("django_db")
    transactional = marker is not None and marker.kwargs.get("transaction")
    if not (transactional or "live_server" in request.fixturenames):
        return
    request.getfixturevalue("transactional_db")
    import importlib

    from django.apps import apps

    from releases.models import RulesRevision, WindowPolicy

    roles.grant(apps)  # the groups and their permissions, from the one table
    RulesRevision.objects.get_or_create(pk=1)
    if not WindowPolicy.objects.exists():
        importlib.import_module("releases.migrations.0002_default_policy_and_permissions").forwards(
            apps, None
        )
    from audit import services as audit

    audit.baseline()  # as after migrate: the rows put back are known to the log
