"""Approvals over the API (who may do what) and the managers' inbox in the admin."""

import datetime as dt
import threading

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connection

from approvals import services
from approvals.models import ApprovalDecision, ApprovalRequest
from releases import services as releases
from tests.helpers import NOW, ask, client_for, postgres_only, threaded_db, utc
from tests.helpers import SLOT as SLOT_RANGE

pytestmark = pytest.mark.django_db
SLOT = {"slot_start": "2026-12-01T06:00:00-08:00", "slot_end": "2026-12-01T08:00:00-08:00"}
ASK = {"urgency": "critical", "justification": "Data loss bug.", **SLOT}


@pytest.fixture(autouse=True)
def monday_evening():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def urgent(make_release, engineer):
    release = make_release(
        kind="exceptional", version="3.9.1", scheduled_start=utc(2026, 12, 1, 14, 30)
    )
    return releases.release_announce(release=release, by=engineer, at=NOW)


def test_asking_over_the_api(engineer_api, urgent):
    response = engineer_api.post(f"/api/v1/releases/{urgent.pk}/approval-requests/", ASK)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["requester"], body["slot_start"]) == (
        "pending",
        "erin",
        "2026-12-01T14:00:00Z",
    )
    assert [i["title"] for i in body["items"]] == ["Search is faster", "Typo in errors"]
    naive = engineer_api.post(
        f"/api/v1/releases/{urgent.pk}/approval-requests/",
        {**ASK, "slot_end": "2026-12-01T08:00:00"},
    )
    assert "no UTC offset" in naive.json()["errors"]["slot_end"][0]


def test_deciding_twice_is_a_409_and_self_approval_a_403(engineer_api, urgent, manager, manager2):
    request_id = engineer_api.post(f"/api/v1/releases/{urgent.pk}/approval-requests/", ASK).json()[
        "id"
    ]
    approved = client_for(manager).post(
        f"/api/v1/approval-requests/{request_id}/approve/", {"comment": "go"}
    )
    assert approved.json()["status"] == "approved"
    assert approved.json()["decisions"][0]["approver"] == "morgan"
    late = client_for(manager2).post(
        f"/api/v1/approval-requests/{request_id}/reject/", {"comment": "no"}
    )
    assert late.status_code == 409
    assert late.json()["reasons"] == [
        {"code": "not_pending", "detail": "This request is approved already."}
    ]
    own = client_for(manager).post(f"/api/v1/releases/{urgent.pk}/approval-requests/", ASK)
    assert own.status_code == 409  # one live request per release
    # The release team's key: which approval let it through is theirs to know.
    gate = engineer_api.get(
        "/api/v1/gate/", {"release": urgent.pk, "at": "2026-12-01T14:30:00Z"}
    ).json()
    assert (gate["decision"], gate["reason"], gate["authorization"]) == (
        "allow",
        "exception_approved",
        str(request_id),
    )


def test_the_list_filters_and_puts_pending_urgent_and_old_first(
    engineer_api, make_release, engineer, manager
):
    made = []
    for version, urgency, minutes in [
        ("a", "normal", 0),
        ("b", "critical", 10),
        ("c", "high", 5),
        ("d", "critical", 20),
    ]:
        release = make_release(
            kind="exceptional", version=version, scheduled_start=utc(2026, 12, 1, 14, 30)
        )
        made.append(
            ask(
                release,
                engineer,
                urgency=urgency,
                justification="x",
                at=NOW + dt.timedelta(minutes=minutes),
            )
        )
    services.request_decide(request=made[1], by=manager, verdict="reject", comment="no", at=NOW)
    versions = [
        r["version"] for r in engineer_api.get("/api/v1/approval-requests/").json()["results"]
    ]
    assert versions == ["d", "c", "a", "b"]
    critical = engineer_api.get(
        "/api/v1/approval-requests/", {"urgency": "critical", "status": "pending"}
    ).json()
    assert [r["version"] for r in critical["results"]] == ["d"]


MATRIX = {
    # endpoint: (anonymous, customer, release engineer (owner), requester-manager, other manager)
    "create": (401, 403, 201, 201, 201),
    "list": (401, 403, 200, 200, 200),
    "retrieve": (401, 404, 200, 200, 200),
    "approve": (401, 404, 403, 403, 200),
    "reject": (401, 404, 403, 403, 200),
    "withdraw": (401, 404, 403, 200, 403),
}
ROLES = ["anonymous", "customer", "engineer", "requester", "other"]


@pytest.mark.parametrize("endpoint", MATRIX)
@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(endpoint, role, make_release, engineer, manager, manager2, customer):
    release = make_release(kind="exceptional", scheduled_start=utc(2026, 12, 1, 14, 30))
    request = ask(release, manager, justification="x")
    user = {
        "anonymous": None,
        "customer": customer,
        "engineer": engineer,
        "requester": manager,
        "other": manager2,
    }[role]
    client = client_for(user)
    if endpoint == "create":
        services.request_withdraw(request=request, by=manager, at=NOW)  # make room for a new one
        response = client.post(f"/api/v1/releases/{release.pk}/approval-requests/", ASK)
    elif endpoint == "list":
        response = client.get("/api/v1/approval-requests/")
    elif endpoint == "retrieve":
        response = client.get(f"/api/v1/approval-requests/{request.pk}/")
    else:
        response = client.post(
            f"/api/v1/approval-requests/{request.pk}/{endpoint}/", {"comment": "because"}
        )
    expected = MATRIX[endpoint][ROLES.index(role)]
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"


def _managers(count):
    from django.contrib.auth import get_user_model

    group = Group.objects.get(name="Senior management")
    users = []
    for i in range(count):
        user = get_user_model().objects.create_user(f"manager{i}", f"m{i}@example.com", "pw")
        group.user_set.add(user)
        users.append(user)
    return users


def _race(calls):
    barrier = threading.Barrier(len(calls))
    results = []

    def run(call):
        barrier.wait()
        try:
            call()
            results.append("ok")
        except services.ApprovalRefused as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@postgres_only
@threaded_db
def test_twenty_managers_at_once_with_quorum_one_reach_exactly_one_outcome(
    engineer, api_component, make_release
):
    release = make_release(kind="exceptional", scheduled_start=utc(2026, 12, 1, 14, 30))
    request = ask(release, engineer, justification="x")
    managers = _managers(20)
    calls = [
        (
            lambda m=m, i=i: services.request_decide(
                request=request, by=m, verdict="approve" if i % 2 else "reject", comment="c", at=NOW
            )
        )
        for i, m in enumerate(managers)
    ]
    results = _race(calls)
    assert results.count("ok") == 1 and results.count("not_pending") == 19
    request.refresh_from_db()
    [decision] = ApprovalDecision.objects.filter(request=request)
    assert request.status == {"approve": "approved", "reject": "rejected"}[decision.verdict]
    outcomes = release.events.filter(action__in=["approval_approved", "approval_rejected"])
    assert outcomes.count() == 1


@postgres_only
@threaded_db
def test_two_simultaneous_approvals_with_quorum_two_both_count_and_approve_once(
    engineer, api_component, make_release, settings
):
    settings.APPROVAL_QUORUM = settings.APPROVAL_QUORUM_CRITICAL = 2
    release = make_release(kind="exceptional", scheduled_start=utc(2026, 12, 1, 14, 30))
    request = ask(release, engineer, justification="x")
    first, second = _managers(2)
    results = _race(
        [
            lambda: services.request_decide(request=request, by=first, verdict="approve", at=NOW),
            lambda: services.request_decide(request=request, by=second, verdict="approve", at=NOW),
        ]
    )
    assert results == ["ok", "ok"]
    request.refresh_from_db()
    assert request.status == "approved"
    assert request.decisions.count() == 2
    assert release.events.filter(action="approval_approved").count() == 1


def test_the_inbox_shows_what_a_manager_needs_and_decides_from_there(
    client, urgent, engineer, manager
):
    request = ask(urgent, engineer, urgency="critical", justification="Data loss bug.")
    client.force_login(manager)
    inbox = client.get("/admin/approvals/approvalrequest/").content.decode()
    assert "Critical" in inbox and "Pending" in inbox
    assert "6 h before the next window opens" in inbox  # Tue 16:00 UTC -> Wed 08:00 UTC is 16 h
    page = client.get(f"/admin/approvals/approvalrequest/{request.pk}/change/").content.decode()
    for text in [
        "Data loss bug.",
        "Search is faster",
        "Tue 01 Dec 2026 06:00 PST (14:00 UTC)",
        "erin",
    ]:
        assert text in page
    refused = client.post(
        f"/admin/approvals/approvalrequest/{request.pk}/decide/",
        {"reject": "1", "comment": ""},
        follow=True,
    )
    assert "Say why you reject it." in [str(m) for m in refused.context["messages"]]
    client.post(f"/admin/approvals/approvalrequest/{request.pk}/decide/", {"approve": "1"})
    assert ApprovalRequest.objects.get().status == "approved"
    decided = client.get(f"/admin/approvals/approvalrequest/{request.pk}/change/").content.decode()
    assert "morgan" in decided and 'name="approve"' not in decided


def test_an_engineer_asks_for_approval_from_the_release_page_and_sees_where_it_stands(
    client, engineer, manager, make_release
):
    urgent = make_release(version="3.9.1", kind="exceptional", scheduled_start=SLOT_RANGE[0])
    client.force_login(engineer)
    page = client.get(f"/admin/releases/release/{urgent.pk}/change/").content.decode()
    assert "No authorization yet" in page and "Request approval…" in page
    ask_url = f"/admin/approvals/approvalrequest/ask/{urgent.pk}/"
    form = client.get(ask_url).content.decode()
    assert "Slot start (America/Los_Angeles" in form
    # 06:00–08:00 Pacific on Tuesday 1 December: the desk's zone, not UTC.
    answer = client.post(
        ask_url,
        {
            "urgency": "critical",
            "justification": "Data loss bug",
            "slot_start_0": "2026-12-01",
            "slot_start_1": "06:00:00",
            "slot_end_0": "2026-12-01",
            "slot_end_1": "08:00:00",
        },
        follow=True,
    )
    request = ApprovalRequest.objects.get()
    assert (request.slot_start, request.slot_end, request.urgency) == (*SLOT_RANGE, "critical")
    assert answer.redirect_chain[-1][0] == f"/admin/releases/release/{urgent.pk}/change/"
    assert "Pending" in answer.content.decode()
    services.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    page = client.get(f"/admin/releases/release/{urgent.pk}/change/").content.decode()
    assert "<strong>Approved</strong>" in page and "Request approval…" not in page


def test_the_inbox_puts_pending_first_then_the_most_urgent_then_the_oldest(
    client, manager, engineer, make_release
):
    high = make_release(version="5.0.0", kind="exceptional", scheduled_start=SLOT_RANGE[0])
    critical = make_release(version="5.0.1", kind="exceptional", scheduled_start=SLOT_RANGE[0])
    older = ask(critical, engineer, urgency="critical", at=NOW)
    newer = ask(high, engineer, urgency="high", at=NOW + dt.timedelta(minutes=5))
    client.force_login(manager)
    page = client.get("/admin/approvals/approvalrequest/").content.decode()
    assert page.index(f"Approval #{older.pk} ") < page.index(f"Approval #{newer.pk} ")
