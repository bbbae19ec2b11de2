"""The outbox: every notification is a Message with one Delivery per recipient, written in the
transaction of whatever caused it (a release event, a reminder threshold, an approval request).

After the commit a django-q2 task sends each delivery (``sending``); the sweeper queues again
whatever is due and not in flight, so a task the broker lost, or a worker killed mid-send,
loses nothing. Sending is at-least-once: webhook receivers deduplicate on the delivery id.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from notes.models import AdvanceNotice
from notifications.messages import Content
from notifications.models import (
    Channel,
    Contact,
    CustomerAccount,
    Delivery,
    Message,
    Subscriber,
)
from releases.models import Release, ReleaseEvent

# --- The outbox -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str
    subscriber: int | None = None
    contact: int | None = None
    via: int | None = None  # a Channel's own post


def key_contacts():
    return Contact.objects.filter(is_active=True, account__tier=CustomerAccount.Tier.KEY)


def topic_recipients(topic: str, component_id: int | None) -> list[Recipient]:
    """Everyone who hears about ``topic`` for this component: the active subscribers (e-mail,
    webhook, SMS) and the active channels that post it."""
    rows = Subscriber.objects.for_topic(topic, component_id).values_list(
        "pk", "channel", "email", "url", "phone"
    )
    found = [
        Recipient(channel, email or url or phone, subscriber=pk)
        for pk, channel, email, url, phone in rows
    ]
    channels = Channel.objects.broadcasting(topic, component_id).values_list("pk", "name")
    return found + [Recipient(Delivery.CHANNEL, name, via=pk) for pk, name in channels]


def key_contact_recipients() -> list[Recipient]:
    rows = key_contacts().values_list("pk", "email")
    return [Recipient(Subscriber.Channel.EMAIL, email, contact=pk) for pk, email in rows]


def queue(
    *,
    key: str,
    kind: str,
    content: Content,
    recipients: Iterable[Recipient],
    at: dt.datetime,
    event: ReleaseEvent | None = None,
    release: Release | None = None,
    notice: AdvanceNotice | None = None,
    revision: int | None = None,
    hold: dt.timedelta | None = None,
) -> Message | None:
    """Write a message and one delivery per address, in the caller's transaction.

    The key names the cause: a second call with the same key writes nothing (None). An address
    reached twice (a subscriber who is also a key-account contact) gets one delivery — the
    later recipient wins, so pass contacts after subscribers. With ``hold``, nothing is sent
    before that much time has passed (the sweeper sends it then).
    """
    by_address: dict[tuple[str, str], Recipient] = {}
    for recipient in recipients:
        by_address[(recipient.channel, recipient.address.lower())] = recipient
    due = min(at, timezone.now())  # at once (a service may be told a later ``at``)
    held_until = due + hold if hold else None
    with transaction.atomic():
        message, created = Message.objects.get_or_create(
            key=key,
            defaults={
                "kind": kind,
                "subject": content.subject,
                "text": content.text,
                "short": content.short,
                "data": content.data,
                "event": event,
                "release": release,
                "notice": notice,
                "revision": revision,
                "held_until": held_until,
                "created_at": at,
            },
        )
        if not created:
            return None
        _insert_deliveries(message, by_address.values(), held_until or due, queued=not hold)
        if held_until is None:
            # robust: the rows are committed; if the broker is down, the sweeper queues them.
            transaction.on_commit(partial(_enqueue_message, message.pk), robust=True)
    return message


def _insert_deliveries(
    message: Message, recipients: Iterable[Recipient], due: dt.datetime, *, queued: bool = True
):
    """One executemany for every delivery of a message.

    A fan-out to 10,000 subscribers happens inside the transaction of the event that causes it;
    bulk_create spent most of that (about 1 s per 3,000 rows, preparing each field of each
    row), this about a tenth. Only the uuid and the instant need the backend's adaptation.
    """
    names = [
        "uuid", "message", "channel", "address", "subscriber", "contact", "via", "status",
        "attempts", "next_attempt_at", "queued_at", "created_at", "last_error",
    ]  # fmt: skip
    fields = [Delivery._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    # Names from the model's own metadata, values as parameters: nothing from outside.
    sql = (
        f"INSERT INTO {quote(Delivery._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    at = connection.ops.adapt_datetimefield_value(due)
    # Queued now (its task follows the commit), or left to the sweeper when it is due later.
    queued_at = at if queued else None
    new_id = partial(fields[0].get_db_prep_value, connection=connection)
    rows = [
        (new_id(uuid.uuid4()), message.pk, r.channel, r.address, r.subscriber, r.contact, r.via,
         Delivery.Status.PENDING.value, 0, at, queued_at, at, "")
        for r in recipients
    ]  # fmt: skip
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):
            cursor.executemany(sql, rows[start : start + 1000])


def _enqueue_message(message_id: int) -> None:
    ids = list(
        Delivery.objects.filter(message_id=message_id, status=Delivery.Status.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    enqueue(ids)


def enqueue(ids: list[int]) -> None:
    """One django-q2 task per batch of deliveries."""
    size = settings.DELIVERY_BATCH_SIZE
    for start in range(0, len(ids), size):
        async_task("notifications.tasks.deliver", ids[start : start + size], group="deliveries")


def backoff(attempts: int) -> dt.timedelta:
    """Exponential, capped, with jitter (half fixed, half random): failures do not march in step."""
    ceiling = min(
        settings.DELIVERY_BACKOFF_SECONDS * 2 ** (attempts - 1),
        settings.DELIVERY_BACKOFF_MAX_SECONDS,
    )
    return dt.timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


def due(now: dt.datetime):
    return Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    )


def sweep(*, now: dt.datetime | None = None, limit: int = 10_000) -> int:
    """Queue again every delivery that is due and not in flight; returns how many.

    Due: pending and its next attempt has come. Not in flight: no live lease (a worker killed
    mid-send leaves one that runs out) and not queued within DELIVERY_REQUEUE_SECONDS (a task
    the broker lost). Run by a django-q2 schedule every minute, and by ``manage.py outbox sweep``.
    """
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.DELIVERY_REQUEUE_SECONDS)
    with transaction.atomic():
        # Two clusters sweeping at once on PostgreSQL take different rows (SKIP LOCKED).
        ids = list(
            due(now)
            .filter(Q(queued_at__isnull=True) | Q(queued_at__lte=stale))
            .order_by("next_attempt_at", "pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        for start in range(0, len(ids), 1000):
            Delivery.objects.filter(pk__in=ids[start : start + 1000]).update(queued_at=now)
        transaction.on_commit(partial(enqueue, ids), robust=True)
    return len(ids)


def delivery_retry(*, ids: Iterable[int], at: dt.datetime | None = None) -> int:
    """Give dead (or failing) deliveries a fresh set of attempts, starting now."""
    at = at or timezone.now()
    with transaction.atomic():
        retry = list(
            Delivery.objects.filter(
                pk__in=list(ids), status__in=[Delivery.Status.DEAD, Delivery.Status.PENDING]
            ).values_list("pk", flat=True)
        )
        Delivery.objects.filter(pk__in=retry).update(
            status=Delivery.Status.PENDING,
            attempts=0,
            next_attempt_at=at,
            queued_at=at,
            lease_until=None,
        )
        transaction.on_commit(partial(enqueue, retry), robust=True)
    return len(retry)


def email_recipients(addresses) -> list[Recipient]:
    return [Recipient(Subscriber.Channel.EMAIL, a) for a in sorted(set(addresses)) if a]
