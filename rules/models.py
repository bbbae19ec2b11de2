"""Changes to the release rules (window policies and freezes), and senior management's say.

Tightening the rules is free; loosening them — a new or wider window, a shorter or narrower
freeze, removing either — is proposed here and takes effect only once approved.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from approvals.models import Decision
from lib import text


class RuleChangeQuerySet(models.QuerySet):
    def inbox_order(self):
        """Pending first, then the newest."""
        pending = models.Case(
            models.When(status=RuleChange.Status.PENDING, then=models.Value(0)),
            default=models.Value(1),
            output_field=models.IntegerField(),
        )
        return self.annotate(_pending=pending).order_by("_pending", "-created_at", "-id")


class RuleChange(models.Model):
    """One proposed change to one rule: what it would become, and what it would do."""

    class Target(models.TextChoices):
        POLICY = "policy", "Window policy"
        FREEZE = "freeze", "Freeze"

    class Operation(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Change"
        DELETE = "delete", "Delete"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "In force"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        STALE = "stale", "Stale (the rule changed meanwhile)"

    target = models.CharField(max_length=8, choices=Target.choices)
    operation = models.CharField(max_length=8, choices=Operation.choices)
    target_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The policy or freeze (once it exists)."
    )
    label = models.CharField(max_length=200, help_text="The rule's name or reason, as proposed.")
    payload = models.JSONField(
        default=dict, blank=True, help_text="Every field of the rule as it would be."
    )
    base = models.JSONField(
        null=True, blank=True, help_text="The rule as it was when proposed (None: new)."
    )
    reason = models.TextField(blank=True, validators=[text.multi_line])
    tightening = models.BooleanField(
        default=False, help_text="Only tightens the rules: in force at once, no approval."
    )
    preview = models.JSONField(default=dict, blank=True)
    proposer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = RuleChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"Rule change #{self.pk}: {self.get_operation_display().lower()} " + (
            f"{self.get_target_display().lower()} “{self.label}”"
        )


class RuleDecision(Decision):
    """One senior manager's verdict on one rule change."""

    change = models.ForeignKey(RuleChange, on_delete=models.CASCADE, related_name="decisions")

    class Meta(Decision.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["change", "approver"], name="one_rule_decision_per_approver"
            )
        ]

    def __str__(self):
        return f"{self.approver} {self.verdict}s rule change #{self.change_id}"
