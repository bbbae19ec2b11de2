"""Incidents from first report to back to normal: the API, the outbox, late-update
escalation, and the hold an open major outage puts on regular releases."""

import datetime as dt
import json

import pytest
import time_machine

from approvals import services as approvals
from notifications.models import Contact, CustomerAccount, Delivery, Message, Subscriber
from releases import services as releases
from releases.models import Component
from status import services
from status.models import Incident
from tests.helpers import IN_SLOT, NOW, WED_WINDOW, ask, utc

pytestmark = pytest.mark.django_db

IN_WINDOW = WED_WINDOW + dt.timedelta(minutes=10)


def _subscriber(email, *, status=True, components=()):
    subscriber = Subscriber.objects.create(
        channel="email", email=email, confirmed_at=NOW, on_status=status,
        all_components=not components,
    )  # fmt: skip
    subscriber.components.set(components)
    return subscriber


def _open(by, components, *, impact="major_outage", at=NOW, **extra):
    values = {
        "title": "Items API answers 503",
        "impact": impact,
        "components": components,
        "body": "We are **investigating** errors on writes.",
        "by": by,
        "at": at,
    }
    values.update(extra)
    return services.incident_open(**values)


def test_the_life_of_an_incident_over_the_api(operator_api, anon_api, api_component):
    with time_machine.travel(NOW, tick=False):
        opened = operator_api.post(
            "/api/v1/incidents/",
            {
                "title": "Writes fail",
                "impact": "partial_outage",
                "components": ["items-api"],
                "body": "Investigating failed writes.",
                "next_update_by": "2026-11-30T18:30:00Z",
            },
            format="json",
        )
    assert opened.status_code == 201, opened.json()
    incident = opened.json()
    assert incident["state"] == "investigating" and incident["components"] == ["items-api"]
    assert incident["next_update_by"] == "2026-11-30T18:30:00Z"
    assert "owner" not in incident  # internal
    status = anon_api.get("/api/v1/status/").json()
    [row] = status["components"]
    assert (row["status"], row["incidents"]) == ("partial_outage", [incident["id"]])
    assert status["status"] == "partial_outage"

    with time_machine.travel(NOW + dt.timedelta(minutes=20), tick=False):
        update = operator_api.post(
            f"/api/v1/incidents/{incident['id']}/updates/",
            {"body": "A bad index; rebuilding.", "state": "identified", "impact": "major_outage"},
            format="json",
        )
    assert update.status_code == 201 and update.json()["state"] == "identified"
    assert anon_api.get("/api/v1/status/").json()["status"] == "major_outage"

    with time_machine.travel(NOW + dt.timedelta(minutes=95), tick=False):
        resolved = operator_api.post(
            f"/api/v1/incidents/{incident['id']}/resolve/",
            {"postmortem_url": "https://example.com/pm/1"},
            format="json",
        )
    assert resolved.status_code == 201
    assert resolved.json()["body"].startswith("Back to normal: Writes fail is resolved after 1 h")
    final = anon_api.get(f"/api/v1/incidents/{incident['id']}/").json()
    assert (final["state"], final["duration_minutes"]) == ("resolved", 95)
    assert final["postmortem_url"] == "https://example.com/pm/1"
    assert [u["state"] for u in final["updates"]] == ["resolved", "identified", "investigating"]
    assert anon_api.get("/api/v1/status/").json()["components"][0]["status"] == "operational"
    again = operator_api.post(
        f"/api/v1/incidents/{incident['id']}/updates/", {"body": "More?"}, format="json"
    )
    assert again.status_code == 409 and again.json()["reasons"][0]["code"] == "incident_resolved"


def test_only_engineers_and_operations_run_incidents_and_internal_ones_stay_inside(
    customer_api, anon_api, engineer_api, operator, api_component
):
    body = {"title": "x", "impact": "major_outage", "components": ["items-api"], "body": "y"}
    assert customer_api.post("/api/v1/incidents/", body, format="json").status_code == 403
    assert anon_api.post("/api/v1/incidents/", body, format="json").status_code in (401, 403)
    assert Incident.objects.count() == 0
    internal = _open(operator, [api_component], public=False, impact="degraded_performance")
    assert anon_api.get(f"/api/v1/incidents/{internal.pk}/").status_code == 404
    assert anon_api.get("/api/v1/incidents/").json()["count"] == 0
    assert engineer_api.get("/api/v1/incidents/").json()["count"] == 1
    assert anon_api.get("/api/v1/status/").json()["components"][0]["status"] == "operational"


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("title", "Down\r\nBcc: everyone@example.com", "title"),
        ("next_update_by", "9999-12-31T00:00:00Z", "next_update_by"),
        ("next_update_by", "2026-11-30T17:00:00Z", "next_update_by"),
        ("next_update_by", "2026-11-30T19:00:00", "next_update_by"),
        ("impact", "operational", "impact"),
        ("components", [], "components"),
        ("components", ["ghost"], "components"),
    ],
)
def test_bad_input_is_a_clear_400_and_writes_nothing(
    operator_api, api_component, field, value, says
):
    body = {
        "title": "Writes fail",
        "impact": "major_outage",
        "components": ["items-api"],
        "body": "Investigating.",
        field: value,
    }
    with time_machine.travel(NOW, tick=False):
        answer = operator_api.post("/api/v1/incidents/", body, format="json")
    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"
    assert says in answer.json()["errors"]
    assert Incident.objects.count() == 0 and Message.objects.count() == 0


def test_every_public_step_reaches_status_subscribers_and_major_outages_key_accounts(
    operator, api_component, client_component
):
    everything = _subscriber("all@example.com")
    scoped = _subscriber("api@example.com", components=[api_component])
    _subscriber("client@example.com", components=[client_component])
    _subscriber("no-status@example.com", status=False)
    account = CustomerAccount.objects.create(name="Big Co", tier="key")
    contact = Contact.objects.create(account=account, name="Kim", email="kim@big.example")

    incident = _open(operator, [api_component], impact="degraded_performance")
    [first] = Message.objects.filter(kind="status.update")
    assert {d.address for d in first.deliveries.all()} == {everything.email, scoped.email}
    assert first.subject == "Degraded performance: Items API answers 503"
    assert first.data["incident"]["id"] == incident.pk and "owner" not in first.data["incident"]

    services.incident_update(
        incident=incident, body="Worse.", impact="major_outage", by=operator, at=NOW
    )
    second = Message.objects.filter(kind="status.update").order_by("-pk").first()
    assert contact.email in {d.address for d in second.deliveries.all()}

    services.incident_resolve(incident=incident, by=operator, at=NOW + dt.timedelta(hours=1))
    last = Message.objects.filter(kind="status.update").order_by("-pk").first()
    assert last.subject == "Back to normal: Items API answers 503"
    assert "Back to normal" in last.text and "1 h" in last.text


def test_a_late_update_tells_the_owner_then_senior_management_once_each(
    operator, manager, api_component
):
    incident = _open(operator, [api_component], next_update_by=NOW + dt.timedelta(minutes=30))
    assert services.escalate_overdue(at=NOW + dt.timedelta(minutes=29)) == 0
    assert services.escalate_overdue(at=NOW + dt.timedelta(minutes=31)) == 1
    [owner_told] = Message.objects.filter(kind="status.overdue")
    assert [d.address for d in owner_told.deliveries.all()] == [operator.email]
    assert services.escalate_overdue(at=NOW + dt.timedelta(minutes=35)) == 0  # not again
    assert services.escalate_overdue(at=NOW + dt.timedelta(minutes=41)) == 1
    told = Message.objects.filter(kind="status.overdue").order_by("-pk").first()
    assert {d.address for d in told.deliveries.all()} == {operator.email, manager.email}
    assert services.escalate_overdue(at=NOW + dt.timedelta(hours=5)) == 0
    incident.refresh_from_db()
    assert incident.escalation == Incident.Escalation.MANAGEMENT

    # An update keeps the promise anew: the chase starts over from its own promise.
    services.incident_update(
        incident=incident, body="Still on it.", by=operator, at=NOW + dt.timedelta(hours=5),
        next_update_by=NOW + dt.timedelta(hours=6),
    )  # fmt: skip
    assert services.escalate_overdue(at=NOW + dt.timedelta(hours=5, minutes=59)) == 0
    assert services.escalate_overdue(at=NOW + dt.timedelta(hours=6, minutes=1)) == 1
    assert Delivery.objects.filter(message__kind="status.overdue").count() == 4


def test_an_open_major_outage_holds_regular_releases_but_not_the_fix_or_a_rollback(
    operator, engineer, manager, anon_api, api_component, client_component, make_release
):
    regular = make_release()
    releases.release_announce(release=regular, by=engineer, at=NOW)
    shipped = make_release(version="0.9.0")
    releases.release_announce(release=shipped, by=engineer, at=NOW)
    releases.release_start(release=shipped, by=engineer, at=IN_WINDOW)
    releases.release_complete(release=shipped, by=engineer, at=IN_WINDOW)
    fix = make_release(version="1.0.1", kind="exceptional", scheduled_start=IN_SLOT)
    approvals.request_decide(request=ask(fix, engineer), by=manager, verdict="approve", at=NOW)
    releases.release_announce(release=fix, by=engineer, at=NOW)

    incident = _open(operator, [api_component], at=NOW)
    gate = anon_api.get(f"/api/v1/gate/?component=items-api&at={IN_WINDOW.isoformat()}").json()
    assert (gate["decision"], gate["reason"]) == ("deny", "incident_open")
    assert f"Incident #{incident.pk}" in gate["detail"]
    other = anon_api.get(f"/api/v1/gate/?component=js-client&at={IN_WINDOW.isoformat()}").json()
    assert other["reason"] != "incident_open"

    with pytest.raises(releases.TransitionRefused) as refused:
        releases.release_start(release=regular, by=engineer, at=IN_WINDOW)
    assert "incident_open" in [r.code for r in refused.value.refusals]
    releases.release_start(release=fix, by=engineer, at=IN_SLOT)  # the authorized fix goes
    # A rollback answers the incident, is never held, and shows on its timeline.
    update = services.incident_rollback(
        incident=incident, release=shipped, reason="It broke writes.", by=operator, at=IN_WINDOW
    )
    shipped.refresh_from_db()
    assert shipped.state == "rolled_back" and update.rollback == shipped
    assert update.body.startswith("Rolled back Items API 0.9.0")

    # A partial outage does not hold; resolving lifts the hold at once (no stale cache).
    services.incident_update(
        incident=incident, body="Mostly back.", impact="partial_outage", by=operator, at=NOW
    )
    gate = anon_api.get(f"/api/v1/gate/?component=items-api&at={IN_WINDOW.isoformat()}").json()
    assert gate["decision"] == "allow"
    services.incident_update(
        incident=incident, body="Down again.", impact="major_outage", by=operator, at=NOW
    )
    gate = anon_api.get(f"/api/v1/gate/?component=items-api&at={IN_WINDOW.isoformat()}").json()
    assert gate["reason"] == "incident_open"
    services.incident_resolve(
        incident=incident, by=operator, at=IN_WINDOW + dt.timedelta(minutes=1)
    )
    releases.release_start(release=regular, by=engineer, at=IN_WINDOW)


def test_a_rollback_must_be_of_an_affected_component(
    operator_api, operator, client_component, api_component, make_release
):
    incident = _open(operator, [client_component])
    release = make_release()
    answer = operator_api.post(
        f"/api/v1/incidents/{incident.pk}/rollbacks/",
        {"release": release.pk, "reason": "no"},
        format="json",
    )
    assert answer.status_code == 400 and "release" in answer.json()["errors"]
    release.refresh_from_db()
    assert release.state == "planned"


def test_only_senior_management_edits_the_support_contacts(manager, engineer, client):
    with pytest.raises(services.IncidentRefused):
        services.support_contacts_save(values={"emergency_phone": "+1 555 0100"}, by=engineer)
    services.support_contacts_save(
        values={"emergency_email": "emergency@example.com", "emergency_phone": "+1 555 0100"},
        by=manager,
        at=utc(2026, 11, 30),
    )
    page = client.get("/support/").content.decode()
    assert "mailto:emergency@example.com" in page and 'href="tel:+15550100"' in page
    assert "emergency@example.com" in client.get("/status/").content.decode()


# --- What a hostile review found (each failed before its fix) ---------------------------------


def test_a_failing_probe_with_long_names_still_records_and_opens_its_incident(
    operator, closed_port
):
    from status import probing
    from status.models import Probe, ProbeSample

    component = Component.objects.create(slug="long", name="C" * 120, kind=Component.Kind.API)
    probe = Probe.objects.create(
        name="P" * 100, url=f"http://127.0.0.1:{closed_port}/", component=component,
        timeout_seconds=1, failures_to_open=1,
    )  # fmt: skip
    probe.full_clean()
    for minute in (0, 5, 10):
        probing.run_due_probes(NOW + dt.timedelta(minutes=minute), everything=True)
    assert ProbeSample.objects.filter(probe=probe, up=False).count() == 3
    [incident] = Incident.objects.filter(components=component)
    assert len(incident.title) == 200 and incident.title.endswith("…")


def test_an_internal_major_outage_holds_releases_without_naming_itself_to_anyone(
    operator, anon_api, client, api_component
):
    secret = "Secret vendor Acme breach"
    _open(operator, [api_component], public=False, title=secret)
    gate = anon_api.get(f"/api/v1/gate/?component=items-api&at={IN_WINDOW.isoformat()}").json()
    assert gate["reason"] == "incident_open" and "internal incident" in gate["detail"]
    assert secret not in json.dumps(gate)
    with time_machine.travel(IN_WINDOW, tick=False):
        assert secret not in client.get("/").content.decode()


def test_internal_incident_activity_leaves_the_public_validators_alone(
    operator, client, api_component
):
    internal = _open(operator, [api_component], public=False, impact="degraded_performance")
    paths = ("/status/", "/support/", "/api/v1/status/", "/status/history/")
    before = {path: client.get(path)["ETag"] for path in paths}
    services.incident_update(incident=internal, body="internal note", by=operator)
    assert before == {path: client.get(path)["ETag"] for path in paths}


def test_a_stored_incident_outside_the_supported_range_breaks_no_read(
    operator, anon_api, client, api_component
):
    Incident.objects.create(
        title="old", impact="major_outage", owner=operator,
        started_at=dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    ).components.add(api_component)  # fmt: skip
    releases.rules_changed()
    assert anon_api.get("/api/v1/gate/?component=items-api").json()["reason"] in (
        "incident_open", "outside_window", "in_window",
    )  # fmt: skip
    for path in ("/", "/status/", "/status/history/", "/api/v1/status/", "/calendar/"):
        assert client.get(path).status_code == 200, path


def test_a_resolution_is_never_older_than_the_last_update(operator, api_component):
    incident = _open(operator, [api_component], at=NOW)
    services.incident_update(
        incident=incident, body="late writer", by=operator, at=NOW + dt.timedelta(seconds=2)
    )
    with pytest.raises(services.IncidentInvalid) as refused:
        services.incident_resolve(incident=incident, by=operator, at=NOW + dt.timedelta(seconds=1))
    assert "at" in refused.value.errors
    incident.refresh_from_db()
    assert incident.is_open


def test_the_gate_traces_the_hold_and_the_log_keeps_the_worst_impact(
    operator, anon_api, api_component
):
    incident = _open(operator, [api_component])
    gate = anon_api.get(f"/api/v1/gate/?component=items-api&at={IN_WINDOW.isoformat()}").json()
    [held] = [t for t in gate["trace"] if t["kind"] == "hold"]
    assert (held["id"], held["name"], held["verdict"]) == (incident.pk, "incident_open", "held")
    assert "rollbacks and authorized exceptional releases still go" in held["detail"]
    services.incident_update(
        incident=incident, body="Better.", impact="degraded_performance", by=operator, at=NOW
    )
    services.incident_resolve(incident=incident, by=operator, at=NOW + dt.timedelta(hours=1))
    shown = anon_api.get(f"/api/v1/incidents/{incident.pk}/").json()
    assert (shown["impact"], shown["worst_impact"]) == ("degraded_performance", "major_outage")


def test_the_emergency_phone_must_be_dialable(manager):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        services.support_contacts_save(values={"emergency_phone": "call us"}, by=manager)
    assert "emergency_phone" in refused.value.message_dict
    saved = services.support_contacts_save(values={"emergency_phone": "+1 (555) 0100"}, by=manager)
    assert saved.emergency_phone == "+1 (555) 0100"


def test_a_title_or_components_can_be_corrected_and_the_hold_follows(
    operator, anon_api, client, api_component, client_component
):
    incident = _open(operator, [client_component], title="Wirtes fail")
    gate = f"/api/v1/gate/?component=items-api&at={IN_WINDOW.isoformat()}"
    assert anon_api.get(gate).json()["reason"] != "incident_open"
    client.force_login(operator)
    answer = client.post(
        f"/admin/status/incident/{incident.pk}/change/",
        {"title": "Writes fail", "components": [client_component.pk, api_component.pk],
         "state": "investigating", "impact": "major_outage", "body": "", "postmortem_url": ""},
    )  # fmt: skip
    assert answer.status_code == 302
    incident.refresh_from_db()
    assert incident.title == "Writes fail" and incident.updates.count() == 1  # no update posted
    assert {c.slug for c in incident.components.all()} == {"items-api", "js-client"}
    assert anon_api.get(gate).json()["reason"] == "incident_open"  # the hold follows at once
    from audit.models import Entry

    edited = Entry.objects.get(action="status.incident.edited")
    assert edited.before["title"] == "Wirtes fail" and edited.actor_username == "opal"


def test_a_postmortem_link_moves_the_public_validator(operator, client, api_component):
    incident = _open(operator, [api_component], impact="partial_outage")
    services.incident_resolve(incident=incident, by=operator, at=NOW + dt.timedelta(hours=1))
    page = f"/status/incidents/{incident.pk}/"
    etag = client.get(page)["ETag"]
    services.incident_set_postmortem(incident=incident, url="https://example.com/pm", by=operator)
    again = client.get(page, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200 and "https://example.com/pm" in again.content.decode()
