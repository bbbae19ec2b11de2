"""The roles (Django groups), what each may do in the desk, and the one place that asks.

``PERMISSIONS`` is the whole table; ``grant(apps)`` applies it (idempotently, adding only) and
is what every data migration and test fixture calls, so the table is never copied.
"""

from __future__ import annotations

RELEASE_ENGINEERS = "Release engineers"
SENIOR_MANAGEMENT = "Senior management"
AUDITORS = "Auditors"
OPERATIONS = "Operations"
ROLES = [RELEASE_ENGINEERS, SENIOR_MANAGEMENT, AUDITORS, OPERATIONS]

ALL = ["add", "change", "delete", "view"]
VIEW = ["view"]
# Rules (policies, freezes) are changed through rule changes: engineers and managers propose.
_RULES = {"releases.component": ALL, "releases.windowpolicy": ALL, "releases.freeze": ALL}
PERMISSIONS: dict[str, dict[str, list[str]]] = {
    RELEASE_ENGINEERS: {
        **_RULES,
        # Nobody deletes a release (it is cancelled); the timeline and rollbacks are only read.
        "releases.release": ["add", "change", "view"],
        "releases.releaseitem": ALL,
        "releases.releaseevent": VIEW,
        "releases.rollback": VIEW,
        "approvals.approvalrequest": VIEW,
        "approvals.approvaldecision": VIEW,
        "notes.advancenotice": ["add", "change", "view"],
        "notes.noticerevision": ["add", "change", "view"],
        # The release team runs subscribers, customer accounts and the outbox.
        "notifications.subscriber": ALL,
        "notifications.customeraccount": ALL,
        "notifications.contact": ALL,
        "notifications.acknowledgement": ALL,
        "notifications.delivery": ["change", "delete", "view"],
        "notifications.message": ["delete", "view"],
        # The "@releases" account (and the SMS gateway): channels are the release team's.
        "notifications.channel": ALL,
        "rules.rulechange": VIEW,
        "rules.ruledecision": VIEW,
        **{f"status.{m}": ["add", "change", "view"] for m in ("incident", "incidentupdate")},
        "status.probe": ALL,
        "status.probesample": VIEW,
        "status.supportcontacts": VIEW,
    },
    SENIOR_MANAGEMENT: {
        **_RULES,
        "releases.release": VIEW,
        "releases.releaseitem": VIEW,
        "releases.releaseevent": VIEW,
        "releases.rollback": VIEW,
        "approvals.approvalrequest": VIEW,
        "approvals.approvaldecision": VIEW,
        "notes.advancenotice": VIEW,
        "notes.noticerevision": VIEW,
        "notifications.subscriber": VIEW,
        "notifications.customeraccount": VIEW,
        "notifications.contact": VIEW,
        "notifications.acknowledgement": VIEW,
        "notifications.delivery": VIEW,
        "notifications.message": VIEW,
        "notifications.channel": VIEW,
        "rules.rulechange": ["change", "view"],
        "rules.ruledecision": VIEW,
        "audit.entry": VIEW,
        "audit.anchor": VIEW,
        "status.incident": VIEW,
        "status.incidentupdate": VIEW,
        "status.probe": VIEW,
        "status.supportcontacts": ["add", "change", "view"],
    },
    AUDITORS: {"audit.entry": VIEW, "audit.anchor": VIEW},
    # Operations run incidents and probes, and read the releases they may roll back.
    OPERATIONS: {
        "status.incident": ["add", "change", "view"],
        "status.incidentupdate": ["add", "change", "view"],
        "status.probe": ALL,
        "status.probesample": VIEW,
        "status.supportcontacts": VIEW,
        # The "@status" account: Operations run channels too, and watch the outbox.
        "notifications.channel": ALL,
        "notifications.delivery": ["change", "view"],
        "notifications.message": VIEW,
        "releases.component": VIEW,
        "releases.release": VIEW,
        "releases.releaseevent": VIEW,
        "releases.rollback": VIEW,
    },
}


def grant(apps, schema_editor=None) -> None:
    """Create the groups and give them the table's permissions (a data migration's body).

    Models not migrated yet are skipped; the migration that creates them calls this again.
    """
    from django.contrib.auth.management import create_permissions

    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, table in PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for label, verbs in table.items():
            app_label, model = label.split(".")
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label=app_label,
                    codename__in=[f"{verb}_{model}" for verb in verbs],
                )
            )


def release_engineers():
    """The active users who may own and drive releases."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    return (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name=RELEASE_ENGINEERS), is_active=True)
        .distinct()
    )


def _groups(user) -> frozenset[str]:
    # Cached on the user object: one query per request, however many checks it makes.
    cached = getattr(user, "_nightshift_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._nightshift_groups = cached
    return cached


def preload(user) -> None:
    """Read ``user``'s roles now (one query), so later checks on it cost none."""
    _groups(user)


def is_release_engineer(user) -> bool:
    """May define windows and freezes and drive releases."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or RELEASE_ENGINEERS in _groups(user)


def is_senior_manager(user) -> bool:
    """May decide on exceptional releases and rule changes."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or SENIOR_MANAGEMENT in _groups(user)


def is_release_team(user) -> bool:
    """A release engineer or a senior manager: reads releases and approvals, asks for
    approvals and rule changes."""
    return is_release_engineer(user) or is_senior_manager(user)


def is_operations(user) -> bool:
    """Runs incidents and probes."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or OPERATIONS in _groups(user)


def may_read_audit_log(user) -> bool:
    """Senior management and auditors read the audit log; nobody else (plugged into audit)."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return is_senior_manager(user) or AUDITORS in _groups(user)
