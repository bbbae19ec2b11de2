"""Shared fixtures: a user per role, an API key each, and API clients acting as them."""

from __future__ import annotations

import datetime as dt

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
