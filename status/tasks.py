"""django-q2 entry points of the status app: ids (or nothing) in, a service called."""

from status import services


def escalate_overdue() -> int:
    """Every minute: chase incidents whose promised update is late."""
    return services.escalate_overdue()
