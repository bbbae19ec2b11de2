"""What causes messages: release and notice events, approvals, rule changes, incidents and the
audit anchor, each queued in the transaction of its cause."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts import roles
from lib.text import one_line
from notes.models import AdvanceNotice
from notifications import messages
from notifications.messages import Content
from notifications.models import (
    Delivery,
    Message,
    Subscriber,
    Topic,
)
from notifications.outbox import (
    Recipient,
    email_recipients,
    key_contact_recipients,
    queue,
    topic_recipients,
)
from releases.models import Release, ReleaseEvent

Kind = Message.Kind

# --- What causes messages --------------------------------------------------------------------

# Messages a key-account contact acknowledges (with the link in their copy).
NOTICE_ACTIONS = {
    "notice_published": Kind.NOTICE_PUBLISHED,
    "notice_revised": Kind.NOTICE_REVISED,
    "notice_withdrawn": Kind.NOTICE_WITHDRAWN,
}
CLOSING_ACTIONS = {"notice_withdrawn", "notice_done"}


def on_release_event(event: ReleaseEvent) -> None:
    """Plugged into releases: queue what this timeline event must tell, in its transaction."""
    notice_event = event.action in NOTICE_ACTIONS or event.action in CLOSING_ACTIONS
    approval_event = event.action in ("approval_requested", "approval_invalidated")
    if event.action in ("complete", "rollback", "missed_window", "stranded") or notice_event:
        release = Release.objects.select_related("component", "owner").get(pk=event.release_id)
    elif approval_event:
        return _on_approval_event(event)
    else:
        return
    common = {"key": f"event:{event.pk}", "at": event.at, "event": event, "release": release}
    if event.action == "complete":
        recipients = topic_recipients(Topic.RELEASED, release.component_id)
        queue(
            kind=Kind.RELEASED, content=messages.released(release), recipients=recipients, **common
        )
    elif event.action == "rollback":
        recipients = topic_recipients(Topic.ROLLED_BACK, release.component_id)
        queue(
            kind=Kind.ROLLED_BACK,
            content=messages.rolled_back(release),
            recipients=recipients,
            **common,
        )
    elif event.action == "missed_window":
        window_end = dt.datetime.fromisoformat(event.details["window_end"])
        queue(
            kind=Kind.MISSED_WINDOW,
            content=messages.missed_window(release, window_end),
            recipients=email_recipients([release.owner.email]),
            **common,
        )
    elif event.action == "stranded":
        queue(
            kind=Kind.STRANDED,
            content=messages.stranded(release, event.details["why"]),
            recipients=email_recipients([release.owner.email]),
            **common,
        )
    else:
        notice = AdvanceNotice.objects.select_related("release__component").get(
            pk=event.details["notice"]
        )
        if event.action in CLOSING_ACTIONS:
            _drop_held_revisions(notice)
        if event.action not in NOTICE_ACTIONS:
            return
        kind = NOTICE_ACTIONS[event.action]
        changes = event.details.get("changes")
        if kind == Kind.NOTICE_REVISED and _join_held_revision(notice, event.at, changes):
            return
        # Key accounts hear of every notice, whatever they subscribed to (the guide: "informed
        # directly"); contacts come last so their delivery, with its acknowledgement link, wins.
        recipients = (
            topic_recipients(Topic.NOTICES, release.component_id) + key_contact_recipients()
        )
        queue(
            kind=kind,
            content=messages.notice(notice, kind, changes),
            recipients=recipients,
            notice=notice,
            revision=notice.revision,
            hold=revision_hold() if kind == Kind.NOTICE_REVISED else None,
            **common,
        )


def _on_approval_event(event: ReleaseEvent) -> None:
    """A request filed reaches the senior managers who may decide it (never its requester or
    the release's owner: separation of duties); one voided by a change reaches its requester."""
    from approvals.models import ApprovalRequest

    request = ApprovalRequest.objects.select_related(
        "release__component", "release__owner", "requester"
    ).get(pk=event.details["request"])
    if event.action == "approval_requested":
        deciders = (
            get_user_model()
            .objects.filter(groups__name=roles.SENIOR_MANAGEMENT, is_active=True)
            .exclude(pk__in=[request.requester_id, request.release.owner_id])
            .values_list("email", flat=True)
        )
        kind, content, recipients = (
            Kind.APPROVAL_NEEDED, messages.approval_needed(request), email_recipients(deciders)
        )  # fmt: skip
    else:
        kind, content = Kind.APPROVAL_INVALIDATED, messages.approval_invalidated(request)
        recipients = email_recipients([request.requester.email])
    queue(
        key=f"event:{event.pk}",
        kind=kind,
        content=content,
        recipients=recipients,
        at=event.at,
        event=event,
        release=request.release,
    )


AUDIT_KINDS = {"anchor": Kind.AUDIT_ANCHOR, "broken": Kind.AUDIT_BROKEN}


def audit_notice(
    *, kind: str, key: str, subject: str, text: str, data: dict, at: dt.datetime
) -> list[str]:
    """Plugged into audit: tell senior management the day's anchor (the chain's head, to keep
    outside the database) or the break found instead. In the caller's transaction, through
    the outbox, once per key. Returns the addresses it was queued for."""
    addresses = sorted(
        {
            email
            for email in get_user_model()
            .objects.filter(groups__name=roles.SENIOR_MANAGEMENT, is_active=True)
            .values_list("email", flat=True)
            if email
        }
    )
    queue(
        key=key,
        kind=AUDIT_KINDS[kind],
        content=Content(one_line(subject), text, data),
        recipients=[Recipient(Subscriber.Channel.EMAIL, address) for address in addresses],
        at=at,
    )
    return addresses


def revision_hold() -> dt.timedelta:
    return dt.timedelta(minutes=settings.NOTICE_REVISION_HOLD_MINUTES)


# A held message is joined only while its send is this far off: no worker can have taken it.
JOIN_MARGIN = dt.timedelta(seconds=30)


def _join_held_revision(notice: AdvanceNotice, at: dt.datetime, changes) -> bool:
    """Fold this revision into one still held for the same notice; False if there is none.

    Several edits within a few minutes reach customers as one message, saying every change,
    with the latest text and revision (acknowledgement links name it when the message is sent).
    """
    base = min(at, timezone.now())
    held = (
        Message.objects.select_for_update()
        .filter(kind=Kind.NOTICE_REVISED, notice=notice, held_until__gt=base + JOIN_MARGIN)
        .order_by("-id")
        .first()
    )
    if held is None:
        return False
    merged = [*held.data.get("changes", []), *(changes or [])]
    content = messages.notice(notice, Kind.NOTICE_REVISED, merged)
    held.subject, held.text, held.data = content.subject, content.text, content.data
    held.short, held.revision = content.short, notice.revision
    held.save(update_fields=["subject", "text", "short", "data", "revision"])
    return True


def _drop_held_revisions(notice: AdvanceNotice) -> None:
    """A notice withdrawn or done: a revision still held back is no longer worth sending."""
    Delivery.objects.filter(
        message__notice=notice,
        message__kind=Kind.NOTICE_REVISED,
        message__held_until__isnull=False,
        status=Delivery.Status.PENDING,
        attempts=0,
    ).update(status=Delivery.Status.SKIPPED)


def on_rule_change(change, what: str) -> None:
    """Plugged into rules: senior managers hear of a change to decide; its proposer, of the
    outcome. In the transaction of the step."""
    from django.contrib.auth import get_user_model

    from accounts.roles import SENIOR_MANAGEMENT

    at = change.decided_at or change.created_at
    if change.tightening:
        return  # in force at once, by whoever made it: nobody else needs to decide anything
    if what == "proposed":
        deciders = (
            get_user_model()
            .objects.filter(groups__name=SENIOR_MANAGEMENT, is_active=True)
            .exclude(pk=change.proposer_id)
            .values_list("email", flat=True)
        )
        kind, recipients = Kind.RULE_CHANGE, email_recipients(deciders)
    else:
        kind, recipients = Kind.RULE_DECIDED, email_recipients([change.proposer.email])
    queue(
        key=f"rules:{change.pk}:{what}",
        kind=kind,
        content=messages.rule_change(change, what),
        recipients=recipients,
        at=at,
    )


def on_status(incident, update, what: str) -> None:
    """Plugged into status: announce each public step at once (subscribers of "status" for the
    affected components; key-account contacts too for a major outage), chase late updates, and
    tell Operations when a probe opened an incident. In the transaction of the step."""
    from accounts.roles import OPERATIONS, SENIOR_MANAGEMENT
    from status.models import Level

    people = get_user_model().objects.filter(is_active=True)
    if what in ("overdue_owner", "overdue_management"):
        addresses = [incident.owner.email]
        if what == "overdue_management":
            addresses += people.filter(groups__name=SENIOR_MANAGEMENT).values_list(
                "email", flat=True
            )
        queue(
            key=f"status:{incident.pk}:{what}:{incident.next_update_by.isoformat()}",
            kind=Kind.STATUS_OVERDUE,
            content=messages.status_overdue(incident, what),
            recipients=email_recipients(addresses),
            at=timezone.now(),
        )
        return
    if what == "opened" and incident.opened_automatically:
        operations = people.filter(groups__name=OPERATIONS).values_list("email", flat=True)
        queue(
            key=f"status:{incident.pk}:probe",
            kind=Kind.STATUS_PROBE,
            content=messages.status_probe_opened(incident, update),
            recipients=email_recipients([*operations, incident.owner.email]),
            at=update.at,
        )
    if not incident.public:
        return
    recipients: dict[tuple[str, str], Recipient] = {}
    for component in incident.components.all():
        for recipient in topic_recipients(Topic.STATUS, component.pk):
            recipients[(recipient.channel, recipient.address)] = recipient
    found = list(recipients.values())
    if update.impact == Level.MAJOR:
        found += key_contact_recipients()  # key accounts hear of major outages directly
    queue(
        key=f"status:update:{update.pk}",
        kind=Kind.STATUS,
        content=messages.status_update(incident, update, what),
        recipients=found,
        at=update.at,
    )
