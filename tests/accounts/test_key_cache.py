"""A key costs one small query, and what a process remembers of it never outlives a change:
revoked, its user deactivated or moved out of a role, the very next request knows."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts import authentication
from accounts.models import CredentialsRevision
from accounts.roles import RELEASE_ENGINEERS
from accounts.services import apikey_create, apikey_revoke
from tests.accounts.test_api_keys import bearer

pytestmark = pytest.mark.django_db
GATE = "/api/v1/gate/?component=items-api"


@pytest.fixture(autouse=True)
def _fresh_process():
    authentication._resolved.clear()
    yield
    authentication._resolved.clear()


def _queries(client, path):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return response, [q["sql"] for q in queries]


def test_a_known_key_costs_the_gate_one_small_query(engineer, api_component):
    _, plaintext = apikey_create(user=engineer, name="pipeline")
    client = bearer(plaintext)
    first, _ = _queries(client, GATE)  # resolves the key, its user and roles; writes last_used
    again, sql = _queries(client, GATE)
    assert first.status_code == again.status_code == 200
    assert len(sql) == 2, sql  # the credentials revision, then the gate's own query
    assert "credentials" in sql[0].lower()


def test_a_revoked_key_fails_on_the_next_request_though_the_process_knew_it(engineer):
    key, plaintext = apikey_create(user=engineer, name="pipeline")
    client = bearer(plaintext)
    assert client.get("/api/v1/policies/").status_code == 200
    before = CredentialsRevision.objects.get().token
    apikey_revoke(key=key)
    assert CredentialsRevision.objects.get().token != before
    assert client.get("/api/v1/policies/").status_code == 401


def test_an_owner_deactivated_or_out_of_the_role_loses_its_rights_at_once(engineer, make_release):
    _, plaintext = apikey_create(user=engineer, name="pipeline")
    client = bearer(plaintext)
    assert client.get("/api/v1/releases/").status_code == 200  # the release team's list
    engineer.groups.remove(Group.objects.get(name=RELEASE_ENGINEERS))
    assert client.get("/api/v1/releases/").status_code == 403
    engineer.groups.add(Group.objects.get(name=RELEASE_ENGINEERS))
    assert client.get("/api/v1/releases/").status_code == 200
    engineer.is_active = False
    engineer.save()
    assert client.get("/api/v1/releases/").status_code == 401
    engineer.is_active = True
    engineer.save()
    Group.objects.get(name=RELEASE_ENGINEERS).delete()  # the role itself goes
    assert client.get("/api/v1/releases/").status_code == 403


def test_a_request_changing_its_user_object_changes_nothing_remembered(engineer):
    _, plaintext = apikey_create(user=engineer, name="pipeline")
    client = bearer(plaintext)
    client.get("/api/v1/policies/")
    [(_, key)] = authentication._resolved.values()
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    user, _ = authentication.ApiKeyAuthentication().authenticate(request)
    user.is_superuser = True  # what a careless view might do to request.user
    assert key.user.is_superuser is False


def test_the_gates_fast_answer_is_what_the_api_renders(engineer, api_component):
    """The gate answers a good GET outside DRF's cycle: byte for byte what DRF would render,
    and one query for an anonymous caller."""
    from django.http import QueryDict
    from rest_framework.renderers import JSONRenderer
    from rest_framework.test import APIClient

    from releases import gate

    query = "component=items-api&at=2026-11-26T09:00:00Z"
    APIClient().get(f"/api/v1/gate/?{query}")  # this process builds its calendar once
    anonymous, sql = _queries(APIClient(), f"/api/v1/gate/?{query}")
    expected = JSONRenderer().render(gate.ask(QueryDict(query), team=False))
    assert anonymous.status_code == 200 and anonymous.content == expected
    assert anonymous["Content-Type"] == "application/json" and len(sql) == 1
    _, plaintext = apikey_create(user=engineer, name="pipeline")
    keyed = bearer(plaintext).get(f"/api/v1/gate/?{query}")
    assert keyed.content == JSONRenderer().render(gate.ask(QueryDict(query), team=True))
