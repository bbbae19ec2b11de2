"""API key lifecycle: create (the plaintext is shown once) and revoke."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey


def apikey_create(*, user, name: str) -> tuple[ApiKey, str]:
    """A new key for ``user``; returns it and its plaintext, which is not kept anywhere."""
    name = name.strip()
    if not name:
        raise ValueError("An API key needs a name saying what uses it.")
    key = ApiKey(user=user, name=name)
    plaintext = key.set_new_secret()
    key.save()
    return key, plaintext


def apikey_revoke(*, key: ApiKey, at: dt.datetime | None = None) -> ApiKey:
    """Revoke a key at once; revoking twice keeps the first instant."""
    at = at or timezone.now()
    with transaction.atomic():
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=at)
    key.refresh_from_db()
    return key
