"""django-q2 entry points of the status app: ids (or nothing) in, a service called."""

from status import services


def escalate_overdue() -> int:
    """Every minute: chase incidents whose promised update is late."""
    return services.escalate_overdue()


def run_due_probes() -> int:
    """Every minute: ask the probes whose interval has passed; record what they find."""
    from status import probing

    return probing.run_due_probes()


def prune_samples() -> int:
    """Every six hours: raw probe samples older than PROBE_KEEP_DAYS go; rollups stay."""
    from status import probing

    return probing.prune()


def run_probes(probe_ids: list[int]) -> int:
    """Ask these probes now (the desk's "run now"), whatever their interval says."""
    from django.utils import timezone

    from status import probing
    from status.models import Probe

    return probing.run(list(Probe.objects.filter(pk__in=probe_ids, is_active=True)), timezone.now())
