"""`Authorization: Bearer <API key>` for API clients.

Pipelines call the gate with a key before every deploy, so a key costs one small query: the
credentials revision (accounts.models.CredentialsRevision), or none on SQLite while nothing has
been committed since (lib.freshness). Each process keeps the keys it
has resolved — the key, its user and the user's roles — under the revision it read them at,
and trusts them only while the revision is the same; any change to a key, a user or a group
moves it, so a revoked key fails on the very next request on every host.
"""

from __future__ import annotations

import copy
import datetime as dt

from django.utils import timezone
from rest_framework import HTTP_HEADER_ENCODING, authentication, exceptions

from accounts import roles
from accounts.models import ApiKey, CredentialsRevision, digest_key
from lib import freshness

# last_used_at is a convenience for deciding what to revoke; write it at most this often.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)
# Per process: digest -> (revision token, key with its user and roles). Bounded: many keys in
# use at once only cost a fresh lookup now and then.
_resolved: dict[str, tuple] = {}
MOST_KEYS = 1000


def _token():
    token = CredentialsRevision.objects.values_list("token", flat=True).filter(pk=1).first()
    if token is None:  # a database flushed since it was migrated: the row comes back
        token = CredentialsRevision.objects.get_or_create(pk=1)[0].token
    return token


def _resolve(digest: str) -> ApiKey:
    """The key (with its user and roles) this process keeps for ``digest``: shared, not to be
    changed; checked against the credentials revision first."""
    token = freshness.remembered("credentials", _token)
    cached = _resolved.get(digest)
    if cached is not None and cached[0] == token:
        return cached[1]
    key = ApiKey.objects.select_related("user").filter(digest=digest).first()
    if key is None:
        raise exceptions.AuthenticationFailed("Unknown API key.")
    if key.is_revoked:
        raise exceptions.AuthenticationFailed("This API key has been revoked.")
    if not key.user.is_active:
        raise exceptions.AuthenticationFailed("The owner of this API key is inactive.")
    roles.preload(key.user)
    if len(_resolved) >= MOST_KEYS:
        _resolved.clear()
    _resolved[digest] = (token, key)
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        found = self.authenticate_shared(request)
        if found is None:
            return None
        # Each request gets its own copies: a view may set attributes on request.user.
        request_key = copy.copy(found[1])
        request_key.user = copy.copy(found[0])
        return request_key.user, request_key

    def authenticate_shared(self, request):
        """``authenticate``, but the user and key are the ones this process keeps for every
        request with that key: for a caller that only reads them (the gate's fast path)."""
        header = request.META.get("HTTP_AUTHORIZATION", "")  # DRF's, without request.headers
        if isinstance(header, str):
            header = header.encode(HTTP_HEADER_ENCODING)
        header = header.split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <API key>'.")
        try:
            plaintext = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid text.") from None
        key = _resolve(digest_key(plaintext))
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now  # this process need not write it again soon
        return key.user, key

    def authenticate_header(self, request):
        return self.keyword
