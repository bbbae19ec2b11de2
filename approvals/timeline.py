"""How approvals' events read on a release's timeline (plugged into releases.timeline)."""

from __future__ import annotations

from approvals.models import ApprovalRequest
from releases import hooks
from releases.timeline import span, who


def _slot_of(event) -> str:
    request = ApprovalRequest.objects.filter(pk=event.details.get("request")).first()
    if request is None:
        return "a slot"
    return f"the slot {span([request.slot_start.isoformat(), request.slot_end.isoformat()])}"


def _requested(event) -> str:
    details = event.details
    waived = "; it would waive the notice's lead time" if details.get("waives_notice") else ""
    return (
        f"{who(event)} asked senior management for the slot {span(details['slot'])} "
        f"({details.get('urgency')}, {details.get('quorum')} approval(s) needed){waived}."
    )


def _decision(event) -> str:
    verdict = "approved" if event.details.get("verdict") == "approve" else "rejected"
    comment = event.details.get("comment")
    return f"{who(event)} {verdict} {_slot_of(event)}" + (f": “{comment}”" if comment else ".")


def _settled(status: str):
    def describe(event) -> str:
        why = event.details.get("why") or event.details.get("comment")
        return f"Approval request #{event.details.get('request')} {status}" + (
            f": {why}" if why else "."
        )

    return describe


def register() -> None:
    hooks.register_describer("approval_requested", _requested)
    hooks.register_describer("approval_decision", _decision)
    for status in ("approved", "rejected", "withdrawn", "expired", "invalidated"):
        hooks.register_describer(f"approval_{status}", _settled(status))
