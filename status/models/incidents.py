"""Incidents (what went wrong, on which components, how bad, what is being done) and the
support contacts customers are given."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from lib import text
from releases.models import Component, Release, validate_in_range


class Level(models.TextChoices):
    """A component's service status, best first; an incident's impact is the level it sets."""

    OPERATIONAL = "operational", "Operational"
    MAINTENANCE = "under_maintenance", "Under maintenance"
    DEGRADED = "degraded_performance", "Degraded performance"
    PARTIAL = "partial_outage", "Partial outage"
    MAJOR = "major_outage", "Major outage"

    @classmethod
    def rank(cls, value: str) -> int:
        return cls.values.index(value) if value in cls.values else 0

    @classmethod
    def worst(cls, values) -> str:
        return max(values, key=cls.rank, default=cls.OPERATIONAL.value)


IMPACTS = [(value, label) for value, label in Level.choices if value != Level.OPERATIONAL]


OPEN_STATES = [
    ("investigating", "Investigating"),
    ("identified", "Identified"),
    ("monitoring", "Monitoring"),
]


class IncidentQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(state=Incident.State.RESOLVED)

    def public(self):
        return self.filter(public=True)


class Incident(models.Model):
    """Something wrong with the service, from the first report until it is back to normal."""

    class State(models.TextChoices):
        INVESTIGATING = "investigating", "Investigating"
        IDENTIFIED = "identified", "Identified"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"

    class Escalation(models.IntegerChoices):
        NONE = 0, "On time"
        OWNER = 1, "Overdue: owner told"
        MANAGEMENT = 2, "Overdue: senior management told"

    title = models.CharField(max_length=200, validators=[text.single_line])
    impact = models.CharField(max_length=24, choices=IMPACTS, default=Level.MAJOR)
    state = models.CharField(max_length=16, choices=State.choices, default=State.INVESTIGATING)
    components = models.ManyToManyField(Component, related_name="incidents")
    public = models.BooleanField(
        default=True, help_text="Shown on the status page, in the feed and the outage log."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="incidents_owned",
        help_text="Answers for the next update: told first when a promised update is late.",
    )
    started_at = models.DateTimeField(default=timezone.now, validators=[validate_in_range])
    resolved_at = models.DateTimeField(null=True, blank=True, validators=[validate_in_range])
    next_update_by = models.DateTimeField(
        null=True, blank=True, help_text="The latest update's promise of the next one."
    )
    escalation = models.PositiveSmallIntegerField(
        choices=Escalation.choices, default=Escalation.NONE
    )
    postmortem_url = models.URLField("postmortem", max_length=500, blank=True)
    opened_automatically = models.BooleanField(
        default=False, help_text="Opened by a probe's consecutive failures, not by a person."
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["state", "started_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state="resolved", resolved_at__isnull=False)
                | (~models.Q(state="resolved") & models.Q(resolved_at__isnull=True)),
                name="resolved_incident_has_an_end",
            )
        ]

    def __str__(self):
        return f"#{self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state != self.State.RESOLVED

    @property
    def duration(self) -> dt.timedelta | None:
        return self.resolved_at - self.started_at if self.resolved_at else None

    @property
    def worst_impact(self) -> str:
        """The worst impact it reached: the outage log keeps it after the impact is lowered."""
        return Level.worst([self.impact, *(u.impact for u in self.updates.all())])

    def get_worst_impact_display(self) -> str:
        return Level(self.worst_impact).label

    def overdue(self, at: dt.datetime) -> bool:
        return self.is_open and self.next_update_by is not None and self.next_update_by <= at


class IncidentUpdate(models.Model):
    """One entry of an incident's timeline, as customers read it."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    state = models.CharField(max_length=16, choices=Incident.State.choices)
    impact = models.CharField(max_length=24, choices=IMPACTS)
    body = models.TextField(
        help_text="Markdown, sanitised like release notes.", validators=[text.multi_line]
    )
    next_update_by = models.DateTimeField(null=True, blank=True)
    rollback = models.ForeignKey(
        Release,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incident_updates",
        help_text="The release rolled back in answer to this incident.",
    )
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.incident}: {self.get_state_display()} at {self.at:%Y-%m-%d %H:%M} UTC"


class SupportContacts(models.Model):
    """Who customers write to or call, and how fast they are answered (one row, pk=1)."""

    forum_url = models.URLField("developer forum", max_length=500, blank=True)
    forum_response = models.CharField(
        max_length=200,
        blank=True,
        validators=[text.single_line],
        default="Usually within a few hours on weekdays, with good coverage at night.",
    )
    private_email = models.EmailField("private questions", blank=True)
    private_response = models.CharField(
        max_length=200,
        blank=True,
        validators=[text.single_line],
        default="Urgent questions are identified within minutes and escalated internally.",
    )
    emergency_email = models.EmailField("emergencies (24/7)", blank=True)
    emergency_response = models.CharField(
        max_length=200,
        blank=True,
        validators=[text.single_line],
        default="24/7; reaches the on-call team, including by text alert.",
    )
    emergency_phone = models.CharField(
        "emergency phone (24/7)",
        max_length=40,
        blank=True,
        validators=[
            RegexValidator(
                r"^\+?[0-9][0-9 ().-]{5,38}$",
                "A phone number people can dial, e.g. +1 555 0100 (digits, spaces, + ( ) . -).",
            )
        ],
        help_text="Shown as a link to dial on /support/ and every status page.",
    )
    sales_email = models.EmailField("additional services", blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = verbose_name_plural = "support contacts"

    def __str__(self):
        return "Support and escalation contacts"

    @classmethod
    def current(cls) -> SupportContacts:
        """The row (unsaved defaults when nobody has written it yet: a read never fails)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)
