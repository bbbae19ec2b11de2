"""Changing the rules: propose, decide, withdraw, apply. One function per state change.

Tightening is free and takes effect at once; loosening waits for senior management, with the
same separation of duties as exceptional releases: the proposer never decides, APPROVAL_QUORUM
distinct approvals apply it, any rejection rejects. Until then the gate answers from the rules
in force. A change is bound to the rule as it was when proposed: if the rule changed meanwhile,
approving it is refused and it goes stale (propose again, against the rule as it is now).

Every step is in the audit log; releases a change strands are flagged on their timeline (their
owners hear of it through the outbox, like any release event).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import roles
from audit import services as audit
from lib import text
from lib.errors import Invalid, Refused
from releases import services as releases
from releases.models import Component, Release
from rules import preview, rulebook
from rules.models import RuleChange, RuleDecision

Status = RuleChange.Status


class RuleChangeRefused(Refused):
    """The rules of change control say no."""


# Who hears of a rule change (notifications plugs in; rules never imports it).
_listeners: list[Callable[[RuleChange, str], None]] = []


def register_listener(listener: Callable[[RuleChange, str], None]) -> None:
    """Call ``listener(change, what)`` in the transaction of each step ("proposed", "applied",
    "rejected", "stale", "withdrawn")."""
    if listener not in _listeners:
        _listeners.append(listener)


def _tell(change: RuleChange, what: str) -> None:
    for listener in _listeners:
        listener(change, what)


def _may_change_rules(user) -> None:
    if not roles.is_release_team(user):
        raise RuleChangeRefused(
            "not_allowed",
            "Only release engineers and senior managers change the release rules.",
            status=403,
        )


# What senior management reads before deciding. The desk's forms and the API's serializers
# check the same (with this limit) to put the message on their field.
JUSTIFICATION_LIMIT = 2000


def justification_errors(reason: str) -> dict[str, str]:
    """What is wrong with ``reason`` as a justification, by field (empty when nothing)."""
    if len(reason) > JUSTIFICATION_LIMIT:
        return {"justification": f"At most {JUSTIFICATION_LIMIT} characters ({len(reason)} given)."}
    try:
        text.multi_line(reason)
    except ValidationError as exc:
        return {"justification": exc.messages[0]}
    return {}


def rules_change(
    *,
    target: str,
    operation: str,
    by,
    obj=None,
    values: dict | None = None,
    reason: str = "",
    at: dt.datetime | None = None,
) -> RuleChange:
    """Propose a change to a window policy or freeze; one that only tightens applies at once.

    ``values`` are the cleaned fields (as a form or serializer gives them) over ``obj`` (the
    rule as it is; None for a new one). Returns the change: ``status`` says whether it is in
    force ("applied") or waits for senior management ("pending").
    """
    at = at or timezone.now()
    _may_change_rules(by)
    reason = (reason or "").strip()
    if errors := justification_errors(reason):
        raise Invalid(errors)
    with transaction.atomic():
        if obj is not None:
            obj = type(obj).objects.select_for_update().get(pk=obj.pk)  # one proposer at a time
        if operation == "delete" and (waiting := pending_removal(target, obj.pk)) is not None:
            raise RuleChangeRefused(
                "already_proposed",
                f"{waiting} already proposes removing it; it waits for senior management.",
            )
        base = rulebook.state_of(target, obj) if obj is not None else None
        payload = {} if operation == "delete" else rulebook.state_from(target, values or {}, base)
        label_field = "name" if target == "policy" else "reason"
        change = RuleChange(
            target=target,
            operation=operation,
            target_id=obj.pk if obj is not None else None,
            label=(payload or base)[label_field][:200],
            payload=payload,
            base=base,
            reason=reason,
            proposer=by,
            created_at=at,
        )
        change.tightening = rulebook.is_tightening(target, operation, base, payload or None)
        change.preview = preview.compute(change, now=at)
        change.save()
        audit.record(
            action="rule_change.proposed", subject=change, actor=by, at=at, before=base,
            after=payload or None,
        )  # fmt: skip
        if change.tightening:
            _apply(change, by=by, at=at)
        else:
            _tell(change, "proposed")
    return change


def pending_removal(target: str, target_id: int) -> RuleChange | None:
    """The removal of this rule that waits for senior management, if one does."""
    return RuleChange.objects.filter(
        target=target, target_id=target_id, operation="delete", status=Status.PENDING
    ).first()


def quorum() -> int:
    return settings.APPROVAL_QUORUM


def rule_change_decide(
    *, change: RuleChange, by, verdict: str, comment: str = "", at: dt.datetime | None = None
) -> RuleChange:
    """One senior manager approves or rejects; a quorum applies it, any rejection rejects."""
    at = at or timezone.now()
    comment = (comment or "").strip()
    if not roles.is_senior_manager(by):
        raise RuleChangeRefused("not_senior_manager", "Only senior management decides.", status=403)
    if verdict not in RuleDecision.Verdict.values:
        raise RuleChangeRefused("bad_verdict", "Approve or reject.", status=400)
    if verdict == RuleDecision.Verdict.REJECT and not comment:
        raise RuleChangeRefused("comment_required", "Say why you reject it.", status=400)
    stale = None
    with transaction.atomic():
        change = RuleChange.objects.select_for_update().get(pk=change.pk)
        if by.pk == change.proposer_id:
            raise RuleChangeRefused(
                "own_proposal", "You proposed this change; someone else decides.", status=403
            )
        if change.status != Status.PENDING:
            raise RuleChangeRefused(
                "not_pending",
                f"This change is no longer pending: {change.get_status_display().lower()}.",
            )
        if change.decisions.filter(approver=by).exists():
            raise RuleChangeRefused("already_decided", "You have decided on this change already.")
        decision = RuleDecision.objects.create(
            change=change, approver=by, verdict=verdict, comment=comment, at=at
        )
        audit.record(
            action=f"rule_change.{verdict}", subject=decision, actor=by, at=at,
            after={"change": change.pk, "verdict": verdict, "comment": comment},
        )  # fmt: skip
        if verdict == RuleDecision.Verdict.REJECT:
            _settle(change, Status.REJECTED, by=by, at=at)
        elif change.decisions.filter(verdict=RuleDecision.Verdict.APPROVE).count() >= quorum():
            stale = _apply(change, by=by, at=at)
    if stale:
        # Raised after the commit, so the change is kept as stale and the decision recorded.
        raise RuleChangeRefused("stale", stale)
    return change


def rule_change_withdraw(*, change: RuleChange, by, at: dt.datetime | None = None) -> RuleChange:
    """The proposer takes a pending change back."""
    at = at or timezone.now()
    with transaction.atomic():
        change = RuleChange.objects.select_for_update().get(pk=change.pk)
        if by.pk != change.proposer_id:
            raise RuleChangeRefused(
                "not_proposer", "Only whoever proposed it withdraws a change.", status=403
            )
        if change.status != Status.PENDING:
            raise RuleChangeRefused(
                "not_pending",
                f"This change is no longer pending: {change.get_status_display().lower()}.",
            )
        _settle(change, Status.WITHDRAWN, by=by, at=at)
    return change


def _settle(change: RuleChange, status: str, *, by, at: dt.datetime) -> None:
    change.status, change.decided_at = status, at
    change.save(update_fields=["status", "decided_at", "target_id", "preview"])
    audit.record(
        action=f"rule_change.{status}", subject=change, actor=by, at=at,
        after={"status": status},
    )  # fmt: skip
    _tell(change, status)


def _apply(change: RuleChange, *, by, at: dt.datetime) -> str | None:
    """Write the rule as proposed, if it is still as it was; returns why not (stale) or None."""
    model = rulebook.MODELS[change.target]
    obj = None
    if change.operation != "create":
        obj = model.objects.select_for_update().filter(pk=change.target_id).first()
        now = rulebook.state_of(change.target, obj) if obj is not None else None
        if now != change.base:
            why = (
                "The rule changed (or was removed) after this change was proposed; propose "
                "again against the rule as it is now."
            )
            _settle(change, Status.STALE, by=by, at=at)
            return why
    # What it does now, not when it was proposed: the approver's figures may be days old.
    change.preview = preview.compute(change, now=at)
    if change.operation == "delete":
        model.objects.filter(pk=obj.pk).delete()  # the instance keeps its pk for the log
        after = None
    else:
        values = rulebook.model_values(change.target, change.payload)
        if obj is None:
            obj = model(**values)
        else:
            for name, value in values.items():
                setattr(obj, name, value)
            obj.version += 1
        obj.save()
        obj.components.set(Component.objects.filter(slug__in=change.payload["components"]))
        change.target_id = obj.pk
        after = rulebook.state_of(change.target, obj) | {"version": obj.version}
    audit.record(
        action=f"{change.target}.{change.operation}d",  # created, updated, deleted
        subject=obj, actor=by, at=at, before=change.base, after=after,
    )  # fmt: skip
    _settle(change, Status.APPLIED, by=by, at=at)
    # Changes still waiting that were proposed against the rule as it was can no longer apply:
    # they go stale now, rather than wait for an approval that would be refused.
    if change.operation != "create":
        now = None if change.operation == "delete" else rulebook.state_of(change.target, obj)
        others = RuleChange.objects.select_for_update().filter(
            target=change.target, target_id=change.target_id, status=Status.PENDING
        )
        for other in others.exclude(pk=change.pk):
            if other.base != now:
                _settle(other, Status.STALE, by=by, at=at)
    marks = {
        "fits_again": (releases.release_fits_again, "put its schedule back inside a window."),
        "stranded": (
            releases.release_strand,
            "left its schedule outside every window that fits it.",
        ),
    }
    for key, (mark, what) in marks.items():
        for row in change.preview.get(key, []):
            release = Release.objects.filter(pk=row["release"]).first()
            if release is not None:
                mark(release=release, by=by, at=at, rule_change=change.pk, why=f"{change} {what}")
    return None
