"""Reading the log back: the export command, GET /api/v1/audit/ and the admin's list."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts.services import apikey_create
from audit import services as audit
from audit.models import Entry
from tests.helpers import utc

pytestmark = pytest.mark.django_db
URL = "/api/v1/audit/"


@pytest.fixture
def history(shipped, engineer, manager):
    """Release events at NOW and in Wednesday's window, and a key the manager issued later."""
    apikey_create(user=engineer, name="ci", by=manager, at=utc(2026, 12, 5))
    return shipped


def export(*args) -> str:
    out = io.StringIO()
    call_command("audit", "export", *args, stdout=out)
    return out.getvalue()


def test_export_as_json_lines_within_a_time_range(history):
    lines = export("--since", "2026-12-02T00:00:00-08:00", "--until", "2026-12-05T00:00:00Z")
    rows = [json.loads(line) for line in lines.splitlines()]
    assert [r["action"] for r in rows] == [
        "release.announce",
        "release.start",
        "release.complete",
        "release.verify",
    ]  # not the scheduling (Monday) nor the key (5 December: the end is excluded)
    first = rows[0]
    assert list(first) == audit.EXPORT_FIELDS
    assert (first["at"], first["actor"], first["subject_type"]) == (
        "2026-12-02T08:00:00+00:00",
        "erin",
        "releases.releaseevent",
    )
    assert first["after"]["to_state"] == "announced"
    entry = Entry.objects.get(seq=first["seq"])
    assert (first["hash"], first["prev_hash"], first["mac"]) == (
        entry.hash,
        entry.prev_hash,
        entry.mac,
    )


def test_export_as_csv_keeps_before_and_after_as_canonical_json(history):
    rows = list(
        csv.DictReader(io.StringIO(export("--since", "2026-12-05T00:00:00Z", "--format", "csv")))
    )
    [row] = rows
    assert row["action"] == "api_key.created" and row["actor"] == "morgan"
    assert row["before"] == ""
    assert row["after"] == audit.canonical(Entry.objects.get(seq=row["seq"]).after).decode()


def test_export_refuses_an_instant_without_an_offset(history):
    with pytest.raises(CommandError, match="no UTC offset"):
        export("--since", "2026-12-01T00:00:00")


# --- The API -------------------------------------------------------------------------------------


def test_senior_management_and_auditors_read_the_log(history, manager_api, auditor_api):
    for client in (manager_api, auditor_api):
        answer = client.get(URL)
        assert answer.status_code == 200
        body = answer.json()
        assert body["count"] == Entry.objects.count()
        assert [r["seq"] for r in body["results"]] == sorted(r["seq"] for r in body["results"])


def test_anyone_else_is_refused_and_anonymous_clients_must_authenticate(
    history, engineer_api, customer_api, anon_api
):
    for client in (engineer_api, customer_api):
        answer = client.get(URL)
        assert answer.status_code == 403
        assert answer["Content-Type"] == "application/problem+json"
        assert "senior management and auditors" in answer.json()["detail"]
    answer = anon_api.get(URL)
    assert answer.status_code == 401
    assert answer["Content-Type"] == "application/problem+json"


def test_filters_by_actor_subject_action_and_time(history, auditor_api):
    event = history.events.get(action="start")
    by_subject = auditor_api.get(
        URL, {"subject_type": "releases.releaseevent", "subject_id": event.pk}
    ).json()
    assert [r["action"] for r in by_subject["results"]] == ["release.start"]
    by_actor = auditor_api.get(URL, {"actor": "morgan"}).json()
    assert [r["action"] for r in by_actor["results"]] == ["api_key.created"]
    by_time = auditor_api.get(
        URL, {"since": "2026-12-02T00:00:00-08:00", "until": "2026-12-03T00:00:00Z"}
    ).json()
    assert {r["at"] for r in by_time["results"]} == {"2026-12-02T08:00:00Z"}
    assert by_time["count"] == 4
    by_action = auditor_api.get(URL, {"action": "release.scheduled"}).json()
    assert by_action["count"] == 1
    newest_first = auditor_api.get(URL, {"ordering": "-seq", "page_size": 2}).json()
    assert newest_first["results"][0]["seq"] == Entry.objects.order_by("-seq").first().seq
    assert len(newest_first["results"]) == 2 and newest_first["next"]


def test_a_bad_filter_is_a_400_naming_it(history, auditor_api):
    answer = auditor_api.get(URL, {"since": "2026-12-02T00:00:00"})
    assert answer.status_code == 400
    assert "no UTC offset" in answer.json()["errors"]["since"][0]
    answer = auditor_api.get(URL, {"until": "2300-01-01T00:00:00Z"})
    assert answer.status_code == 400 and "until" in answer.json()["errors"]


def test_an_entry_over_the_api_is_the_entry(history, auditor_api):
    entry = Entry.objects.get(action="release.verify")
    [row] = auditor_api.get(URL, {"action": "release.verify"}).json()["results"]
    assert row == {
        "seq": entry.seq,
        "at": "2026-12-02T08:00:00Z",
        "actor_id": entry.actor_id,
        "actor": "erin",
        "action": "release.verify",
        "subject_type": "releases.releaseevent",
        "subject_id": entry.subject_id,
        "before": None,
        "after": entry.after,
        "digest": entry.digest,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "mac": entry.mac,
    }


def test_the_api_is_in_the_openapi_document(client):
    import yaml

    document = yaml.safe_load(client.get("/api/schema/").content)
    operation = document["paths"]["/api/v1/audit/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"actor", "subject_type", "subject_id", "action", "since", "until", "page"} <= names
    since = next(p for p in operation["parameters"] if p["name"] == "since")
    assert since["schema"] == {"type": "string", "format": "date-time"}
    assert {"200", "401", "403"} <= set(operation["responses"])


# --- The admin -----------------------------------------------------------------------------------


def test_the_admin_lists_entries_and_changes_nothing(history, client, manager):
    client.force_login(manager)
    listing = client.get("/admin/audit/entry/?subject_type=releases.releaseevent")
    assert listing.status_code == 200
    assert "release.verify" in listing.content.decode()
    entry = Entry.objects.get(action="release.verify")
    page = client.get(f"/admin/audit/entry/{entry.pk}/change/")
    assert page.status_code == 200 and entry.hash in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/audit/entry/{entry.pk}/change/", {}).status_code == 403
    assert client.get("/admin/audit/entry/add/").status_code == 403
    assert client.post(f"/admin/audit/entry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Entry.objects.filter(pk=entry.pk).exists()
    assert client.get("/admin/audit/anchor/").status_code == 200


def test_the_admin_is_closed_to_release_engineers(history, client, engineer):
    client.force_login(engineer)
    assert client.get("/admin/audit/entry/").status_code == 403
