"""Probes of the watched service, their samples and rollups.

A probe asks one URL every few minutes and keeps a sample of each answer; the samples are
folded at once into hourly and daily rollups, which are kept forever while the raw samples are
pruned (``manage.py probes prune``). Uptime is read from the rollups only, so a missed interval
(the cluster was down) is a bucket with no samples — "no data" — and never counts as up.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models

from lib import text
from releases.models import Component

__all__ = ["Probe", "ProbeRollup", "ProbeSample"]


class Probe(models.Model):
    """One URL of the service, asked every ``interval_minutes``; failures open an incident."""

    class Method(models.TextChoices):
        GET = "GET", "GET"
        HEAD = "HEAD", "HEAD"

    name = models.CharField(max_length=100, unique=True, validators=[text.single_line])
    # Staff configure probes (the desk, with the status.probe permission), and what they watch is
    # often the service's own internal endpoint — a health check on the private network or on
    # loopback. So, unlike subscribers' webhooks (which anyone may register and which must never
    # reach this host's network), private and loopback targets are allowed here. Redirects are
    # never followed: a probe reaches exactly the address staff wrote.
    url = models.URLField(
        "URL",
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="http:// or https://; private and loopback addresses are allowed (staff only).",
    )
    method = models.CharField(max_length=4, choices=Method.choices, default=Method.GET)
    expected_status = models.PositiveSmallIntegerField(
        default=200, validators=[MinValueValidator(100), MaxValueValidator(599)]
    )
    body_contains = models.CharField(
        max_length=200,
        blank=True,
        help_text="If set, a GET's body must contain this text (the first megabyte is read).",
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    interval_minutes = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(1440)]
    )
    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="probes")
    is_active = models.BooleanField(default=True)
    failures_to_open = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Consecutive failures that open an incident; empty: the PROBE_FAILURES_TO_OPEN "
        "setting.",
    )
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_up = models.BooleanField(null=True, blank=True, editable=False)
    open_incident = models.ForeignKey(
        "status.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        help_text="The incident this probe opened, until it is resolved and the probe is up.",
    )
    recovered_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="First success after the probe opened its incident: a person may resolve it.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gte=1, timeout_seconds__lte=60),
                name="probe_timeout_1_to_60_seconds",
            ),
            models.CheckConstraint(
                condition=models.Q(interval_minutes__gte=1, interval_minutes__lte=1440),
                name="probe_interval_1_to_1440_minutes",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.body_contains and self.method == self.Method.HEAD:
            raise ValidationError(
                {"body_contains": "A HEAD request has no body to search: use GET, or leave empty."}
            )

    @property
    def threshold(self) -> int:
        return self.failures_to_open or settings.PROBE_FAILURES_TO_OPEN

    @property
    def interval(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.interval_minutes)

    def is_due(self, now: dt.datetime) -> bool:
        # The schedule fires every minute, a few seconds late or early: half a minute of slack
        # keeps a 5-minute probe at 5 minutes instead of drifting to 6.
        slack = dt.timedelta(seconds=30)
        return self.last_run_at is None or self.last_run_at + self.interval - slack <= now

    def status_at(self, now: dt.datetime) -> str:
        """ "up", "down", or "no data" when the last sample is older than two intervals."""
        if self.last_run_at is None or self.last_up is None:
            return "no data"
        if now - self.last_run_at > 2 * self.interval + dt.timedelta(minutes=1):
            return "no data"
        return "up" if self.last_up else "down"


class ProbeSample(models.Model):
    """One answer (or failure to answer) of a probe. Pruned after ``PROBE_KEEP_DAYS``."""

    class Error(models.TextChoices):
        TIMEOUT = "timeout", "Timed out"
        REFUSED = "connection_refused", "Connection refused"
        WRONG_STATUS = "wrong_status", "Unexpected status"
        BODY_MISMATCH = "body_mismatch", "Body lacks the expected text"
        DNS = "dns", "Name not resolved"
        TLS = "tls", "TLS failed"
        OTHER = "other", "Other failure"

    probe = models.ForeignKey(Probe, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField()
    up = models.BooleanField()
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=20, choices=Error.choices, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["probe", "at"], name="probesample_probe_at"),
            models.Index(fields=["at"], name="probesample_at"),  # prune
        ]

    def __str__(self):
        return f"{self.probe} at {self.at:%Y-%m-%d %H:%M} UTC: {'up' if self.up else 'down'}"


class ProbeRollup(models.Model):
    """A probe's samples of one UTC hour or day: counts and latency percentiles. Kept forever.

    ``samples`` counts the runs that happened: a bucket the cluster missed has none (or no row),
    and uptime is ``up_samples / samples`` over the buckets that have data.
    """

    class Period(models.TextChoices):
        HOUR = "hour", "Hour"
        DAY = "day", "Day"

    probe = models.ForeignKey(Probe, on_delete=models.CASCADE, related_name="rollups")
    period = models.CharField(max_length=4, choices=Period.choices)
    start = models.DateTimeField()
    samples = models.PositiveIntegerField(default=0)
    up_samples = models.PositiveIntegerField(default=0)
    p50_ms = models.PositiveIntegerField(null=True, blank=True)
    p95_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["probe", "period", "start"]
        constraints = [
            models.UniqueConstraint(
                fields=["probe", "period", "start"], name="one_rollup_per_probe_period_start"
            ),
            models.CheckConstraint(
                condition=models.Q(up_samples__lte=models.F("samples")),
                name="rollup_up_samples_within_samples",
            ),
        ]

    def __str__(self):
        return f"{self.probe} {self.period} from {self.start:%Y-%m-%d %H:%M} UTC"

    @property
    def uptime(self) -> float | None:
        return self.up_samples / self.samples if self.samples else None
