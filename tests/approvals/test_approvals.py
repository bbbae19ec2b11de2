"""Exceptional releases: senior-management authorization, bound to what was approved."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone
from django_q.tasks import async_task

from approvals import services
from approvals.models import ApprovalRequest
from notifications.models import Delivery
from releases import services as releases
from tests.helpers import IN_SLOT, NOW, SLOT, ask, utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def urgent(make_release, engineer):
    """An announced exceptional release, owned by the engineer."""
    release = make_release(kind="exceptional", version="3.9.1", scheduled_start=IN_SLOT)
    return releases.release_announce(release=release, by=engineer, at=NOW)


def test_asking_notifies_the_managers_who_may_decide(
    urgent, engineer, manager, manager2, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = ask(urgent, manager)  # a senior manager asks; the other one decides
    assert request.status == "pending"
    [message] = mail.outbox
    assert message.to == [manager2.email]  # not the requester, not the owner (an engineer)
    assert "Approval needed (high)" in message.subject
    assert f"/admin/approvals/approvalrequest/{request.pk}/change/" in message.body
    assert "Tue 01 Dec 2026 06:00 PST (14:00 UTC)" in message.body
    event = urgent.events.get(action="approval_requested")
    assert event.details["quorum"] == 1


def test_an_approval_lets_the_release_start_inside_its_slot_only(urgent, engineer, manager):
    with pytest.raises(releases.TransitionRefused) as refused:
        releases.release_start(release=urgent, by=engineer, at=IN_SLOT)
    assert [r.code for r in refused.value.refusals] == ["not_authorized"]
    request = ask(urgent, engineer)
    services.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    assert ApprovalRequest.objects.get().status == "approved"
    with pytest.raises(releases.TransitionRefused) as early:
        releases.release_start(release=urgent, by=engineer, at=SLOT[0] - dt.timedelta(minutes=1))
    assert [r.code for r in early.value.refusals] == ["outside_authorized_slot"]
    assert releases.release_start(release=urgent, by=engineer, at=IN_SLOT).state == "in_progress"
    actions = list(urgent.events.values_list("action", flat=True))
    assert actions[-4:] == ["approval_requested", "approval_decision", "approval_approved", "start"]


@pytest.mark.parametrize(
    ("who", "code"),
    [("requester", "own_request"), ("owner", "release_owner"), ("engineer", "not_senior_manager")],
)
def test_separation_of_duties(urgent, engineer, manager, manager2, who, code):
    from django.contrib.auth.models import Group

    if who == "owner":  # an owner who is also a senior manager still may not decide
        Group.objects.get(name="Senior management").user_set.add(engineer)
        engineer = type(engineer).objects.get(pk=engineer.pk)
    request = ask(urgent, manager)
    decider = {"requester": manager, "owner": engineer, "engineer": engineer}[who]
    with pytest.raises(services.ApprovalRefused) as exc:
        services.request_decide(request=request, by=decider, verdict="approve", at=NOW)
    assert (exc.value.code, exc.value.status) == (code, 403)
    assert ApprovalRequest.objects.get().status == "pending"


def test_a_rejection_needs_a_comment_and_rejects_at_once(urgent, engineer, manager, settings):
    settings.APPROVAL_QUORUM = 2
    request = ask(urgent, engineer)
    with pytest.raises(services.ApprovalInvalid) as exc:
        services.request_decide(request=request, by=manager, verdict="reject", at=NOW)
    assert "comment" in exc.value.errors
    services.request_decide(request=request, by=manager, verdict="reject", comment="Wait", at=NOW)
    assert ApprovalRequest.objects.get().status == "rejected"


def test_a_quorum_of_two_needs_two_distinct_managers(urgent, engineer, manager, manager2, settings):
    settings.APPROVAL_QUORUM = 2
    request = ask(urgent, engineer)
    services.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    assert ApprovalRequest.objects.get().status == "pending"
    with pytest.raises(services.ApprovalRefused) as twice:
        services.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    assert twice.value.code == "already_decided"
    services.request_decide(request=request, by=manager2, verdict="approve", at=NOW)
    assert ApprovalRequest.objects.get().status == "approved"


def test_critical_requests_use_their_own_quorum(urgent, engineer, manager, settings):
    settings.APPROVAL_QUORUM, settings.APPROVAL_QUORUM_CRITICAL = 2, 1
    request = ask(urgent, engineer, urgency="critical")
    services.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    assert ApprovalRequest.objects.get().status == "approved"


def test_a_critical_quorum_above_the_normal_one_stops_the_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env={
            "PATH": "/usr/bin:/bin",
            "DEBUG": "1",
            "APPROVAL_QUORUM": "1",
            "APPROVAL_QUORUM_CRITICAL": "2",
            "NIGHTSHIFT_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "may need fewer approvals, never more" in result.stderr


@pytest.mark.parametrize(
    "change",
    [
        lambda r, by: releases.release_update(release=r, by=by, at=NOW, version="3.9.2"),
        lambda r, by: releases.release_update(release=r, by=by, at=NOW, impact="perceptible"),
        lambda r, by: releases.release_update(
            release=r, by=by, at=NOW, scheduled_start=utc(2026, 12, 1, 15)
        ),
        lambda r, by: releases.item_add(release=r, by=by, at=NOW, title="One more thing"),
        lambda r, by: releases.item_update(item=r.items.first(), by=by, at=NOW, title="Edited"),
    ],
    ids=["version", "impact", "schedule", "item added", "item edited"],
)
def test_changing_what_was_approved_invalidates_it(
    urgent, engineer, manager, change, django_capture_on_commit_callbacks
):
    request = ask(urgent, engineer)
    services.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        change(urgent, engineer)
    request.refresh_from_db()
    assert request.status == "invalidated"
    assert urgent.events.filter(action="approval_invalidated").exists()
    assert mail.outbox[-1].to == [engineer.email]
    assert "invalidated" in mail.outbox[-1].subject
    with pytest.raises(releases.TransitionRefused) as exc:
        releases.release_start(release=urgent, by=engineer, at=IN_SLOT)
    assert "not_authorized" in [r.code for r in exc.value.refusals]
    assert ask(urgent, engineer).status == "pending"  # and a new request can be made


def test_an_edit_that_changes_nothing_keeps_the_approval(urgent, engineer, manager):
    request = ask(urgent, engineer)
    services.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    releases.release_update(release=urgent, by=engineer, at=NOW, notes="Runbook: see wiki")
    request.refresh_from_db()
    assert request.status == "approved"


def test_the_guard_reads_the_clock_even_if_the_expiry_task_is_late(urgent, engineer, manager):
    request = ask(urgent, engineer)
    services.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    after = SLOT[1] + dt.timedelta(minutes=1)
    with pytest.raises(releases.TransitionRefused) as exc:
        releases.release_start(release=urgent, by=engineer, at=after)
    assert [r.code for r in exc.value.refusals] == ["not_authorized"]
    assert ApprovalRequest.objects.get().status == "approved"  # the task has not run yet
    assert services.expire_due(at=after) == 1
    assert ApprovalRequest.objects.get().status == "expired"
    assert urgent.events.filter(action="approval_expired").exists()


def test_the_expiry_task_runs_through_django_q(urgent, engineer, time_machine):
    ask(urgent, engineer)
    time_machine.move_to(SLOT[1] + dt.timedelta(seconds=1))
    async_task("approvals.tasks.expire_approvals")  # sync in tests (Q_CLUSTER["sync"])
    assert ApprovalRequest.objects.get().status == "expired"


def test_deciding_after_the_slot_ended_expires_the_request_and_is_refused(
    urgent, engineer, manager
):
    request = ask(urgent, engineer)
    with pytest.raises(services.ApprovalRefused) as exc:
        services.request_decide(request=request, by=manager, verdict="approve", at=SLOT[1])
    assert exc.value.code == "request_expired"
    assert ApprovalRequest.objects.get().status == "expired"  # kept, though the call failed


def test_only_the_requester_withdraws_and_then_a_new_request_may_follow(urgent, engineer, manager):
    request = ask(urgent, engineer)
    with pytest.raises(services.ApprovalRefused) as exc:
        ask(urgent, engineer)
    assert exc.value.code == "request_exists"
    with pytest.raises(services.ApprovalRefused) as other:
        services.request_withdraw(request=request, by=manager, at=NOW)
    assert (other.value.code, other.value.status) == ("not_requester", 403)
    assert services.request_withdraw(request=request, by=engineer, at=NOW).status == "withdrawn"
    assert ask(urgent, engineer).status == "pending"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"justification": "  "}, "justification"),
        ({"slot_end": SLOT[0]}, "slot_end"),
        ({"slot_end": SLOT[0] + dt.timedelta(minutes=30)}, "slot_end"),  # shorter than 60 min
        ({"slot_start": utc(2026, 11, 29), "slot_end": utc(2026, 11, 29, 2)}, "slot_end"),
        ({"urgency": "whenever"}, "urgency"),
    ],
)
def test_bad_requests_name_the_field_and_save_nothing(urgent, engineer, overrides, field):
    with pytest.raises(services.ApprovalInvalid) as exc:
        ask(urgent, engineer, **overrides)
    assert field in exc.value.errors
    assert not ApprovalRequest.objects.exists()


def test_a_regular_release_that_missed_its_window_can_become_exceptional(
    make_release, engineer, manager
):
    release = releases.release_announce(release=make_release(), by=engineer, at=NOW)
    with pytest.raises(services.ApprovalRefused) as exc:
        ask(release, engineer)
    assert exc.value.code == "not_exceptional"
    late = utc(2026, 12, 2, 12)  # Wednesday's window closed at 11:00
    release = releases.release_update(
        release=release,
        by=engineer,
        at=late,
        kind="exceptional",
        scheduled_start=utc(2026, 12, 2, 13),
    )
    request = ask(
        release, engineer, slot_start=utc(2026, 12, 2, 13), slot_end=utc(2026, 12, 2, 15), at=late
    )
    services.request_decide(request=request, by=manager, verdict="approve", at=late)
    started = releases.release_start(release=release, by=engineer, at=utc(2026, 12, 2, 13, 5))
    assert started.state == "in_progress"


def test_a_mail_server_failure_neither_fails_nor_undoes_the_request(
    urgent, engineer, manager, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.notifications.backends.DownBackend"
    with django_capture_on_commit_callbacks(execute=True):
        request = ask(urgent, engineer)
    assert ApprovalRequest.objects.get(pk=request.pk).status == "pending"
    assert mail.outbox == []
    # The message waits in the outbox for the next attempt, with what went wrong.
    [delivery] = Delivery.objects.filter(message__kind="approval.needed", message__release=urgent)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "SMTP is down" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()
