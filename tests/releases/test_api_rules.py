"""Components, policies and freezes over the API: permissions, validation, atomicity, queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.models import Component, Freeze, WindowPolicy

pytestmark = pytest.mark.django_db

POLICIES = "/api/v1/policies/"
FREEZES = "/api/v1/freezes/"

VALID_POLICY = {
    "name": "Tuesday evenings",
    "rrule": "FREQ=WEEKLY;BYDAY=TU",
    "start_time": "18:00",
    "duration_minutes": 120,
    "zone": "Europe/London",
    "effective_from": "2026-12-01",
}


def test_a_new_scoped_policy_takes_effect_once_senior_management_approves(
    engineer_api, manager_api, api_component
):
    response = engineer_api.post(
        POLICIES, {**VALID_POLICY, "applies_to_all": False, "components": ["items-api"]}
    )
    assert response.status_code == 202, response.json()
    change = response.json()
    assert (change["status"], change["payload"]["components"]) == ("pending", ["items-api"])
    assert not WindowPolicy.objects.filter(name="Tuesday evenings").exists()
    approved = manager_api.post(f"/api/v1/rule-changes/{change['id']}/approve/")
    assert approved.json()["status"] == "applied"
    policy = WindowPolicy.objects.get(name="Tuesday evenings")
    assert [c.slug for c in policy.components.all()] == ["items-api"]
    assert engineer_api.get(f"{POLICIES}{policy.pk}/").json()["components"] == ["items-api"]


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"rrule": "FREQ=WEEKLY;BYDAY=TUE"}, "rrule", "BYDAY"),
        ({"rrule": "FREQ=MINUTELY"}, "rrule", "MINUTELY"),
        ({"zone": "Mars/Olympus_Mons"}, "zone", "Mars/Olympus_Mons"),
        ({"duration_minutes": 0}, "duration_minutes", "longer than zero"),
        ({"duration_minutes": -10}, "duration_minutes", "greater than or equal to 0"),
        ({"duration_minutes": 7 * 24 * 60}, "duration_minutes", "shortest gap"),
        ({"effective_until": "2026-11-01"}, "effective_until", "before"),
        ({"applies_to_all": False}, "components", "List the components"),
        (
            {"applies_to_all": False, "components": ["ghost"]},
            "components",
            "Unknown component 'ghost'",
        ),
        ({"start_time": "25:00"}, "start_time", "is not a wall-clock time"),
        ({"start_time": "00:00+05:00"}, "start_time", "without an offset"),
    ],
)
def test_invalid_policy_is_a_400_naming_the_field_and_nothing_is_saved(
    engineer_api, api_component, change, field, fragment
):
    before = WindowPolicy.objects.count()
    response = engineer_api.post(POLICIES, {**VALID_POLICY, **change})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert fragment in " ".join(response.json()["errors"][field])
    assert WindowPolicy.objects.count() == before


def test_invalid_update_leaves_the_policy_unchanged(engineer_api):
    policy = WindowPolicy.objects.get()
    response = engineer_api.patch(
        f"{POLICIES}{policy.pk}/", {"zone": "Nowhere/Land", "name": "renamed"}
    )
    assert response.status_code == 400
    policy.refresh_from_db()
    assert (policy.zone, policy.name) == ("America/Los_Angeles", "Regular release windows")


def test_patch_validates_against_the_stored_values(engineer_api):
    # The default runs WE,TH,FR (a one-day gap): 25 hours cannot fit, whatever else is unchanged.
    policy = WindowPolicy.objects.get()
    response = engineer_api.patch(f"{POLICIES}{policy.pk}/", {"duration_minutes": 25 * 60})
    assert response.status_code == 400
    assert "shortest gap" in response.json()["errors"]["duration_minutes"][0]


def test_only_release_engineers_and_managers_change_rules(customer_api, manager_api, anon_api):
    response = customer_api.post(POLICIES, VALID_POLICY)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Only release engineers and senior managers change the release rules."
    )
    assert customer_api.get(POLICIES).status_code == 200
    assert manager_api.post(POLICIES, VALID_POLICY).status_code == 202  # proposed, not in force
    unauthenticated = anon_api.get(POLICIES)
    assert unauthenticated.status_code == 401
    assert unauthenticated["WWW-Authenticate"] == "Bearer"
    assert WindowPolicy.objects.count() == 1


def test_one_off_freeze_needs_an_aware_start_before_its_end(engineer_api):
    ok = engineer_api.post(
        FREEZES,
        {
            "reason": "Year end",
            "starts_at": "2026-12-24T00:00:00-08:00",
            "ends_at": "2027-01-02T00:00:00-08:00",
        },
    )
    assert ok.status_code == 201, ok.json()
    assert ok.json()["starts_at"] == "2026-12-24T08:00:00Z"
    backwards = engineer_api.post(
        FREEZES,
        {"reason": "oops", "starts_at": "2027-01-02T00:00:00Z", "ends_at": "2026-12-24T00:00:00Z"},
    )
    assert backwards.json()["errors"]["ends_at"] == ["The end must be after the start."]
    naive = engineer_api.post(
        FREEZES,
        {"reason": "naive", "starts_at": "2027-01-02T00:00:00", "ends_at": "2027-01-03T00:00:00Z"},
    )
    assert "no UTC offset" in naive.json()["errors"]["starts_at"][0]
    missing = engineer_api.post(FREEZES, {"reason": "nothing"})
    assert set(missing.json()["errors"]) == {"starts_at"}  # no end: until lifted
    assert Freeze.objects.count() == 1


def test_recurring_freeze_names_its_missing_fields(engineer_api):
    response = engineer_api.post(FREEZES, {"reason": "Fridays", "rrule": "FREQ=WEEKLY;BYDAY=FR"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"start_time", "duration_minutes", "effective_from"}
    ok = engineer_api.post(
        FREEZES,
        {
            "reason": "Fridays",
            "rrule": "FREQ=WEEKLY;BYDAY=FR",
            "start_time": "00:00",
            "duration_minutes": 1440,
            "effective_from": "2026-01-01",
        },
    )
    assert ok.status_code == 201, ok.json()


def test_component_detail_by_slug_and_unknown_slug_is_a_problem(customer_api, api_component):
    assert customer_api.get("/api/v1/components/items-api/").json() == {
        "slug": "items-api",
        "name": "Items API",
        "kind": "api",
        "current_version": None,
    }
    missing = customer_api.get("/api/v1/components/ghost/")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", [POLICIES, FREEZES, "/api/v1/components/"])
def test_list_endpoints_run_a_constant_number_of_queries(
    customer_api, url, django_assert_max_num_queries
):
    components = [
        Component.objects.create(slug=f"c{i}", name=f"C{i}", kind="api") for i in range(3)
    ]

    def add(n):
        for i in range(n):
            p = WindowPolicy.objects.create(
                name=f"p{WindowPolicy.objects.count()}-{i}",
                rrule="FREQ=WEEKLY",
                start_time="00:00",
                duration_minutes=60,
                effective_from="2026-01-01",
                applies_to_all=False,
            )
            p.components.set(components)
            f = Freeze.objects.create(
                reason="f",
                starts_at="2026-01-01T00:00Z",
                ends_at="2026-01-02T00:00Z",
                applies_to_all=False,
            )
            f.components.set(components)
            Component.objects.create(slug=f"x{Component.objects.count()}", name="x", kind="api")

    customer_api.get(url)  # the key's first use records last_used_at; measure after it
    add(2)
    few = _queries(customer_api, url)
    add(20)
    many = _queries(customer_api, url)
    assert few == many
    with django_assert_max_num_queries(few):
        customer_api.get(url)
