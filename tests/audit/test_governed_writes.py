"""Every governed write lands on the log, in its own transaction, with who and what changed."""

import pytest

from accounts.models import ApiKey
from accounts.services import apikey_create, apikey_revoke
from approvals import services as approvals
from approvals.models import ApprovalDecision
from audit.models import Entry
from notes import services as notices
from notes.models import AdvanceNotice, NoticeRevision
from releases import services as releases
from releases.models import ReleaseEvent
from tests.audit.conftest import problems
from tests.helpers import IN_SLOT, NOW, SLOT, ask, utc

pytestmark = pytest.mark.django_db
FAR_WINDOW = utc(2027, 1, 6, 8, 15)
COMPLETE = {
    "headline": "API keys replace shared secrets",
    "description": "From January, every request carries an API key.",
    "tentative_start": FAR_WINDOW,
    "nature": "Authentication change.",
    "action_required": "Create a key.",
    "benefits": "Keys can be revoked one by one.",
}


def entries_for(subject) -> list[tuple[str, str]]:
    """(action, actor) of each entry about ``subject``, in chain order."""
    label = subject._meta.label_lower
    return list(
        Entry.objects.filter(subject_type=label, subject_id=str(subject.pk))
        .order_by("seq")
        .values_list("action", "actor_username")
    )


def test_every_release_event_is_on_the_log_with_its_actor(shipped, engineer):
    releases.release_rollback(release=shipped, by=engineer, reason="Errors", at=utc(2026, 12, 3))
    events = list(ReleaseEvent.objects.order_by("id"))
    assert [e.action for e in events] == [
        "scheduled", "announce", "start", "complete", "verify", "rollback",
    ]  # fmt: skip
    for event in events:
        assert entries_for(event) == [(f"release.{event.action}", "erin")]
    entry = Entry.objects.get(subject_type="releases.releaseevent", subject_id=str(events[-1].pk))
    assert entry.after["details"]["reason"] == "Errors"
    assert entry.after["release"] == shipped.pk
    assert problems() == []


def test_scheduled_work_is_logged_without_an_actor(make_release):
    release = make_release()
    assert releases.flag_missed_windows(at=utc(2026, 12, 2, 12)) == 1
    event = release.events.get(action="missed_window")
    assert entries_for(event) == [("release.missed_window", "")]
    assert problems() == []


@pytest.fixture
def urgent(make_release, engineer):
    release = make_release(kind="exceptional", version="3.9.1", scheduled_start=IN_SLOT)
    return releases.release_announce(release=release, by=engineer, at=NOW)


def test_approval_requests_and_decisions_on_creation_and_every_change_of_status(
    urgent, engineer, manager
):
    request = ask(urgent, engineer)
    approvals.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    decision = ApprovalDecision.objects.get()
    assert entries_for(request) == [
        ("approval_request.created", "erin"),
        ("approval_request.approved", "morgan"),
    ]
    assert entries_for(decision) == [("approval_decision.created", "morgan")]
    approved = Entry.objects.get(action="approval_request.approved")
    assert approved.before == {"status": "pending", "decided_at": None}
    assert approved.after == {"status": "approved", "decided_at": "2026-11-30T18:00:00+00:00"}
    approvals.request_withdraw(request=request, by=engineer, at=NOW)
    assert entries_for(request)[-1] == ("approval_request.withdrawn", "erin")
    again = ask(urgent, engineer)
    assert approvals.expire_due(at=SLOT[1]) == 1
    assert entries_for(again) == [
        ("approval_request.created", "erin"),
        ("approval_request.expired", ""),
    ]
    assert problems() == []


def test_a_timeline_event_comes_before_what_its_hooks_did(urgent, engineer, manager):
    request = ask(urgent, engineer)
    approvals.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    seq = Entry.objects.order_by("-seq").values_list("seq", flat=True).first()
    releases.release_update(release=urgent, by=engineer, at=NOW, scheduled_start=SLOT[0])
    actions = list(
        Entry.objects.filter(seq__gt=seq).order_by("seq").values_list("action", flat=True)
    )
    assert actions == [
        "release.rescheduled",
        "approval_request.invalidated",
        "release.approval_invalidated",
    ]
    assert problems() == []


def test_notices_and_their_revisions_drafts_included(make_release, engineer):
    release = make_release(version="10.0.0", impact="perceptible", scheduled_start=FAR_WINDOW)
    notice = notices.notice_create(release=release, by=engineer, at=NOW, headline="Keys")
    notices.notice_update(notice=notice, by=engineer, at=NOW, **COMPLETE)
    notices.notice_publish(notice=notice, by=engineer, at=NOW)
    notices.notice_update(notice=notice, by=engineer, at=NOW, headline="Keys, at last")
    notices.notice_withdraw(notice=notice, by=engineer, at=NOW)
    assert entries_for(notice) == [
        ("notice.created", "erin"),
        ("notice.updated", "erin"),  # the draft
        ("notice.published", "erin"),
        ("notice.updated", "erin"),  # published: a revision
        ("notice.withdrawn", "erin"),
    ]
    revisions = list(NoticeRevision.objects.order_by("number"))
    assert [entries_for(r) for r in revisions] == [[("notice_revision.created", "erin")]] * 2
    revised = Entry.objects.filter(action="notice.updated").order_by("seq").last()
    assert revised.before == {"headline": "API keys replace shared secrets", "revision": 1}
    assert revised.after == {"headline": "Keys, at last", "revision": 2}
    draft = Entry.objects.filter(action="notice.updated").order_by("seq").first()
    assert draft.after["tentative_start"] == "2027-01-06T08:15:00+00:00"
    assert problems() == []


def test_api_keys_created_and_revoked_once(engineer, manager, client):
    key, _ = apikey_create(user=engineer, name="ci", by=manager, at=NOW)
    apikey_revoke(key=key, by=manager, at=NOW)
    apikey_revoke(key=key, by=engineer)  # revoked already: nothing changes, nothing logged
    assert entries_for(key) == [("api_key.created", "morgan"), ("api_key.revoked", "morgan")]
    # Using a key touches last_used_at, which is not governed.
    other, secret = apikey_create(user=engineer, name="used")
    answer = client.get("/api/v1/components/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert answer.status_code == 200
    assert ApiKey.objects.get(pk=other.pk).last_used_at is not None
    assert entries_for(other) == [("api_key.created", "")]  # the command line: no actor
    assert problems() == []


def test_the_admin_issues_and_revokes_keys_on_the_log(admin_client, admin_user, engineer):
    answer = admin_client.post(
        "/admin/accounts/apikey/add/", {"user": engineer.pk, "name": "from admin"}
    )
    assert answer.status_code == 200  # the page that shows the key once
    key = ApiKey.objects.get(name="from admin")
    admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": [key.pk], "confirmed": "yes"},
    )
    assert entries_for(key) == [("api_key.created", "admin"), ("api_key.revoked", "admin")]
    assert problems() == []


def test_a_delete_through_the_orm_is_recorded_with_who_did_it(
    admin_client, make_release, engineer, outsider
):
    release = make_release(version="10.0.0", impact="perceptible", scheduled_start=FAR_WINDOW)
    notice = notices.notice_create(release=release, by=engineer, at=NOW, **COMPLETE)
    answer = admin_client.post(f"/admin/notes/advancenotice/{notice.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302
    assert not AdvanceNotice.objects.exists()
    deleted = Entry.objects.get(action="notes.advancenotice.deleted")
    assert (deleted.subject_id, deleted.actor_username, deleted.digest) == (
        str(notice.pk),
        "admin",
        None,
    )
    assert deleted.before["headline"] == COMPLETE["headline"]
    # A cascade's rows too: deleting a user takes their keys.
    key, _ = apikey_create(user=outsider, name="theirs", at=NOW)
    answer = admin_client.post(f"/admin/auth/user/{outsider.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302
    assert entries_for(key) == [("api_key.created", ""), ("accounts.apikey.deleted", "admin")]
    assert problems() == []
