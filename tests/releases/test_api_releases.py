"""Releases over the API: create, edit with If-Match, transitions, events, lists, the gate."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases import services
from releases.models import Release, ReleaseItem
from tests.helpers import NOW, WED_WINDOW, postgres_only, threaded_db

pytestmark = pytest.mark.django_db
RELEASES = "/api/v1/releases/"

NEW = {
    "component": "items-api",
    "version": "2.0.0",
    "title": "Bulk export",
    "scheduled_start": "2026-12-02T00:15:00-08:00",
    "expected_duration_minutes": 45,
    "items": [
        {"title": "Export in bulk", "type": "added"},
        {"title": "Old export", "type": "deprecated"},
    ],
}


@pytest.fixture(autouse=True)
def monday_evening():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_an_engineer_schedules_a_release_with_items(engineer_api, api_component):
    response = engineer_api.post(RELEASES, NEW)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["owner"], body["scheduled_start"]) == (
        "planned",
        "erin",
        "2026-12-02T08:15:00Z",
    )
    assert body["expected_end"] == "2026-12-02T09:00:00Z"
    assert [(i["title"], i["planned"], i["shipped"]) for i in body["items"]] == [
        ("Export in bulk", True, False),
        ("Old export", True, False),
    ]


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"component": "ghost"}, "component", "Unknown component 'ghost'"),
        ({"scheduled_start": "2026-12-02T08:15:00"}, "scheduled_start", "no UTC offset"),
        ({"scheduled_start": "2026-11-27T08:15:00Z"}, "scheduled_start", "in the past"),
        (
            {"scheduled_start": "2026-12-01T08:15:00Z"},
            "scheduled_start",
            "outside every release window",
        ),
        ({"expected_duration_minutes": 300}, "expected_duration_minutes", "No release window"),
        (
            {"expected_duration_minutes": 0},
            "expected_duration_minutes",
            "greater than or equal to 1",
        ),
        ({"version": "  "}, "version", "may not be blank"),
        ({"kind": "urgent"}, "kind", "not a valid choice"),
        ({"owner": "nobody"}, "owner", "No user called 'nobody'"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_saved(
    engineer_api, api_component, change, field, fragment
):
    response = engineer_api.post(RELEASES, {**NEW, **change})
    assert response.status_code == 400
    assert fragment in " ".join(response.json()["errors"][field])
    assert not Release.objects.exists() and not ReleaseItem.objects.exists()


def test_a_duplicate_version_is_a_400(engineer_api, api_component):
    assert engineer_api.post(RELEASES, NEW).status_code == 201
    response = engineer_api.post(RELEASES, NEW)
    assert response.json()["errors"] == {"version": ["items-api already has a release 2.0.0."]}
    assert Release.objects.count() == 1 and ReleaseItem.objects.count() == 2


def test_only_release_engineers_write_releases(
    customer_api, manager_api, engineer_api, api_component
):
    for client in (customer_api, manager_api):
        assert client.post(RELEASES, NEW).status_code == 403
    release_id = engineer_api.post(RELEASES, NEW).json()["id"]
    assert manager_api.get(f"{RELEASES}{release_id}/").status_code == 200
    refused = manager_api.post(f"{RELEASES}{release_id}/announce/")
    assert refused.status_code == 403
    assert Release.objects.get().state == "planned"


def test_customers_never_read_releases_or_items_only_the_public_notes(
    customer_api, engineer_api, api_component
):
    release_id = engineer_api.post(
        RELEASES,
        {
            **NEW,
            "items": [{"title": "Internal refactor", "public": False}, {"title": "Bulk export"}],
        },
    ).json()["id"]
    engineer_api.post(f"{RELEASES}{release_id}/announce/")
    for url in (
        RELEASES,
        f"{RELEASES}{release_id}/",
        f"{RELEASES}{release_id}/events/",
        "/api/v1/items/",
    ):
        response = customer_api.get(url)
        assert response.status_code == 403, url
        assert "Internal refactor" not in response.content.decode()
    with time_machine.travel(WED_WINDOW, tick=False):  # public from its window's opening
        notes = customer_api.get("/api/v1/notes/").content.decode()
    assert "Bulk export" in notes and "Internal refactor" not in notes


def test_transitions_move_the_state_and_a_refusal_is_a_409_with_every_reason(
    engineer_api, api_component, monday_evening
):
    release_id = engineer_api.post(RELEASES, NEW).json()["id"]
    refused = engineer_api.post(f"{RELEASES}{release_id}/start/")
    assert refused.status_code == 409
    assert refused["Content-Type"] == "application/problem+json"
    assert [r["code"] for r in refused.json()["reasons"]] == ["invalid_state", "window_closed"]
    assert engineer_api.post(f"{RELEASES}{release_id}/announce/").json()["state"] == "announced"
    monday_evening.move_to(WED_WINDOW + dt.timedelta(minutes=20))
    assert engineer_api.post(f"{RELEASES}{release_id}/start/").json()["state"] == "in_progress"
    items = ReleaseItem.objects.filter(release_id=release_id).order_by("id")
    done = engineer_api.post(f"{RELEASES}{release_id}/complete/", {"shipped": [items[0].pk]})
    assert done.json()["state"] == "released"
    assert [i["shipped"] for i in done.json()["items"]] == [True, False]
    no_reason = engineer_api.post(f"{RELEASES}{release_id}/rollback/", {})
    assert no_reason.status_code == 400
    assert no_reason.json()["errors"] == {"reason": ["Say why the release is rolled back."]}
    rolled = engineer_api.post(f"{RELEASES}{release_id}/rollback/", {"reason": "5xx spike"})
    assert rolled.json()["state"] == "rolled_back"
    assert rolled.json()["rollback"]["reason"] == "5xx spike"
    events = engineer_api.get(f"{RELEASES}{release_id}/events/").json()["results"]
    assert [e["action"] for e in events] == [
        "scheduled",
        "announce",
        "start",
        "complete",
        "rollback",
    ]
    assert events[-1]["actor"] == "erin"


def test_edits_honour_if_match(engineer_api, api_component):
    release_id = engineer_api.post(RELEASES, NEW).json()["id"]
    etag = engineer_api.get(f"{RELEASES}{release_id}/")["ETag"]
    ok = engineer_api.patch(f"{RELEASES}{release_id}/", {"title": "Export"}, HTTP_IF_MATCH=etag)
    assert ok.status_code == 200 and ok["ETag"] != etag
    stale = engineer_api.patch(f"{RELEASES}{release_id}/", {"title": "Lost"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["type"] == "urn:nightshift:problem:precondition-failed"
    assert Release.objects.get().title == "Export"
    moved = engineer_api.patch(
        f"{RELEASES}{release_id}/",
        {"scheduled_start": "2026-12-03T08:00:00Z"},
        HTTP_IF_MATCH=ok["ETag"],
    )
    assert moved.json()["scheduled_start"] == "2026-12-03T08:00:00Z"
    bad_move = engineer_api.patch(
        f"{RELEASES}{release_id}/", {"scheduled_start": "2026-12-01T08:00:00Z"}
    )
    assert "outside every release window" in bad_move.json()["errors"]["scheduled_start"][0]


def test_items_can_be_added_after_the_announcement_and_are_not_planned(engineer_api, api_component):
    release_id = engineer_api.post(RELEASES, NEW).json()["id"]
    engineer_api.post(f"{RELEASES}{release_id}/announce/")
    response = engineer_api.post(
        "/api/v1/items/", {"release": release_id, "title": "Late", "type": "fixed"}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["planned"] is False
    item_id = response.json()["id"]
    assert (
        engineer_api.patch(f"/api/v1/items/{item_id}/", {"public": False}).json()["public"] is False
    )
    engineer_api.post(f"{RELEASES}{release_id}/cancel/", {"reason": "superseded"})
    final = engineer_api.patch(f"/api/v1/items/{item_id}/", {"title": "edited"})
    assert final.status_code == 409


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"component": "items-api"}, {"1.0.0", "1.1.0", "3.0.0"}),
        ({"component": "js-client"}, {"9.0.0"}),
        ({"state": "announced"}, {"1.1.0"}),
        ({"kind": "exceptional"}, {"3.0.0"}),
        ({"impact": "perceptible"}, {"9.0.0"}),
        ({"scheduled_after": "2026-12-03T00:00:00Z"}, {"1.1.0", "9.0.0"}),
        ({"scheduled_before": "2026-12-03T00:00:00Z"}, {"1.0.0", "3.0.0"}),
    ],
)
def test_the_list_filters(manager_api, make_release, engineer, client_component, query, expected):
    make_release(version="1.0.0")
    services.release_announce(
        release=make_release(version="1.1.0", scheduled_start=WED_WINDOW + dt.timedelta(days=1)),
        by=engineer,
        at=NOW,
    )
    make_release(
        version="3.0.0", kind="exceptional", scheduled_start=WED_WINDOW - dt.timedelta(hours=20)
    )
    make_release(
        version="9.0.0",
        component=client_component,
        impact="perceptible",
        scheduled_start=WED_WINDOW + dt.timedelta(days=2),
    )
    response = manager_api.get(RELEASES, query)
    assert {r["version"] for r in response.json()["results"]} == expected


def test_a_naive_filter_instant_is_a_400(manager_api, db):
    response = manager_api.get(RELEASES, {"scheduled_after": "2026-12-03T00:00:00"})
    assert response.status_code == 400
    assert "no UTC offset" in response.json()["errors"]["scheduled_after"][0]


def test_the_list_runs_a_constant_number_of_queries(manager_api, make_release, engineer):
    manager_api.get(RELEASES)  # the key's first use writes last_used_at

    def count(page_size):
        with CaptureQueriesContext(connection) as ctx:
            response = manager_api.get(RELEASES, {"page_size": page_size})
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json()["results"])

    released = make_release(version="0.1.0")
    for step in (services.release_announce,):
        step(release=released, by=engineer, at=NOW)
    few = count(2)
    for i in range(12):
        release = make_release(version=f"5.{i}.0", items=[{"title": f"item {n}"} for n in range(i)])
        if i % 3 == 0:
            services.release_announce(release=release, by=engineer, at=NOW)
    many = count(50)
    assert many[1] == 13 and few[1] == 1
    assert many[0] == few[0]


def test_the_component_shows_its_current_version(
    customer_api, make_release, engineer, monday_evening
):
    release = services.release_announce(release=make_release(version="4.0.0"), by=engineer, at=NOW)
    release = services.release_start(release=release, by=engineer, at=WED_WINDOW)
    services.release_complete(release=release, by=engineer, at=WED_WINDOW)
    assert customer_api.get("/api/v1/components/items-api/").json()["current_version"] == "4.0.0"


def test_the_gate_answers_for_a_release(engineer_api, make_release, engineer):
    release = services.release_announce(release=make_release(), by=engineer, at=NOW)
    inside = engineer_api.get(
        "/api/v1/gate/", {"release": release.pk, "at": "2026-12-02T08:10:00Z"}
    ).json()
    assert (inside["decision"], inside["reason"], inside["release"]) == (
        "allow",
        "in_window",
        release.pk,
    )
    assert inside["reasons"] == []
    late = engineer_api.get(
        "/api/v1/gate/", {"release": release.pk, "at": "2026-12-02T10:30:00Z"}
    ).json()
    assert (late["decision"], late["reason"]) == ("deny", "does_not_fit")
    exceptional = services.release_announce(
        release=make_release(
            kind="exceptional", scheduled_start=WED_WINDOW - dt.timedelta(hours=5)
        ),
        by=engineer,
        at=NOW,
    )
    body = engineer_api.get(
        "/api/v1/gate/", {"release": exceptional.pk, "at": "2026-12-02T08:10:00Z"}
    ).json()
    assert (body["decision"], body["reason"]) == ("deny", "not_authorized")


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"release": "999999"}, "release", "Unknown release 999999"),
        ({"release": "abc"}, "release", "not a release id"),
        ({"release": "{id}", "component": "js-client"}, "component", "is of 'items-api'"),
    ],
)
def test_the_gate_refuses_a_wrong_release(
    engineer_api, make_release, client_component, params, field, fragment
):
    release = make_release()
    params = {k: v.replace("{id}", str(release.pk)) for k, v in params.items()}
    response = engineer_api.get("/api/v1/gate/", params)
    assert response.status_code == 400
    assert fragment in response.json()["errors"][field][0]


@postgres_only
@threaded_db
def test_two_concurrent_transitions_exactly_one_wins(engineer, api_component, make_release):
    from rest_framework.test import APIClient

    from accounts.services import apikey_create

    release = make_release()
    _, key = apikey_create(user=engineer, name="race")
    barrier = threading.Barrier(2)
    statuses = []

    def cancel():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        barrier.wait()
        statuses.append(
            client.post(f"{RELEASES}{release.pk}/cancel/", {"reason": "race"}).status_code
        )
        connection.close()

    threads = [threading.Thread(target=cancel) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 409]
    assert release.events.filter(action="cancel").count() == 1
