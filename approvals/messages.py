"""What approvals tell people. Each message goes through the notifications outbox, queued in the
transaction that caused it, so it is sent (and retried) after the commit and never lost."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.roles import SENIOR_MANAGEMENT
from approvals.models import ApprovalRequest
from notifications.messages import Content, url
from notifications.models import Message, Subscriber
from notifications.services import Recipient, queue
from releases.templatetags.instants import local_and_utc


def _link(request: ApprovalRequest) -> str:
    return url(reverse("admin:approvals_approvalrequest_change", args=[request.pk]))


def _to(addresses) -> list[Recipient]:
    return [Recipient(Subscriber.Channel.EMAIL, a) for a in sorted(set(addresses)) if a]


def request_filed(request: ApprovalRequest, *, at: dt.datetime) -> None:
    """Tell every senior manager who may decide that a request waits for them."""
    release = request.release
    deciders = (
        get_user_model()
        .objects.filter(groups__name=SENIOR_MANAGEMENT, is_active=True)
        .exclude(pk__in=[request.requester_id, release.owner_id])
        .values_list("email", flat=True)
    )
    items = "\n".join(f"  - [{i.type}] {i.title}" for i in release.items.all()) or "  (none)"
    text = (
        f"{request.requester.get_full_name() or request.requester} asks to release "
        f"{release.component.name} {release.version} outside the release windows.\n\n"
        f"Urgency: {request.get_urgency_display()}\n"
        f"Slot: {local_and_utc(request.slot_start)} to {local_and_utc(request.slot_end)}\n"
        f"Why: {request.justification}\n\nItems:\n{items}\n\n"
        f"Approve or reject: {_link(request)}\n"
    )
    subject = f"Approval needed ({request.get_urgency_display().lower()}): {release}"
    queue(
        key=f"approval:{request.pk}:filed",
        kind=Message.Kind.APPROVAL_NEEDED,
        content=Content(subject, text, {"request": request.pk, "release": release.pk}),
        recipients=_to(deciders),
        at=at,
        release=release,
    )


def request_invalidated(request: ApprovalRequest, *, at: dt.datetime) -> None:
    """Tell the requester that a change to the release voided the request."""
    text = (
        f"{request.release} changed after your approval request #{request.pk}, so the request "
        f"no longer stands. Ask again for what the release is now: {_link(request)}\n"
    )
    queue(
        key=f"approval:{request.pk}:invalidated",
        kind=Message.Kind.APPROVAL_INVALIDATED,
        content=Content(
            f"Approval request #{request.pk} invalidated",
            text,
            {"request": request.pk, "release": request.release_id},
        ),
        recipients=_to([request.requester.email]),
        at=at,
        release=request.release,
    )
