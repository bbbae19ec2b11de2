"""django-q2 entry points for notifications: they receive ids and call a service."""

from __future__ import annotations

from notifications import outbox, scheduled, sending, subscriptions


def deliver(delivery_ids: list[int]) -> dict[str, int]:
    """Send a batch of deliveries (each once, if still pending and free)."""
    return sending.deliver(delivery_ids)


def sweep() -> int:
    """Queue again what is due and not in flight (scheduled every minute)."""
    return outbox.sweep()


def scheduled_work() -> dict[str, int]:
    """The time-driven notifications (scheduled every minute; each is keyed, so none repeats).

    The instants come from the window engine and zoneinfo, not from the schedule: a DAILY
    schedule would drift by an hour across DST, a frequent idempotent check does not.
    """
    return {
        "items_announced": scheduled.announce_items(),
        "reminders": scheduled.send_reminders(),
        "unverified_webhooks_expired": subscriptions.expire_unverified_webhooks(),
    }
