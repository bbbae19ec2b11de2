"""django-q2 entry points of the releases app: nothing or ids in, a service called."""

from releases import services


def flag_missed_windows() -> int:
    """Every minute: put "missed window" on the timeline of each release whose window ended
    before it started (its owner hears through the outbox, like any timeline event)."""
    return services.flag_missed_windows()
