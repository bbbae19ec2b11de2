"""The per-process window calendar is never stale: every write path moves the revision."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases import selectors
from releases.models import Component, Freeze, RulesRevision, WindowPolicy
from releases.serializers import DecisionSerializer, decision_payload
from releases.services import rules_changed
from tests.helpers import utc

pytestmark = pytest.mark.django_db
GATE = "/api/v1/gate/"
THURSDAY_1AM_PST = {"component": "items-api", "at": "2026-11-26T09:00:00Z"}


def decision(client):
    return client.get(GATE, THURSDAY_1AM_PST).json()["decision"]


def test_a_freeze_saved_from_a_shell_applies_to_the_very_next_gate_call(anon_api, api_component):
    assert decision(anon_api) == "allow"  # the calendar is now cached in this process
    freeze = Freeze.objects.create(
        reason="shell", starts_at=utc(2026, 11, 26), ends_at=utc(2026, 11, 27)
    )
    assert decision(anon_api) == "deny"
    freeze.delete()
    assert decision(anon_api) == "allow"


def test_scope_changes_through_many_to_many_apply_at_once(
    anon_api, api_component, client_component
):
    freeze = Freeze.objects.create(
        reason="client only",
        starts_at=utc(2026, 11, 26),
        ends_at=utc(2026, 11, 27),
        applies_to_all=False,
    )
    freeze.components.add(client_component)
    assert decision(anon_api) == "allow"
    freeze.components.add(api_component)
    assert decision(anon_api) == "deny"
    freeze.components.remove(api_component)
    assert decision(anon_api) == "allow"


def test_renaming_a_component_moves_its_scope(anon_api, api_component):
    policy = WindowPolicy.objects.get()
    policy.applies_to_all = False
    policy.save()
    policy.components.add(api_component)
    assert decision(anon_api) == "allow"
    api_component.slug = "renamed"
    api_component.save()
    assert (
        anon_api.get(GATE, {**THURSDAY_1AM_PST, "component": "renamed"}).json()["decision"]
        == "allow"
    )


def test_queryset_update_needs_rules_changed(anon_api):
    assert decision_for_policy_hour(anon_api) == "allow"
    WindowPolicy.objects.update(start_time=dt.time(12))  # no signal
    rules_changed()
    assert decision_for_policy_hour(anon_api) == "deny"


def decision_for_policy_hour(client):
    Component.objects.get_or_create(slug="items-api", defaults={"name": "Items", "kind": "api"})
    return decision(client)


def test_a_warm_gate_decision_costs_one_query(anon_api, api_component):
    anon_api.get(GATE, THURSDAY_1AM_PST)
    with CaptureQueriesContext(connection) as ctx:
        assert decision(anon_api) == "allow"
    assert len(ctx.captured_queries) == 1


def test_each_write_gives_a_new_revision_token():
    before = RulesRevision.objects.get().token
    Freeze.objects.create(reason="x", starts_at=utc(2026, 1, 1), ends_at=utc(2026, 1, 2))
    assert RulesRevision.objects.get().token != before


def test_the_gate_payload_is_what_the_documented_serializer_renders(api_component):
    Freeze.objects.create(
        reason="scoped away",
        starts_at=utc(2026, 11, 1),
        ends_at=utc(2026, 12, 1),
        applies_to_all=False,
    )
    calendar = selectors.window_calendar()
    for at in (utc(2026, 11, 26, 9), utc(2026, 11, 23, 18)):
        made = calendar.decide(at, "items-api")
        assert decision_payload(made) == dict(DecisionSerializer(made).data)
