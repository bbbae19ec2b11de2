"""Senior management's authorization of exceptional releases."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from lib import text
from releases.models import Release, validate_in_range


class ApprovalRequestQuerySet(models.QuerySet):
    def inbox_order(self):
        """Pending first; then most urgent; then oldest."""
        urgency = models.Case(
            *(
                models.When(urgency=u, then=models.Value(rank))
                for rank, u in enumerate(URGENCY_ORDER)
            ),
            output_field=models.IntegerField(),
        )
        pending = models.Case(
            models.When(status=ApprovalRequest.Status.PENDING, then=models.Value(0)),
            default=models.Value(1),
            output_field=models.IntegerField(),
        )
        return self.annotate(_pending=pending, _urgency=urgency).order_by(
            "_pending", "_urgency", "created_at"
        )

    def for_list(self):
        return self.select_related("release__component", "requester").prefetch_related(
            "decisions__approver", "release__items"
        )


class ApprovalRequest(models.Model):
    """A request to let one exceptional release start inside one slot, as it is now."""

    class Urgency(models.TextChoices):
        CRITICAL = "critical", "Critical"
        HIGH = "high", "High"
        NORMAL = "normal", "Normal"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"
        INVALIDATED = "invalidated", "Invalidated"

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="approval_requests")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_requests"
    )
    urgency = models.CharField(max_length=8, choices=Urgency.choices, default=Urgency.NORMAL)
    justification = models.TextField(validators=[text.multi_line])
    slot_start = models.DateTimeField(validators=[validate_in_range])
    slot_end = models.DateTimeField(validators=[validate_in_range])
    waives_notice = models.BooleanField(
        default=False,
        help_text="Approving also waives the advance-notice lead time of a perceptible release.",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    fingerprint = models.CharField(
        max_length=64, help_text="What is approved: component, version, schedule, impact, items."
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(slot_end__gt=models.F("slot_start")),
                name="slot_ends_after_start",
            ),
            # One live request per release: a second waits until the first is settled.
            models.UniqueConstraint(
                fields=["release"],
                condition=models.Q(status__in=["pending", "approved"]),
                name="one_live_request_per_release",
            ),
        ]
        indexes = [models.Index(fields=["status", "urgency", "created_at"])]

    def __str__(self):
        return f"Approval #{self.pk} for {self.release}"

    @property
    def slot_length(self) -> dt.timedelta:
        return self.slot_end - self.slot_start


URGENCY_ORDER = [
    ApprovalRequest.Urgency.CRITICAL,
    ApprovalRequest.Urgency.HIGH,
    ApprovalRequest.Urgency.NORMAL,
]


class Decision(models.Model):
    """One senior manager's verdict: on an approval request here, on a rule change in rules."""

    class Verdict(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    comment = models.TextField(blank=True, validators=[text.multi_line])
    at = models.DateTimeField()

    class Meta:
        abstract = True
        ordering = ["at", "id"]


class ApprovalDecision(Decision):
    """One senior manager's verdict on one request."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")

    class Meta(Decision.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["request", "approver"], name="one_decision_per_approver"
            )
        ]

    def __str__(self):
        return f"{self.approver} {self.verdict}s #{self.request_id}"
