"""Components, window policies and freezes: stored rules, adapted to the window engine."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from lib import text
from releases import windows

DEFAULT_ZONE = "America/Los_Angeles"
# The longest a window, a recurring freeze or a release may last.
MAX_WINDOW_MINUTES = 366 * 24 * 60
MAX_RELEASE_MINUTES = 7 * 24 * 60


def validate_in_range(value: dt.datetime | dt.date) -> None:
    """Dates and instants stay within the range Nightshift supports (releases.windows)."""
    if value is not None and (error := windows.range_error(value)):
        raise ValidationError(error, code="out_of_range")


def window_minutes(**kwargs) -> models.PositiveIntegerField:
    # "Longer than zero" is the engine's to say (Recurrence.validate), in its words.
    return models.PositiveIntegerField(validators=[MaxValueValidator(MAX_WINDOW_MINUTES)], **kwargs)


class RulesRevision(models.Model):
    """One row whose token changes with every change to policies or freezes.

    Processes keep the window calendar in memory and check this token (one small query) before
    using it, so a new freeze applies to the very next gate decision on every host. A random
    token, not a counter: a counter comes back after a rollback, and a process that had read
    the rolled-back rules would take them for current.
    """

    token = models.UUIDField(default=uuid.uuid4)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="single_rules_revision")
        ]

    def __str__(self):
        return f"rules revision {self.token} ({self.changed_at:%Y-%m-%d %H:%M} UTC)"


class ComponentQuerySet(models.QuerySet):
    def with_current_version(self):
        """Annotate ``current_version``: the latest live release's version (one subquery)."""
        latest = (
            Release.objects.live()
            .filter(component=models.OuterRef("pk"))
            .order_by("-completed_at", "-id")
            .values("version")[:1]
        )
        return self.annotate(current_version=models.Subquery(latest))


class Component(models.Model):
    """Something that is released on its own: a service, an API, a client library."""

    class Kind(models.TextChoices):
        INFRASTRUCTURE = "infrastructure", "Infrastructure"
        API = "api", "API"
        CLIENT = "client", "Client"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120, validators=[text.single_line])
    kind = models.CharField(max_length=20, choices=Kind.choices)

    objects = ComponentQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.name


def scope_errors(applies_to_all: bool, components) -> dict[str, str]:
    """A scope is every component, or a non-empty list of them."""
    if not applies_to_all and not components:
        return {"components": "List the components this applies to, or tick 'all components'."}
    return {}


class ScopedQuerySet(models.QuerySet):
    def with_scope(self):
        return self.prefetch_related(models.Prefetch("components", Component.objects.only("slug")))


# The fields a policy and a recurring freeze share, in the order forms show them.
RECURRENCE_FIELDS = [
    "rrule",
    "start_time",
    "duration_minutes",
    "zone",
    "effective_from",
    "effective_until",
]


class Scoped(models.Model):
    """What policies and freezes share: a scope, timestamps, and recurrence fields (subclasses)."""

    applies_to_all = models.BooleanField(
        "all components", default=True, help_text="Untick to list the components it applies to."
    )
    components = models.ManyToManyField(Component, blank=True, related_name="+")
    # Counts the edits that took effect; the gate's trace names it, so a past decision can be
    # explained by the exact rule it was reached by (the audit log holds each version).
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def _engine_scope(self) -> frozenset[str] | None:
        if self.applies_to_all:
            return None
        return frozenset(c.slug for c in self.components.all())

    def recurrence(self) -> windows.Recurrence:
        """The engine's value for the recurrence fields (a policy's, or a recurring freeze's)."""
        # Clamped, so that a row stored before the limit existed still reads.
        minutes = min(self.duration_minutes or 0, MAX_WINDOW_MINUTES)
        return windows.Recurrence(
            rule=self.rrule,
            start_time=self.start_time,
            duration=dt.timedelta(minutes=minutes),
            zone=self.zone,
            effective_from=self.effective_from,
            effective_until=self.effective_until,
        )

    def scope_label(self) -> str:
        if self.applies_to_all:
            return "All components"
        return ", ".join(c.slug for c in self.components.all()) or "No component"

    scope_label.short_description = "Scope"


def _raise(errors: dict[str, str], renames: dict[str, str]) -> None:
    if errors:
        raise ValidationError({renames.get(k, k): v for k, v in errors.items()})


# Engine field names → model field names, for error messages that name the field.
_RECURRENCE_FIELDS = {"rule": "rrule", "duration": "duration_minutes"}


class WindowPolicy(Scoped):
    """Regular releases may happen during each occurrence of this recurring window."""

    name = models.CharField(max_length=120, unique=True, validators=[text.single_line])
    rrule = models.CharField(
        "recurrence rule",
        max_length=500,
        help_text="An RFC 5545 RRULE giving the days, e.g. FREQ=WEEKLY;BYDAY=WE,TH,FR",
    )
    start_time = models.TimeField(help_text="Local wall-clock time in the zone below.")
    duration_minutes = window_minutes(help_text="Elapsed minutes the window lasts.")
    zone = models.CharField(max_length=64, default=DEFAULT_ZONE, help_text="An IANA time zone.")
    effective_from = models.DateField(
        help_text="First local date it applies (inclusive).", validators=[validate_in_range]
    )
    effective_until = models.DateField(
        null=True,
        blank=True,
        help_text="Last local date it applies (inclusive); empty: no end.",
        validators=[validate_in_range],
    )

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "window policy"
        verbose_name_plural = "window policies"

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if None in (self.start_time, self.duration_minutes, self.effective_from) or not self.rrule:
            return  # the field-level "required" errors say it
        _raise(self.recurrence().validate(), _RECURRENCE_FIELDS)

    def to_engine(self) -> windows.Policy:
        return windows.Policy(
            self.pk, self.name, self.recurrence(), self._engine_scope(), self.version
        )


class Freeze(Scoped):
    """A blackout: closes whatever part of a window it overlaps. One-off or recurring."""

    reason = models.CharField(
        max_length=200, help_text="Shown to whoever is refused.", validators=[text.single_line]
    )
    # One-off: [starts_at, ends_at) in UTC; no end means until it is lifted.
    starts_at = models.DateTimeField(null=True, blank=True, validators=[validate_in_range])
    ends_at = models.DateTimeField(
        null=True,
        blank=True,
        validators=[validate_in_range],
        help_text="Empty: until lifted.",
    )
    # Recurring: like a window policy.
    rrule = models.CharField("recurrence rule", max_length=500, blank=True)
    start_time = models.TimeField(null=True, blank=True)
    duration_minutes = window_minutes(null=True, blank=True)
    zone = models.CharField(max_length=64, default=DEFAULT_ZONE, blank=True)
    effective_from = models.DateField(null=True, blank=True, validators=[validate_in_range])
    effective_until = models.DateField(null=True, blank=True, validators=[validate_in_range])

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_at__isnull=True)
                | models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="freeze_ends_after_start",
            )
        ]

    def __str__(self):
        return self.reason

    @property
    def is_recurring(self) -> bool:
        return bool(self.rrule)

    def clean(self):
        super().clean()
        if self.is_recurring:
            missing = {
                name: "Required for a recurring freeze."
                for name in ("start_time", "duration_minutes", "zone", "effective_from")
                if getattr(self, name) in (None, "")
            }
            if self.starts_at or self.ends_at:
                missing["starts_at"] = "A recurring freeze has no one-off start and end."
            _raise(missing, {})
            # Occurrences of a freeze may overlap: they merge, so no duration-vs-gap rule here.
            _raise(self.recurrence().validate(max_duration_vs_gap=False), _RECURRENCE_FIELDS)
            return
        errors = {}
        if self.starts_at is None:
            errors["starts_at"] = "A one-off freeze needs a start (or give a recurrence rule)."
        elif self.ends_at is not None and self.ends_at <= self.starts_at:
            errors["ends_at"] = "The end must be after the start."
        _raise(errors, {})

    def to_engine(self) -> windows.Freeze:
        if self.is_recurring:
            return windows.Freeze(
                self.pk,
                self.reason,
                recurrence=self.recurrence(),
                components=self._engine_scope(),
                version=self.version,
            )
        return windows.Freeze(
            self.pk,
            self.reason,
            interval=windows.Interval(self.starts_at, self.ends_at or windows.LATEST),
            components=self._engine_scope(),
            version=self.version,
        )


class ReleaseQuerySet(models.QuerySet):
    def for_list(self):
        """Everything a list shows, in a constant number of queries.

        Prefetched, not joined: the page itself stays a walk down the (scheduled_start, id)
        index. Joined, SQLite's planner (once ANALYZE has run) starts from the small tables and
        sorts every release in a temporary B-tree: 30 ms became 150 ms at 100,000 releases.
        """
        return self.prefetch_related(
            "component", "owner", "items", "rollback", "rollback__by", "rollback__restored"
        )

    def for_payload(self):
        """What ``release_payloads`` reads besides the items: the component's slug and the
        owner's name, as subqueries, so the page stays a walk down its index (see for_list)."""
        from django.contrib.auth import get_user_model

        users = get_user_model().objects
        return self.annotate(
            component_slug=models.Subquery(
                Component.objects.filter(pk=models.OuterRef("component_id")).values("slug")
            ),
            owner_username=models.Subquery(
                users.filter(pk=models.OuterRef("owner_id")).values("username")
            ),
        )

    def live(self):
        """Releases that are (or were) running in production and are not rolled back."""
        return self.filter(state__in=[Release.State.RELEASED, Release.State.VERIFIED])

    def public(self, *, at: dt.datetime):
        """What customers may see at ``at``: announced or further, once ``public_from`` came.

        Planned and cancelled releases never are; an announced one is from the instant the
        guide names (its window's opening, its authorized slot, or its announcement if it has
        perceptible impact), which ``releases.services.public_from`` works out.
        """
        return self.filter(state__in=PUBLIC_STATES, public_from__lte=at)


class Release(models.Model):
    """One version of one component, from plan to verification (or rollback)."""

    class Kind(models.TextChoices):
        REGULAR = "regular", "Regular"
        EXCEPTIONAL = "exceptional", "Exceptional"

    class Impact(models.TextChoices):
        NONE = "none", "None"
        PERCEPTIBLE = "perceptible", "Perceptible (customers must act)"

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        ANNOUNCED = "announced", "Announced"
        IN_PROGRESS = "in_progress", "In progress"
        RELEASED = "released", "Released"
        VERIFIED = "verified", "Verified"
        ROLLED_BACK = "rolled_back", "Rolled back"
        CANCELLED = "cancelled", "Cancelled"

    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="releases")
    version = models.CharField(
        max_length=64, validators=[text.version], help_text="Letters, digits and . + _ -."
    )
    title = models.CharField(max_length=200, validators=[text.single_line])
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.REGULAR)
    impact = models.CharField(max_length=12, choices=Impact.choices, default=Impact.NONE)
    scheduled_start = models.DateTimeField(validators=[validate_in_range])
    expected_duration_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(MAX_RELEASE_MINUTES)]
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.PLANNED)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_releases"
    )
    notes = models.TextField(blank=True, help_text="Markdown.", validators=[text.multi_line])
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    stranded_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="A rule change left its schedule outside every window: reschedule it.",
    )
    public_from = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="From when customers see it (its window's opening, for most); empty: never.",
    )
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["-scheduled_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["component", "version"], name="unique_component_version"
            ),
            models.CheckConstraint(
                condition=models.Q(expected_duration_minutes__gte=1),
                name="release_duration_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["scheduled_start", "id"]),  # the lists' default order
            models.Index(fields=["state", "scheduled_start"]),
            models.Index(fields=["component", "scheduled_start"]),
            models.Index(fields=["public_from"]),
        ]

    def __str__(self):
        return f"{self.component.slug} {self.version}"

    @property
    def etag(self) -> str:
        """Changes whenever anything the release's API answer shows does, items included.

        From the content, not updated_at: two edits within one clock tick must differ. Reads
        the items (and rollback) through their prefetch cache when the caller loaded them.
        """
        items = [
            (i.pk, i.title, i.description, i.type, i.breaking, i.public, i.planned, i.shipped)
            for i in sorted(self.items.all(), key=lambda i: i.pk)
        ]
        rollback = getattr(self, "rollback", None) if self.state == self.State.ROLLED_BACK else None
        content = repr(
            (
                self.pk,
                self.state,
                self.version,
                self.title,
                self.kind,
                self.impact,
                self.scheduled_start.isoformat(),
                self.expected_duration_minutes,
                self.owner_id,
                self.notes,
                self.started_at,
                self.completed_at,
                items,
                rollback and (rollback.pk, rollback.restored_id),
            )
        )
        return f'"{hashlib.sha256(content.encode()).hexdigest()[:20]}"'

    @property
    def expected_duration(self) -> dt.timedelta:
        return dt.timedelta(minutes=min(self.expected_duration_minutes, MAX_RELEASE_MINUTES))

    @property
    def expected_end(self) -> dt.datetime:
        return windows.plus(self.scheduled_start, self.expected_duration)


# What customers may see, once its public_from has come (see ReleaseQuerySet.public).
PUBLIC_STATES = [
    Release.State.ANNOUNCED,
    Release.State.IN_PROGRESS,
    Release.State.RELEASED,
    Release.State.VERIFIED,
    Release.State.ROLLED_BACK,
]


class ReleaseItem(models.Model):
    """One change in a release: announced beforehand (planned) and/or actually shipped."""

    class Type(models.TextChoices):
        # Keep a Changelog's types, in its order.
        ADDED = "added", "Added"
        CHANGED = "changed", "Changed"
        DEPRECATED = "deprecated", "Deprecated"
        REMOVED = "removed", "Removed"
        FIXED = "fixed", "Fixed"
        SECURITY = "security", "Security"

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="items")
    title = models.CharField(max_length=200, validators=[text.single_line])
    description = models.TextField(blank=True, help_text="Markdown.", validators=[text.multi_line])
    type = models.CharField(max_length=12, choices=Type.choices, default=Type.CHANGED)
    breaking = models.BooleanField(default=False)
    public = models.BooleanField(default=True, help_text="Internal items never appear publicly.")
    planned = models.BooleanField(default=True, help_text="Announced before the release.")
    shipped = models.BooleanField(default=False, help_text="Actually released.")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.title


class Rollback(models.Model):
    """A release taken back out of production, and the version that replaced it."""

    release = models.OneToOneField(Release, on_delete=models.PROTECT, related_name="rollback")
    reason = models.TextField(validators=[text.multi_line])
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    restored = models.ForeignKey(
        Release,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The previous live release now current again; empty if there was none.",
    )

    def __str__(self):
        return f"rollback of {self.release}"


class AppendOnly(Exception):
    """ReleaseEvent rows are never changed or deleted by the application."""


class ReleaseEvent(models.Model):
    """The timeline: who did what to a release, when, and which state it moved between."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for Nightshift's own scheduled work.",
    )
    at = models.DateTimeField()
    action = models.CharField(max_length=40)
    from_state = models.CharField(max_length=12, blank=True)
    to_state = models.CharField(max_length=12, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["release", "at"])]

    def __str__(self):
        return f"{self.action} {self.release_id} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly("A release event is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("A release event is never deleted.")
