"""API key lifecycle: create (the plaintext is shown once) and revoke; both on the audit log."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, credentials_changed
from audit import services as audit

# What an entry shows of a key: not its digest (the digest itself is still vouched for).
SHOWN = ["user", "name", "prefix", "created_at"]


def apikey_create(*, user, name: str, by=None, at: dt.datetime | None = None) -> tuple[ApiKey, str]:
    """A new key for ``user``; returns it and its plaintext, which is not kept anywhere.

    ``by``: who issued it (None from the command line: whoever has the shell).
    """
    name = name.strip()
    if not name:
        raise ValueError("An API key needs a name saying what uses it.")
    at = at or timezone.now()
    key = ApiKey(user=user, name=name, created_at=at)
    plaintext = key.set_new_secret()
    with transaction.atomic():
        key.save()
        audit.record(
            action="api_key.created",
            subject=key,
            actor=by,
            at=at,
            after=audit.snapshot(key, SHOWN),
        )
    return key, plaintext


def apikey_revoke(*, key: ApiKey, by=None, at: dt.datetime | None = None) -> ApiKey:
    """Revoke a key at once; revoking twice keeps the first instant (and the first entry)."""
    at = at or timezone.now()
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=at)
        if revoked:
            credentials_changed()  # update() sends no signal: every process's copy goes now
            audit.record(
                action="api_key.revoked",
                subject=key,
                actor=by,
                at=at,
                before={"revoked_at": None},
                after={"revoked_at": at},
            )
    key.refresh_from_db()
    return key
