"""The audit log: one append-only, hash-chained list of every governed fact.

Nothing here points at another table: the actor is kept as an id and a user-name snapshot, and
the subject as a type and an id, so the log never blocks a delete nor disappears in a cascade.
"""

from __future__ import annotations

import json

from django.db import models


class CanonicalJSONEncoder(json.JSONEncoder):
    """Sorted keys, no spaces, ASCII only: the one form of a JSON value an entry's hash covers.

    Entries store before/after in this form too: SQLite keeps the text as written, so verify
    hashes it without parsing it (PostgreSQL's jsonb rewrites it; verify parses that).
    """

    def __init__(self, **kwargs):
        kwargs.update(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        super().__init__(**kwargs)


class AppendOnly(Exception):
    """Audit entries are never changed or deleted by the application."""


# The "previous hash" of the first entry.
GENESIS = "0" * 64


class Entry(models.Model):
    """One governed fact: who did what to which subject, when, and what changed.

    ``hash`` is SHA-256 over a canonical JSON of every other field (``prev_hash`` included), so
    editing an entry breaks its own hash and removing one breaks the next entry's link; ``mac``
    is an HMAC of ``hash`` under AUDIT_KEY, which the database never holds, so whoever can write
    to the database still cannot compute a valid chain. ``digest`` vouches for the subject's
    governed fields after the change, which ``audit verify`` compares with the tables.
    """

    seq = models.BigIntegerField(unique=True, help_text="1, 2, 3…: no gaps.")
    at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(
        null=True, blank=True, help_text="The user's id then; empty for Nightshift's own work."
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80)
    subject_type = models.CharField(max_length=100)
    subject_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True, encoder=CanonicalJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=CanonicalJSONEncoder)
    # NULL, not "": "no row" (deleted, or a subject with no governed fields) is a fact of its
    # own, and the API and exports show it as null.
    digest = models.CharField(  # noqa: DJ001
        max_length=64,
        null=True,
        blank=True,
        help_text="SHA-256 of the subject's governed fields after the change; empty if deleted.",
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    mac = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "entries"
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "seq"]),
            models.Index(fields=["actor_username", "seq"]),
        ]

    def __str__(self):
        return f"#{self.seq} {self.action} {self.subject_type} {self.subject_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly("An audit entry is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("An audit entry is never deleted.")


class Head(models.Model):
    """The chain's end: the last entry's number and hash, in one row.

    Every append locks this row (select_for_update), so two transactions never both extend the
    same entry; and ``audit verify`` compares it with the last entry, so entries removed from
    the end are noticed.
    """

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="single_audit_head")]

    def __str__(self):
        return f"#{self.seq} {self.hash[:12]}…"


class Anchor(models.Model):
    """One per day: the chain's head sent to senior management, or the break found instead.

    The e-mails are what counts (they are outside the database); these rows say what was sent
    and let ``audit verify`` check every anchor is still on the chain.
    """

    day = models.DateField(unique=True, help_text="In DISPLAY_TIME_ZONE.")
    at = models.DateTimeField()
    seq = models.BigIntegerField(null=True, blank=True)
    hash = models.CharField(max_length=64, blank=True)
    problem = models.TextField(
        blank=True, help_text="Verification failed: nothing was anchored, and this was sent."
    )
    recipients = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-day"]

    def __str__(self):
        if self.problem:
            return f"{self.day}: broken"
        return f"{self.day}: #{self.seq} {self.hash[:12]}…"
