"""Advance notices of perceptible-impact releases, and their revisions."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from django.conf import settings
from django.db import models
from django.utils import timezone

from lib import text
from releases.models import Component, Release, validate_in_range


class AdvanceNoticeQuerySet(models.QuerySet):
    def public(self):
        """Published, withdrawn (said so publicly) and done notices; never drafts."""
        return self.exclude(status=AdvanceNotice.Status.DRAFT)


class AdvanceNotice(models.Model):
    """What customers are told ahead of a release that needs them to act (the guide's fields)."""

    class Impact(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    class Certainty(models.TextChoices):
        TENTATIVE = "tentative", "Tentative"
        LIKELY = "likely", "Likely"
        CONFIRMED = "confirmed", "Confirmed"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        WITHDRAWN = "withdrawn", "Withdrawn"
        DONE = "done", "Done"

    release = models.OneToOneField(
        Release,
        on_delete=models.PROTECT,
        related_name="advance_notice",
        help_text="The perceptible-impact release this notice announces.",
    )
    headline = models.CharField(max_length=200, blank=True, validators=[text.single_line])
    description = models.TextField(
        blank=True, help_text="A detailed description (Markdown).", validators=[text.multi_line]
    )
    tentative_start = models.DateTimeField(null=True, blank=True, validators=[validate_in_range])
    tentative_zone = models.CharField(
        max_length=64, default="America/Los_Angeles", help_text="Zone the date is given in."
    )
    certainty = models.CharField(
        max_length=10, choices=Certainty.choices, default=Certainty.TENTATIVE
    )
    nature = models.TextField(
        blank=True, help_text="The nature of the release (Markdown).", validators=[text.multi_line]
    )
    action_required = models.TextField(
        blank=True, help_text="What customers must do (Markdown).", validators=[text.multi_line]
    )
    action_deadline = models.DateTimeField(
        null=True,
        blank=True,
        validators=[validate_in_range],
        help_text="By when customers must have acted.",
    )
    benefits = models.TextField(
        blank=True, help_text="What customers gain (Markdown).", validators=[text.multi_line]
    )
    impact_level = models.CharField(max_length=8, choices=Impact.choices, default=Impact.MEDIUM)
    components = models.ManyToManyField(Component, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    revision = models.PositiveIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AdvanceNoticeQuerySet.as_manager()

    class Meta:
        ordering = ["tentative_start", "id"]

    def __str__(self):
        return self.headline or f"Notice for {self.release}"

    @property
    def outcome(self) -> Outcome | None:
        """What became of the release it announced, once something did (from the release)."""
        release = self.release
        if release.state in (Release.State.RELEASED, Release.State.VERIFIED):
            return Outcome("shipped", "Shipped", release.completed_at)
        if release.state == Release.State.ROLLED_BACK:
            return Outcome("rolled_back", "Rolled back", release.rollback.at)
        if release.state == Release.State.CANCELLED or self.status == self.Status.WITHDRAWN:
            return Outcome("withdrawn", "Withdrawn", None)
        return None


class Outcome(NamedTuple):
    code: str  # shipped | rolled_back | withdrawn
    label: str
    at: dt.datetime | None


# The guide's fields, all required before publishing, with the words errors use.
REQUIRED_TO_PUBLISH = {
    "headline": "a headline",
    "description": "a detailed description",
    "tentative_start": "the tentative date and time",
    "nature": "the nature of the release",
    "action_required": "the action required by the customer",
    "benefits": "the benefits",
}


class NoticeRevision(models.Model):
    """One published edit of a notice: what changed, in sentences, and the text as it was."""

    notice = models.ForeignKey(AdvanceNotice, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    changes = models.JSONField(default=list)
    snapshot = models.JSONField(default=dict)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["notice", "number"], name="one_revision_number")
        ]

    def __str__(self):
        return f"{self.notice} r{self.number}"
