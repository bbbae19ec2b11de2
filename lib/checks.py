"""System checks of the project as a whole (registered from releases' AppConfig)."""

from __future__ import annotations

from django.core.checks import Error, Tags, register
from django.utils.module_loading import import_string


@register(Tags.database)
def schedules_resolve(app_configs=None, databases=None, **kwargs):
    """Every django-q2 schedule names a function that exists.

    Schedules are rows holding a dotted path, written by data migrations: a renamed or moved
    task would otherwise fail silently, every minute, in the cluster's log. Run by ``migrate``
    and ``check --database default``; the test suite runs it too.
    """
    from django.db import DatabaseError

    if not databases:
        return []
    from django_q.models import Schedule

    errors = []
    for alias in databases:
        try:
            rows = list(Schedule.objects.using(alias).values_list("name", "func"))
        except DatabaseError:  # not migrated yet: nothing scheduled to check
            continue
        for name, func in rows:
            try:
                target = import_string(func)
            except ImportError as exc:
                target, why = None, str(exc)
            else:
                why = "it is not callable"
            if not callable(target):
                errors.append(
                    Error(
                        f"The schedule '{name}' runs '{func}', which cannot be run: {why}.",
                        hint="Point the schedule at the task's new path in a data migration.",
                        id="nightshift.E001",
                    )
                )
    return errors
