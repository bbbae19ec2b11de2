"""Rules under change control: tightening is free, loosening waits for senior management.

The attack this stops, as reported: on a Friday at 11:38 Pacific, an engineer's key created a
daily 11:00–21:00 window for a new component, the gate said allow, and the release shipped with
no approval; then a DELETE removed the policy and nothing recorded who did it.
"""

import datetime as dt

import pytest
import time_machine

from approvals import services as approvals
from lib.errors import Invalid
from releases import services as releases
from releases.models import Component, Freeze, Release, WindowPolicy
from releases.timeline import describe
from rules import services
from rules.models import RuleChange, RuleDecision
from tests.helpers import NOW, SLOT, WED_WINDOW, ask, client_for, utc

pytestmark = pytest.mark.django_db
FRIDAY_1138_PT = utc(2026, 11, 27, 19, 38)
DAILY = {
    "name": "Daily daytime",
    "rrule": "FREQ=DAILY",
    "start_time": "11:00",
    "duration_minutes": 600,
    "zone": "America/Los_Angeles",
    "effective_from": "2026-11-01",
    "applies_to_all": False,
    "components": ["sneaky"],
}


def gate(client, slug, at):
    return client.get("/api/v1/gate/", {"component": slug, "at": at.isoformat()}).json()


def test_an_engineer_key_can_no_longer_open_a_window_for_itself(engineer_api, manager_api):
    engineer_api.post("/api/v1/components/", {"slug": "sneaky", "name": "Sneaky", "kind": "api"})
    # A new component gets the default policy's windows, not "no policy = allow".
    assert gate(engineer_api, "sneaky", FRIDAY_1138_PT)["decision"] == "deny"
    proposed = engineer_api.post("/api/v1/policies/", DAILY)
    assert proposed.status_code == 202
    assert proposed["Location"] == f"/api/v1/rule-changes/{proposed.json()['id']}/"
    assert proposed.json()["status"] == "pending"
    # The gate answers from the rules in force until senior management approves.
    assert gate(engineer_api, "sneaky", FRIDAY_1138_PT)["decision"] == "deny"
    change_id = proposed.json()["id"]
    own = engineer_api.post(f"/api/v1/rule-changes/{change_id}/approve/")
    assert own.status_code == 403  # not a senior manager, and the proposer at that
    manager_api.post(f"/api/v1/rule-changes/{change_id}/approve/", {"comment": "Agreed"})
    answer = gate(engineer_api, "sneaky", FRIDAY_1138_PT)
    assert answer["decision"] == "allow"
    policy = WindowPolicy.objects.get(name="Daily daytime")
    # The trace names the rule version it decided by.
    [entry] = [t for t in answer["trace"] if t["id"] == policy.pk]
    assert (entry["verdict"], entry["version"]) == ("open", 1)
    deleted = engineer_api.delete(f"/api/v1/policies/{policy.pk}/")
    assert deleted.status_code == 202 and WindowPolicy.objects.filter(pk=policy.pk).exists()


def test_a_senior_manager_proposes_and_another_decides(manager_api, manager, manager2):
    proposed = manager_api.post("/api/v1/policies/", {**DAILY, "applies_to_all": True,
                                                      "components": []})  # fmt: skip
    change = RuleChange.objects.get(pk=proposed.json()["id"])
    with pytest.raises(services.RuleChangeRefused) as own:
        services.rule_change_decide(change=change, by=manager, verdict="approve")
    assert own.value.code == "own_proposal"
    services.rule_change_decide(change=change, by=manager2, verdict="approve")
    assert RuleChange.objects.get(pk=change.pk).status == "applied"


def test_a_quorum_of_two_and_any_rejection(engineer, manager, manager2, settings):
    settings.APPROVAL_QUORUM = 2
    policy = WindowPolicy.objects.get()
    wider = services.rules_change(
        target="policy", operation="update", by=engineer, obj=policy,
        values={"duration_minutes": 240}, reason="Longer windows for the migration",
    )  # fmt: skip
    services.rule_change_decide(change=wider, by=manager, verdict="approve")
    assert RuleChange.objects.get(pk=wider.pk).status == "pending"
    assert WindowPolicy.objects.get().duration_minutes == 180
    services.rule_change_decide(change=wider, by=manager2, verdict="approve")
    assert WindowPolicy.objects.get().duration_minutes == 240
    assert WindowPolicy.objects.get().version == 2
    rejected = services.rules_change(
        target="policy", operation="delete", by=engineer, obj=WindowPolicy.objects.get()
    )
    with pytest.raises(services.RuleChangeRefused):
        services.rule_change_decide(change=rejected, by=manager, verdict="reject")  # no reason
    services.rule_change_decide(change=rejected, by=manager, verdict="reject", comment="No")
    assert RuleChange.objects.get(pk=rejected.pk).status == "rejected"
    assert WindowPolicy.objects.exists()


def test_tightening_is_in_force_at_once_loosening_waits(engineer, engineer_api):
    policy = WindowPolicy.objects.get()
    shorter = engineer_api.patch(f"/api/v1/policies/{policy.pk}/", {"duration_minutes": 120})
    assert shorter.status_code == 200 and shorter.json()["version"] == 2
    assert shorter.json()["rule_change"]["tightening"] is True
    longer = engineer_api.patch(f"/api/v1/policies/{policy.pk}/", {"duration_minutes": 150})
    assert longer.status_code == 202 and WindowPolicy.objects.get().duration_minutes == 120

    declared = engineer_api.post(
        "/api/v1/freezes/",
        {"reason": "Year end", "starts_at": "2026-12-20T00:00:00Z",
         "ends_at": "2027-01-02T00:00:00Z"},
    )  # fmt: skip
    assert declared.status_code == 201 and declared.json()["rule_change"]["preview"] is not None
    freeze = f"/api/v1/freezes/{declared.json()['id']}/"
    longer_freeze = engineer_api.patch(freeze, {"ends_at": "2027-01-05T00:00:00Z"})
    assert longer_freeze.status_code == 200
    for loosening in (
        {"ends_at": "2026-12-31T00:00:00Z"},  # shorter
        {"starts_at": "2026-12-21T00:00:00Z"},  # later
        {"applies_to_all": False, "components": ["items-api"]},  # narrower
    ):
        Component.objects.get_or_create(slug="items-api", defaults={"name": "I", "kind": "api"})
        response = engineer_api.patch(freeze, loosening)
        assert response.status_code == 202, loosening
    lifted = engineer_api.delete(freeze)
    assert lifted.status_code == 202
    assert Freeze.objects.get().ends_at == utc(2027, 1, 5)  # still in force


def test_a_change_bound_to_a_rule_that_changed_meanwhile_goes_stale(engineer, manager):
    policy = WindowPolicy.objects.get()
    first = services.rules_change(
        target="policy", operation="update", by=engineer, obj=policy,
        values={"duration_minutes": 200},
    )  # fmt: skip
    second = services.rules_change(
        target="policy", operation="update", by=engineer, obj=policy,
        values={"effective_from": dt.date(2019, 1, 1)},
    )  # fmt: skip
    services.rule_change_decide(change=first, by=manager, verdict="approve")
    # It goes stale as the first applies, not when someone next tries to approve it.
    assert RuleChange.objects.get(pk=second.pk).status == "stale"
    with pytest.raises(services.RuleChangeRefused) as exc:
        services.rule_change_decide(change=second, by=manager, verdict="approve")
    assert (exc.value.code, exc.value.detail) == (
        "not_pending",
        "This change is no longer pending: stale (the rule changed meanwhile).",
    )
    assert not RuleDecision.objects.filter(change=second).exists()
    assert WindowPolicy.objects.get().effective_from == dt.date(2020, 1, 1)


def test_a_tightening_in_force_makes_the_changes_waiting_on_the_rule_stale(engineer):
    freeze = Freeze.objects.create(reason="Quiet", starts_at=NOW, ends_at=WED_WINDOW)
    shorter = services.rules_change(
        target="freeze", operation="update", by=engineer, obj=freeze,
        values={"ends_at": NOW + dt.timedelta(hours=1)},
    )  # fmt: skip
    other = Freeze.objects.create(reason="Other", starts_at=NOW, ends_at=WED_WINDOW)
    elsewhere = services.rules_change(target="freeze", operation="delete", by=engineer, obj=other)
    longer = services.rules_change(
        target="freeze", operation="update", by=engineer, obj=freeze,
        values={"ends_at": WED_WINDOW + dt.timedelta(days=1)},
    )  # fmt: skip
    assert longer.status == "applied"
    assert RuleChange.objects.get(pk=shorter.pk).status == "stale"
    assert RuleChange.objects.get(pk=elsewhere.pk).status == "pending"  # another rule's


def test_a_rule_whose_removal_waits_cannot_be_proposed_for_removal_again(engineer, engineer_api):
    freeze = Freeze.objects.create(reason="Quiet", starts_at=NOW, ends_at=WED_WINDOW)
    first = services.rules_change(target="freeze", operation="delete", by=engineer, obj=freeze)
    with pytest.raises(services.RuleChangeRefused) as exc:
        services.rules_change(target="freeze", operation="delete", by=engineer, obj=freeze)
    assert exc.value.code == "already_proposed" and str(first) in exc.value.detail
    again = engineer_api.delete(f"/api/v1/freezes/{freeze.pk}/")
    assert again.status_code == 409 and str(first) in again.json()["detail"]
    assert RuleChange.objects.count() == 1
    services.rule_change_withdraw(change=first, by=engineer)  # withdrawn: it may be proposed
    assert (
        services.rules_change(target="freeze", operation="delete", by=engineer, obj=freeze).status
        == "pending"
    )


def test_the_preview_shows_stranded_releases_overlapped_slots_and_hours(
    make_release, engineer, manager, engineer_api
):
    with time_machine.travel(NOW, tick=False):
        make_release(version="2.0.0")  # Wednesday's window
        urgent = make_release(version="3.0.0", kind="exceptional", scheduled_start=SLOT[0])
        approvals.request_decide(
            request=ask(urgent, engineer), by=manager, verdict="approve", at=NOW
        )
        response = engineer_api.post(
            "/api/v1/freezes/",
            {"reason": "Incident", "starts_at": "2026-12-01T00:00:00Z",
             "ends_at": "2026-12-03T00:00:00Z"},
        )  # fmt: skip
    preview = response.json()["rule_change"]["preview"]
    assert [s["version"] for s in preview["stranded"]] == ["2.0.0"]
    assert preview["stranded"][0]["owner"] == "erin"
    assert [s["version"] for s in preview["overlapping_slots"]] == ["3.0.0"]
    assert preview["hours_removed"] == 3.0 and preview["hours_added"] == 0
    assert preview["window_hours"]["items-api"] == {"before": 117.0, "after": 114.0}


def test_the_desk_shows_a_change_to_decide_on_with_its_instants_in_the_desk_s_zone(
    make_release, engineer, manager, client
):
    with time_machine.travel(NOW, tick=False):
        make_release(version="2.0.0")  # Wednesday 2026-12-02 00:00 PST
        change = services.rules_change(
            target="policy", operation="delete", by=engineer, obj=WindowPolicy.objects.get()
        )
    client.force_login(manager)
    url = f"/admin/rules/rulechange/{change.pk}/change/"
    page = client.get(url).content.decode()
    assert "items-api 2.0.0 at " in page and "Wed 02 Dec 2026 00:00 PST" in page
    assert "2026-12-02T08:00:00Z</li>" not in page  # not as stored
    assert 'name="approve"' in page and 'name="_save"' not in page  # nothing to save here
    assert client.post(url, {}).status_code == 403
    assert RuleChange.objects.get(pk=change.pk).status == "pending"


def test_applying_a_change_that_strands_releases_flags_them_and_tells_their_owners(
    make_release,
    engineer,
    manager,
    manager2,
    django_capture_on_commit_callbacks,
    mailoutbox,
    client,
):
    with time_machine.travel(NOW, tick=False):
        stranded = make_release(version="2.0.0")
        policy = WindowPolicy.objects.get()
        change = services.rules_change(
            target="policy", operation="update", by=manager, obj=policy,
            values={"rrule": "FREQ=WEEKLY;BYDAY=TH,FR"}, reason="No more Wednesdays",
        )  # fmt: skip
    assert change.status == "pending"
    assert change.preview["stranded"][0]["release"] == stranded.pk
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        services.rule_change_decide(change=change, by=manager2, verdict="approve")
    stranded.refresh_from_db()
    assert stranded.stranded_at == NOW
    event = stranded.events.get(action="stranded")
    assert event.details["rule_change"] == change.pk
    owner_mail = [m for m in mailoutbox if m.to == ["erin@example.com"]]
    assert [m.subject for m in owner_mail] == [f"[Nightshift] Stranded: {stranded}"]
    client.force_login(engineer)
    desk = client.get("/admin/releases/release/?stranded_at__isnull=False").content.decode()
    assert "Rescheduling: a rule change left it outside every window" in desk
    moved = releases.release_update(
        release=stranded, by=engineer, at=NOW, scheduled_start=utc(2026, 12, 3, 8, 15)
    )
    assert moved.stranded_at is None


def test_lifting_the_freeze_that_stranded_a_release_unflags_it_on_its_timeline(
    make_release, engineer, manager, engineer_api, client, mailoutbox,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    with time_machine.travel(NOW, tick=False):
        release = make_release(version="2.0.0")  # Wednesday's window
        other = make_release(version="2.1.0")
        freeze = services.rules_change(
            target="freeze", operation="create", by=engineer,
            values={"reason": "Incident", "starts_at": utc(2026, 12, 1),
                    "ends_at": utc(2026, 12, 3)},
        )  # fmt: skip
        releases.release_update(  # the other is moved to Thursday: not stranded any more
            release=other, by=engineer, at=NOW, scheduled_start=utc(2026, 12, 3, 8, 15)
        )
        release.refresh_from_db()
        assert release.stranded_at == NOW
        with django_capture_on_commit_callbacks(execute=True):
            lift = engineer_api.delete(f"/api/v1/freezes/{freeze.target_id}/")
    [to_decide] = [m for m in mailoutbox if m.subject.startswith("[Nightshift] Rule change to")]
    assert "1 stranded release(s) put back in a window" in to_decide.body
    preview = lift.json()["preview"]
    assert [r["version"] for r in preview["fits_again"]] == ["2.0.0"]
    assert preview["stranded"] == []
    client.force_login(manager)
    page = client.get(f"/admin/rules/rulechange/{lift.json()['id']}/change/").content.decode()
    assert "Stranded releases it puts back in a window" in page and "items-api 2.0.0 at" in page
    inbox = client.get("/admin/rules/rulechange/").content.decode()
    assert "puts items-api 2.0.0 back in a window" in inbox
    later = NOW + dt.timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        services.rule_change_decide(
            change=RuleChange.objects.get(pk=lift.json()["id"]), by=manager, verdict="approve"
        )
    release.refresh_from_db()
    assert release.stranded_at is None
    event = release.events.get(action="fits_again")
    assert (event.at, event.details["rule_change"]) == (later, lift.json()["id"])
    assert not other.events.filter(action="fits_again").exists()
    timeline = engineer_api.get(f"/api/v1/releases/{release.pk}/events/").json()["results"]
    assert timeline[-1]["action"] == "fits_again"
    assert describe(event) == (
        f"morgan put rule change #{lift.json()['id']} in force, which put it back inside a "
        "window: it fits again and needs no rescheduling."
    )  # the approver put it in force; erin proposed it


def test_the_admin_proposes_instead_of_saving(client, engineer, manager, manager2):
    client.force_login(engineer)
    response = client.post(
        "/admin/releases/windowpolicy/add/",
        {
            "name": "Weekend", "rrule": "FREQ=WEEKLY;BYDAY=SA", "start_time": "10:00",
            "duration_minutes": 60, "zone": "UTC", "effective_from": "2026-12-01",
            "applies_to_all": "on", "justification": "Weekend maintenance",
        },
        follow=True,
    )  # fmt: skip
    change = RuleChange.objects.get()
    assert response.redirect_chain[-1][0] == f"/admin/rules/rulechange/{change.pk}/change/"
    page = response.content.decode()
    assert "it takes effect when senior management approves" in page
    assert not WindowPolicy.objects.filter(name="Weekend").exists()
    client.force_login(manager)
    page = client.get(f"/admin/rules/rulechange/{change.pk}/change/").content.decode()
    assert "Weekend maintenance" in page and 'name="approve"' in page
    client.post(f"/admin/rules/rulechange/{change.pk}/decide/", {"approve": "1"})
    assert WindowPolicy.objects.filter(name="Weekend").exists()

    client.force_login(engineer)
    freeze = Freeze.objects.create(reason="Quiet", starts_at=NOW, ends_at=WED_WINDOW)
    client.post(f"/admin/releases/freeze/{freeze.pk}/delete/", {"post": "yes"})
    assert Freeze.objects.filter(pk=freeze.pk).exists()
    assert RuleChange.objects.get(operation="delete").status == "pending"


def test_only_the_proposer_withdraws(engineer, manager):
    change = services.rules_change(
        target="policy", operation="delete", by=engineer, obj=WindowPolicy.objects.get()
    )
    with pytest.raises(services.RuleChangeRefused):
        services.rule_change_withdraw(change=change, by=manager)
    services.rule_change_withdraw(change=change, by=engineer)
    assert RuleChange.objects.get().status == "withdrawn"


def test_customers_can_neither_propose_nor_see_changes(customer_api, engineer):
    services.rules_change(
        target="policy", operation="delete", by=engineer, obj=WindowPolicy.objects.get()
    )
    assert customer_api.get("/api/v1/rule-changes/").status_code == 403
    assert (
        customer_api.delete(f"/api/v1/policies/{WindowPolicy.objects.get().pk}/").status_code == 403
    )
    assert Release.objects.count() == 0


def test_the_admin_delete_page_proposes_a_removal_and_asks_why(client, engineer, manager):
    client.force_login(engineer)
    freeze = Freeze.objects.create(reason="Holiday quiet", starts_at=NOW, ends_at=WED_WINDOW)
    url = f"/admin/releases/freeze/{freeze.pk}/delete/"
    page = client.get(url).content.decode()
    assert "Senior management" in page and "stays in force" in page
    assert "will be deleted" not in page and 'name="justification"' in page
    answer = client.post(url, {"post": "yes", "justification": "The holiday moved"}, follow=True)
    change = RuleChange.objects.get()
    assert answer.redirect_chain[-1][0] == f"/admin/rules/rulechange/{change.pk}/change/"
    assert (change.operation, change.status) == ("delete", "pending")
    assert change.reason == "The holiday moved"
    assert Freeze.objects.filter(pk=freeze.pk).exists()
    # Asked again (another tab), the page names the removal that waits, and proposes no other.
    page = client.get(url).content.decode()
    assert "Its removal is proposed already" in page and 'name="justification"' not in page
    assert "<title>Its removal waits for senior management" in page
    assert f"/admin/rules/rulechange/{change.pk}/change/" in page
    again = client.post(url, {"post": "yes", "justification": "Twice"}, follow=True)
    assert "already proposes removing it" in again.content.decode()
    assert RuleChange.objects.count() == 1
    # Senior management reads it where they decide.
    client.force_login(manager)
    decided_on = client.get(answer.redirect_chain[-1][0]).content.decode()
    assert "justification):</label>" in decided_on and "The holiday moved" in decided_on


@pytest.mark.parametrize(
    ("justification", "error"),
    [("x" * 2001, "at most 2000 characters"), ("Nul\x00byte", "Null characters are not allowed")],
)
def test_a_removal_with_a_justification_it_cannot_take_proposes_nothing(
    client, engineer, justification, error
):
    client.force_login(engineer)
    policy = WindowPolicy.objects.get()
    url = f"/admin/releases/windowpolicy/{policy.pk}/delete/"
    answer = client.post(url, {"post": "yes", "justification": justification})
    assert answer.status_code == 200 and error in answer.content.decode()
    assert not RuleChange.objects.exists() and WindowPolicy.objects.filter(pk=policy.pk).exists()


def test_the_api_takes_a_removal_s_justification_from_the_body_or_the_query(engineer_api):
    freeze = Freeze.objects.create(reason="Quiet", starts_at=NOW, ends_at=WED_WINDOW)
    url = f"/api/v1/freezes/{freeze.pk}/"
    body = engineer_api.delete(url, {"justification": "Ends early"}, format="json")
    assert body.status_code == 202 and body.json()["reason"] == "Ends early"
    RuleChange.objects.all().delete()
    query = engineer_api.delete(f"{url}?justification=By+query")
    assert query.status_code == 202 and query.json()["reason"] == "By query"
    RuleChange.objects.all().delete()
    # Checked as on every other write, wherever it comes from.
    for refused, field, message in [
        (engineer_api.delete(url, {"justification": "x" * 2001}, format="json"),
         "justification", "no more than 2000 characters"),
        (engineer_api.delete(url + "?justification=" + "x" * 2001),
         "justification", "no more than 2000 characters"),
        (engineer_api.delete(url, {"justification": "Bell\x07"}, format="json"),
         "justification", "control character U+0007"),
        (engineer_api.delete(url, ["not", "an", "object"], format="json"),
         "non_field_errors", "Expected a dictionary"),
    ]:  # fmt: skip
        assert refused.status_code == 400
        assert message in refused.json()["errors"][field][0]
    assert not RuleChange.objects.exists()


def test_a_change_stored_before_fits_again_existed_still_reads(engineer, manager, client):
    change = services.rules_change(
        target="policy", operation="delete", by=engineer, obj=WindowPolicy.objects.get()
    )
    old = {k: v for k, v in change.preview.items() if k != "fits_again"}
    RuleChange.objects.filter(pk=change.pk).update(preview=old)
    api = client_for(manager)
    assert api.get(f"/api/v1/rule-changes/{change.pk}/").json()["preview"]["fits_again"] == []
    client.force_login(manager)
    page = client.get(f"/admin/rules/rulechange/{change.pk}/change/").content.decode()
    assert "Stranded releases it puts back in a window" in page
    assert "rule change #" in client.get("/admin/rules/rulechange/").content.decode().lower()


@pytest.mark.parametrize(
    ("reason", "message"),
    [("x" * 2001, "At most 2000 characters (2001 given)."), ("Bell\x07", "U+0007")],
)
def test_the_service_refuses_a_justification_whichever_way_it_came(engineer, reason, message):
    # The desk's form and the API's serializer check it on their field; the service owns it.
    with pytest.raises(Invalid) as exc:
        services.rules_change(
            target="policy", operation="delete", by=engineer, obj=WindowPolicy.objects.get(),
            reason=reason,
        )  # fmt: skip
    assert message in exc.value.errors["justification"]
    assert not RuleChange.objects.exists()
