"""Authorizing exceptional releases: request, decide, withdraw, invalidate, expire.

Rules (docs/architecture.md, "Exceptional releases"):
- only senior management decides; never the requester nor the release's owner;
- a quorum of distinct approvals (APPROVAL_QUORUM, fewer or equal for critical) approves, and
  any rejection rejects;
- an approval is bound to a fingerprint of what was approved (component, version, schedule,
  impact, items) and to its slot: a change invalidates it, and it expires when the slot ends.

Every decision locks the request row, so concurrent managers take turns and the outcome is
reached exactly once. Every step lands on the release's timeline, and the request and decision
rows themselves on the audit log (on creation and on every change of status).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import roles
from approvals.models import ApprovalDecision, ApprovalRequest
from audit import services as audit
from lib.errors import Invalid, Refused
from releases import guards
from releases.models import Release, ReleaseEvent
from releases.services import record_note, release_publicity
from releases.windows import iso_utc, lasting, when

Status = ApprovalRequest.Status
LIVE = (Status.PENDING, Status.APPROVED)
# Release events after which what was approved may have changed.
CHANGING_ACTIONS = {"edited", "rescheduled", "item_added", "item_changed", "item_removed"}


class ApprovalRefused(Refused):
    """The approval rules say no (403 or 409)."""


class ApprovalInvalid(Invalid):
    """An approval request cannot be written so."""


def fingerprint(release: Release, slot_start: dt.datetime, slot_end: dt.datetime) -> str:
    """A digest of exactly what is being approved, and whose release it is: a change of owner
    voids an approval like any other change (nobody approves by handing a release around)."""
    items = [
        (i.title, i.description, i.type, i.breaking, i.public)
        for i in sorted(release.items.all(), key=lambda i: i.pk)
    ]
    content = {
        "component": release.component.slug,
        "version": release.version,
        # In UTC: the same instant typed in another zone is the same approval.
        "slot": [iso_utc(slot_start), iso_utc(slot_end)],
        "schedule": [iso_utc(release.scheduled_start), release.expected_duration_minutes],
        "impact": release.impact,
        "items": items,
        "owner": release.owner_id,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def quorum_for(urgency: str) -> int:
    """How many distinct approvals a request of this urgency needs."""
    if urgency == ApprovalRequest.Urgency.CRITICAL:
        return settings.APPROVAL_QUORUM_CRITICAL
    return settings.APPROVAL_QUORUM


def request_create(
    *,
    release: Release,
    by,
    urgency: str,
    justification: str,
    slot_start: dt.datetime,
    slot_end: dt.datetime,
    waives_notice: bool = False,
    at: dt.datetime | None = None,
) -> ApprovalRequest:
    """Ask senior management to let an exceptional release start inside a slot."""
    at = at or timezone.now()
    if not roles.is_release_team(by):
        raise ApprovalRefused(
            "not_allowed",
            "Only release engineers and senior managers ask for approval.",
            status=403,
        )
    errors = {}
    if not (justification or "").strip():
        errors["justification"] = "Say why this cannot wait for a regular window."
    if urgency not in ApprovalRequest.Urgency.values:
        errors["urgency"] = f"Use one of: {', '.join(ApprovalRequest.Urgency.values)}."
    if slot_end <= slot_start:
        errors["slot_end"] = "The slot must end after it starts."
    elif slot_end <= at:
        errors["slot_end"] = f"The slot is already over ({when(slot_end)})."
    elif slot_end - slot_start < release.expected_duration:
        errors["slot_end"] = (
            f"The slot ({lasting(slot_end - slot_start)}) is shorter than the release's "
            f"expected duration ({lasting(release.expected_duration)})."
        )
    if errors:
        raise ApprovalInvalid(errors)
    with transaction.atomic(), audit.deferred():
        locked = Release.objects.select_for_update().select_related("component").get(pk=release.pk)
        if locked.kind != Release.Kind.EXCEPTIONAL:
            raise ApprovalRefused(
                "not_exceptional",
                "Only exceptional releases need approval; change this release's kind to "
                "exceptional first (a regular release that missed its window may).",
            )
        if locked.state not in (Release.State.PLANNED, Release.State.ANNOUNCED):
            raise ApprovalRefused(
                "invalid_state",
                f"A release that is {locked.get_state_display().lower()} needs no approval.",
            )
        try:
            with transaction.atomic():
                request = ApprovalRequest.objects.create(
                    release=locked,
                    requester=by,
                    urgency=urgency,
                    justification=justification.strip(),
                    slot_start=slot_start,
                    slot_end=slot_end,
                    waives_notice=waives_notice,
                    fingerprint=fingerprint(locked, slot_start, slot_end),
                    created_at=at,
                )
        except IntegrityError:
            raise ApprovalRefused(
                "request_exists",
                "This release already has a pending or approved request; withdraw it first.",
            ) from None
        record_note(
            locked,
            action="approval_requested",
            by=by,
            at=at,
            details={
                "request": request.pk,
                "urgency": urgency,
                "slot": [slot_start.isoformat(), slot_end.isoformat()],
                "quorum": quorum_for(urgency),
                "waives_notice": waives_notice,
            },
        )
        audit.record(
            action="approval_request.created",
            subject=request,
            actor=by,
            at=at,
            after=audit.snapshot(request),
        )
    return request


def _settle(request: ApprovalRequest, status: str, *, by, at: dt.datetime, details: dict) -> None:
    before = audit.snapshot(request, ["status", "decided_at"])
    request.status = status
    request.decided_at = at
    request.save(update_fields=["status", "decided_at"])
    audit.record(
        action=f"approval_request.{status}",
        subject=request,
        actor=by,
        at=at,
        before=before,
        after=audit.snapshot(request, ["status", "decided_at"]),
    )
    release = request.release
    # An authorization granted or gone changes when customers may see the release.
    release_publicity(release=release, at=at)
    record_note(
        release,
        action=f"approval_{status}",
        by=by,
        at=at,
        details={"request": request.pk, **details},
    )


def _stale_reason(request: ApprovalRequest, at: dt.datetime) -> tuple[str, str] | None:
    """Expired or invalidated, judged now; None while the request still stands."""
    if at >= request.slot_end:
        return Status.EXPIRED, f"The slot ended at {when(request.slot_end)}."
    if fingerprint(request.release, request.slot_start, request.slot_end) != request.fingerprint:
        return Status.INVALIDATED, "The release changed after this request was made."
    return None


def owners_since(request: ApprovalRequest) -> set[int]:
    """Everyone who owned the request's release from when it was filed until now."""
    owners = {request.release.owner_id}
    changes = ReleaseEvent.objects.filter(
        release_id=request.release_id, at__gte=request.created_at, details__has_key="owners"
    ).values_list("details", flat=True)
    for details in changes:
        owners.update(details["owners"])
    return owners


def request_decide(
    *,
    request: ApprovalRequest,
    by,
    verdict: str,
    comment: str = "",
    at: dt.datetime | None = None,
) -> ApprovalRequest:
    """One senior manager approves or rejects. Any rejection rejects; a quorum approves."""
    at = at or timezone.now()
    comment = (comment or "").strip()
    if not roles.is_senior_manager(by):
        raise ApprovalRefused("not_senior_manager", "Only senior management decides.", status=403)
    if verdict not in ApprovalDecision.Verdict.values:
        raise ApprovalInvalid({"verdict": "Approve or reject."})
    if verdict == ApprovalDecision.Verdict.REJECT and not comment:
        raise ApprovalInvalid({"comment": "Say why you reject it."})
    settled_as = None
    # Deferred: the chain's lock comes after the release's, which settling takes.
    with transaction.atomic(), audit.deferred():
        # The lock serializes managers deciding at once: each sees the decisions before it.
        request = (
            ApprovalRequest.objects.select_for_update()
            .select_related("release__component", "release__owner", "requester")
            .get(pk=request.pk)
        )
        if by.pk == request.requester_id:
            raise ApprovalRefused(
                "own_request", "You asked for this; someone else decides.", status=403
            )
        if by.pk in owners_since(request):
            raise ApprovalRefused(
                "release_owner",
                "You own this release, or did since the request was filed; someone else decides.",
                status=403,
            )
        if request.status != Status.PENDING:
            raise ApprovalRefused(
                "not_pending", f"This request is {request.get_status_display().lower()} already."
            )
        stale = _stale_reason(request, at)
        if stale is not None:
            status, why = stale
            _settle(request, status, by=None, at=at, details={"why": why})
            settled_as = (status, why)
        elif request.decisions.filter(approver=by).exists():
            raise ApprovalRefused("already_decided", "You have decided on this request already.")
        else:
            decision = ApprovalDecision.objects.create(
                request=request, approver=by, verdict=verdict, comment=comment, at=at
            )
            audit.record(
                action="approval_decision.created",
                subject=decision,
                actor=by,
                at=at,
                after=audit.snapshot(decision),
            )
            release = request.release
            record_note(
                release,
                action="approval_decision",
                by=by,
                at=at,
                details={"request": request.pk, "verdict": verdict, "comment": comment},
            )
            approvals = request.decisions.filter(verdict=ApprovalDecision.Verdict.APPROVE).count()
            if verdict == ApprovalDecision.Verdict.REJECT:
                _settle(request, Status.REJECTED, by=by, at=at, details={"comment": comment})
            elif approvals >= quorum_for(request.urgency):
                _settle(request, Status.APPROVED, by=by, at=at, details={"approvals": approvals})
    if settled_as is not None:
        # Raised after the commit, so the expiry or invalidation it found is kept.
        raise ApprovalRefused(f"request_{settled_as[0]}", settled_as[1])
    return request


def request_withdraw(
    *, request: ApprovalRequest, by, at: dt.datetime | None = None
) -> ApprovalRequest:
    """The requester takes a pending or approved request back."""
    at = at or timezone.now()
    with transaction.atomic(), audit.deferred():
        request = (
            ApprovalRequest.objects.select_for_update().select_related("release").get(pk=request.pk)
        )
        if by.pk != request.requester_id:
            raise ApprovalRefused(
                "not_requester", "Only the requester withdraws a request.", status=403
            )
        if request.status not in LIVE:
            raise ApprovalRefused(
                "not_pending", f"This request is {request.get_status_display().lower()} already."
            )
        _settle(request, Status.WITHDRAWN, by=by, at=at, details={})
    return request


def expire_due(*, at: dt.datetime | None = None) -> int:
    """Mark live requests whose slot has ended as expired; returns how many."""
    at = at or timezone.now()
    done = 0
    for pk in ApprovalRequest.objects.filter(status__in=LIVE, slot_end__lte=at).values_list(
        "pk", flat=True
    ):
        with transaction.atomic(), audit.deferred():
            request = (
                ApprovalRequest.objects.select_for_update().select_related("release").get(pk=pk)
            )
            if request.status in LIVE and request.slot_end <= at:
                _settle(
                    request,
                    Status.EXPIRED,
                    by=None,
                    at=at,
                    details={"why": f"The slot ended at {when(request.slot_end)}."},
                )
                done += 1
    return done


# --- Plugged into releases (see ApprovalsConfig.ready) ------------------------------------------


def authorization_facts(release: Release, at: dt.datetime) -> dict:
    """The release's valid approval, as the Authorization its start guard looks for.

    Judged from the clock and the fingerprint now, not from the status alone: a late expiry
    task or a missed invalidation never lets a release through.
    """
    if release.kind != Release.Kind.EXCEPTIONAL or release.pk is None:
        return {}
    request = release.approval_requests.filter(status=Status.APPROVED).first()
    if request is None or at >= request.slot_end:
        return {}
    if fingerprint(release, request.slot_start, request.slot_end) != request.fingerprint:
        return {}
    return {
        "authorization": guards.Authorization(
            request.pk, request.slot_start, request.slot_end, request.waives_notice
        )
    }


def on_release_event(event: ReleaseEvent) -> None:
    """A change to an approved or pending release invalidates its request (in the same write)."""
    if event.action not in CHANGING_ACTIONS:
        return
    release = Release.objects.select_related("component").get(pk=event.release_id)
    for request in ApprovalRequest.objects.select_for_update().filter(
        release=release, status__in=LIVE
    ):
        if fingerprint(release, request.slot_start, request.slot_end) == request.fingerprint:
            continue
        _settle(
            request,
            Status.INVALIDATED,
            by=event.actor,
            at=event.at,
            details={"why": f"The release changed ({event.action.replace('_', ' ')})."},
        )
