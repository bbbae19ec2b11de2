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
