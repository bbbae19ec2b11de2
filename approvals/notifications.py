"""What approvals tell people. Every message leaves through send(), which the notifications
capability will move onto the outbox; nothing else here sends."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse

from accounts.roles import SENIOR_MANAGEMENT
from approvals.models import ApprovalRequest
from releases.templatetags.instants import local_and_utc


def send(subject: str, body: str, recipients: list[str]) -> int:
    """Send one e-mail to each recipient; the one way approvals send anything."""
    if not recipients:
        return 0
    return send_mail(f"[Nightshift] {subject}", body, None, recipients)


def _link(request: ApprovalRequest) -> str:
    return settings.SITE_URL + reverse("admin:approvals_approvalrequest_change", args=[request.pk])


def request_filed(request_id: int) -> int:
    """Tell every senior manager who may decide that a request waits for them."""
    request = ApprovalRequest.objects.select_related("release__component", "requester").get(
        pk=request_id
    )
    release = request.release
    deciders = (
        get_user_model()
        .objects.filter(groups__name=SENIOR_MANAGEMENT, is_active=True)
        .exclude(pk__in=[request.requester_id, release.owner_id])
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    items = "\n".join(f"  - [{i.type}] {i.title}" for i in release.items.all()) or "  (none)"
    body = (
        f"{request.requester.get_full_name() or request.requester} asks to release "
        f"{release.component.name} {release.version} outside the release windows.\n\n"
        f"Urgency: {request.get_urgency_display()}\n"
        f"Slot: {local_and_utc(request.slot_start)} to {local_and_utc(request.slot_end)}\n"
        f"Why: {request.justification}\n\nItems:\n{items}\n\n"
        f"Approve or reject: {_link(request)}\n"
    )
    subject = f"Approval needed ({request.get_urgency_display().lower()}): {release}"
    return send(subject, body, sorted(deciders))


def request_invalidated(request_id: int) -> int:
    """Tell the requester that a change to the release voided the request."""
    request = ApprovalRequest.objects.select_related("release", "requester").get(pk=request_id)
    if not request.requester.email:
        return 0
    body = (
        f"{request.release} changed after your approval request #{request.pk}, so the request "
        f"no longer stands. Ask again for what the release is now: {_link(request)}\n"
    )
    return send(f"Approval request #{request.pk} invalidated", body, [request.requester.email])
