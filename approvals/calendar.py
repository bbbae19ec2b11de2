"""Approved exceptional slots on the desk's calendar (registered from ApprovalsConfig.ready)."""

from __future__ import annotations

import datetime as dt

from approvals.models import ApprovalRequest
from releases.calendar import Entry


def approved_slots(start: dt.datetime, end: dt.datetime, component: str | None) -> list[Entry]:
    """Slots senior management approved that overlap [start, end) (one query).

    Only approved ones: a pending or rejected slot authorizes nothing, and an expired one is
    over. The slot is the release team's business, never the public's.
    """
    requests = ApprovalRequest.objects.filter(
        status=ApprovalRequest.Status.APPROVED, slot_start__lt=end, slot_end__gt=start
    ).select_related("release__component")
    if component is not None:
        requests = requests.filter(release__component__slug=component)
    return [
        Entry(
            "slot",
            request.slot_start,
            request.slot_end,
            f"Approved slot: {request.release}",
            f"{request.get_urgency_display()} · request #{request.pk}",
            state="approved",
            title=request.release.title,
            ref=("approvals.approvalrequest", request.pk),
        )
        for request in requests.order_by("slot_start", "id")
    ]
