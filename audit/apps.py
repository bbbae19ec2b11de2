import sys

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _baseline(sender, using="default", verbosity=1, **kwargs):
    """After a migrate that leaves every app up to date: an entry for each governed row the log
    has never seen (rows that predate the log, a model newly registered), so that verify starts
    from a clean slate. Nothing after a partial migrate: the tables may not be there yet."""
    from django.db.migrations.executor import MigrationExecutor

    from audit import services

    executor = MigrationExecutor(connections[using])
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return
    recorded = services.baseline()
    if recorded and verbosity:
        out = kwargs.get("stdout") or sys.stdout
        out.write(f"  Audit log: {recorded} baseline entries for rows it had never seen.\n")


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self):
        # Sent once per app after the whole migrate: listening for our own is listening once.
        post_migrate.connect(_baseline, sender=self, dispatch_uid="audit-baseline")
