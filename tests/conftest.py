"""Shared fixtures: a user per role, an API key each, and API clients acting as them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts import roles
from releases.models import Component
from tests.helpers import NOW, WED_WINDOW, client_for, make_user


@pytest.fixture
def engineer(django_user_model):
    return make_user(django_user_model, "erin", roles.RELEASE_ENGINEERS, staff=True)


@pytest.fixture
def manager(django_user_model):
    return make_user(django_user_model, "morgan", roles.SENIOR_MANAGEMENT, staff=True)


@pytest.fixture
def manager2(django_user_model):
    return make_user(django_user_model, "max", roles.SENIOR_MANAGEMENT, staff=True)


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, "opal", roles.OPERATIONS, staff=True)


@pytest.fixture
def customer(django_user_model):
    return make_user(django_user_model, "casey")


@pytest.fixture
def outsider(django_user_model):
    return make_user(django_user_model, "oscar")


@pytest.fixture
def engineer_api(engineer):
    return client_for(engineer)


@pytest.fixture
def manager_api(manager):
    return client_for(manager)


@pytest.fixture
def operator_api(operator):
    return client_for(operator)


@pytest.fixture
def customer_api(customer):
    return client_for(customer)


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def api_component(db):
    return Component.objects.create(slug="items-api", name="Items API", kind=Component.Kind.API)


@pytest.fixture
def client_component(db):
    return Component.objects.create(slug="js-client", name="JS client", kind=Component.Kind.CLIENT)


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


@pytest.fixture(autouse=True)
def _own_page_cache(monkeypatch):
    """Each test keeps public pages under its own keys: test databases repeat the same
    states (and ETags), and the cache (CI's Redis) outlives a test."""
    import uuid

    from notes import http

    monkeypatch.setattr(http, "KEY_SALT", f"{uuid.uuid4().hex}:")


@pytest.fixture(autouse=True)
def _migration_data(request):
    """Transactional tests end with a flush, which takes what the data migrations made with
    it (pytest-django's serialized rollback does not cover the live server): put it back."""
    marker = request.node.get_closest_marker("django_db")
    transactional = marker is not None and marker.kwargs.get("transaction")
    if not (transactional or "live_server" in request.fixturenames):
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    from accounts.models import CredentialsRevision
    from releases.defaults import DEFAULT_POLICY
    from releases.models import RulesRevision, WindowPolicy

    roles.grant(apps)  # the groups and their permissions, from the one table
    RulesRevision.objects.get_or_create(pk=1)
    CredentialsRevision.objects.get_or_create(pk=1)
    if not WindowPolicy.objects.exists():
        WindowPolicy.objects.create(**DEFAULT_POLICY)
    from audit import services as audit

    audit.baseline()  # as after migrate: the rows put back are known to the log
