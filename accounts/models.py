import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from lib import text


def digest_key(plaintext: str) -> str:
    """SHA-256 of a key. Keys carry 190+ random bits, so a fast hash is enough (as for tokens)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


class CredentialsRevision(models.Model):
    """One row whose token changes with every change that could change what an API key may do:
    a key created, revoked or deleted, its user saved (deactivated, made superuser) or moved
    between groups (roles).

    Each process keeps the keys it has seen in memory and checks this token (one small query)
    before trusting them, so a revocation stops the very next request on every host — the
    window calendar's RulesRevision, for credentials. A random token, not a counter (a counter
    comes back after a rollback).
    """

    token = models.UUIDField(default=uuid.uuid4)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="single_credentials_revision")
        ]

    def __str__(self):
        return f"credentials revision {self.token}"


def credentials_changed() -> None:
    """Move the token, in the caller's transaction (so it moves exactly when the change does)."""
    CredentialsRevision.objects.filter(pk=1).update(token=uuid.uuid4())


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiKey(models.Model):
    """A credential for API clients; acts with its user's permissions. Only its digest is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(
        max_length=100,
        help_text="What uses this key, e.g. 'deploy pipeline'.",
        validators=[text.single_line],
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.prefix}… ({self.name})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def set_new_secret(self) -> str:
        """Give this (unsaved) key a fresh secret; returns the plaintext, never stored."""
        self.prefix = f"ns_{secrets.token_hex(4)}"
        plaintext = f"{self.prefix}_{secrets.token_urlsafe(32)}"
        self.digest = digest_key(plaintext)
        return plaintext


def validate_zone(value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from django.core.exceptions import ValidationError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"'{value}' is not an IANA time zone (for example Europe/Paris)."
        ) from None


class Preferences(models.Model):
    """What one person chose for themselves on the desk."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_zone],
        help_text="Empty: the team's zone. Times on the desk are shown and typed in this zone.",
    )

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self):
        return f"{self.user}: {self.time_zone or 'team zone'}"
