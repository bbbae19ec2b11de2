"""The roles (Django groups, created by a migration) and the one place that asks about them."""

from __future__ import annotations

RELEASE_ENGINEERS = "Release engineers"
SENIOR_MANAGEMENT = "Senior management"
AUDITORS = "Auditors"


def _groups(user) -> frozenset[str]:
    # Cached on the user object: one query per request, however many checks it makes.
    cached = getattr(user, "_nightshift_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._nightshift_groups = cached
    return cached


def is_release_engineer(user) -> bool:
    """May define windows and freezes and drive releases."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or RELEASE_ENGINEERS in _groups(user)


def is_senior_manager(user) -> bool:
    """May decide on exceptional releases."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or SENIOR_MANAGEMENT in _groups(user)


def may_read_audit_log(user) -> bool:
    """Senior management and auditors read the audit log; nobody else (plugged into audit)."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return is_senior_manager(user) or AUDITORS in _groups(user)
