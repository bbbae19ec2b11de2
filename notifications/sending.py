"""Sending deliveries: claims, e-mail and signed webhook requests, success, failure, backoff."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from lib.text import one_line
from notifications import channels, webhooks
from notifications.links import acknowledge_link, signed_link, unsubscribe_link
from notifications.models import (
    Delivery,
    Message,
    Subscriber,
)
from notifications.outbox import backoff, due, enqueue
from releases.windows import iso_utc

log = logging.getLogger(__name__)
Kind = Message.Kind

ACKNOWLEDGED = {Kind.NOTICE_PUBLISHED, Kind.NOTICE_REVISED, Kind.NOTICE_REMINDER}


def _claim(ids: list[int], now: dt.datetime) -> uuid.UUID | None:
    """Take the free, due ones among ``ids`` for one attempt each, under a new claim token.

    One UPDATE for the whole batch; rows another worker holds (a live lease) or that are done
    are left out. The attempt counts as it starts: a worker killed mid-send still used one.
    """
    token = uuid.uuid4()
    lease = now + dt.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    taken = (
        due(now)
        .filter(pk__in=ids)
        .update(lease_until=lease, claimed_by=token, attempts=F("attempts") + 1)
    )
    return token if taken else None


def _mine(token: uuid.UUID):
    return Delivery.objects.filter(claimed_by=token, status=Delivery.Status.PENDING)


def _delivered(token: uuid.UUID, ids: list[int], at: dt.datetime) -> None:
    if ids:
        _mine(token).filter(pk__in=ids).update(
            status=Delivery.Status.DELIVERED, delivered_at=at, lease_until=None, last_error=""
        )


def _failed(token: uuid.UUID, delivery: Delivery, at: dt.datetime, error: str) -> None:
    mine = _mine(token).filter(pk=delivery.pk)
    if delivery.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        mine.update(status=Delivery.Status.DEAD, lease_until=None, last_error=error[:500])
    else:
        mine.update(
            next_attempt_at=at + backoff(delivery.attempts),
            lease_until=None,
            queued_at=None,
            last_error=error[:500],
        )


def _release(token: uuid.UUID, ids: list[int]) -> None:
    """Give back claimed deliveries this task has no time left to send (their attempt unused)."""
    _mine(token).filter(pk__in=ids).update(
        lease_until=None, claimed_by=None, attempts=F("attempts") - 1
    )


def _body(delivery: Delivery, timestamp: str) -> bytes:
    message = delivery.message
    data = message.data
    if message.kind == Kind.VERIFY and delivery.subscriber_id:
        # The endpoint's owner can stop it; signed as it is sent, like an e-mail's links.
        data = {**data, "unsubscribe": unsubscribe_link(delivery.subscriber_id)}
    return json.dumps(
        {
            "id": str(message.pk),
            "type": message.kind,
            "created_at": iso_utc(message.created_at),
            "delivery": str(delivery.uuid),
            "data": data,
        },
        separators=(",", ":"),
    ).encode()


def _post(delivery: Delivery, secret: str) -> webhooks.Answer:
    timestamp = str(int(time.time()))
    body = _body(delivery, timestamp)
    return webhooks.exchange(
        delivery.address,
        body,
        {
            "Nightshift-Delivery": str(delivery.uuid),
            "Nightshift-Event": delivery.message.kind,
            "Nightshift-Timestamp": timestamp,
            "Nightshift-Signature": webhooks.signature(secret, timestamp, body),
        },
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE,
    )


def _webhook_verified(delivery: Delivery, answer: webhooks.Answer, at: dt.datetime) -> None:
    """The endpoint answered the verification request: active now if it echoed the challenge.

    Anything else is a failure like any other, retried with backoff (until the delivery is
    dead or the subscription expires); a 2xx alone is not consent (many endpoints answer 2xx
    to anything).
    """
    try:
        echoed = json.loads(answer.body).get("challenge")
    except (ValueError, AttributeError):  # not JSON, or not an object
        echoed = None
    expected = delivery.message.data["challenge"]
    if not isinstance(echoed, str) or not hmac.compare_digest(echoed, expected):
        raise webhooks.WebhookFailed(
            f'The endpoint answered {answer.status} without the JSON body {{"challenge": …}} '
            "echoing the verification request's challenge."
        )
    Subscriber.objects.filter(
        pk=delivery.subscriber_id, confirmed_at__isnull=True, unsubscribed_at__isnull=True
    ).update(confirmed_at=at)


def email_for(delivery: Delivery) -> EmailMessage:
    """The e-mail as this recipient gets it: their own links, and one-click unsubscribe."""
    message = delivery.message
    text, headers = message.text, {}
    if message.kind == Kind.CONFIRM:
        link = signed_link(
            "subscription-confirm",
            "confirm",
            {"s": delivery.subscriber_id, "p": message.data["preferences"]},
        )
        text += f"\nConfirm: {link}\n"
    elif delivery.contact_id and message.kind in ACKNOWLEDGED:
        link = acknowledge_link(delivery.contact_id, message.notice_id, message.revision)
        text += (
            f"\nYou receive this as a contact of a key account. Please acknowledge that you "
            f"have read this notice (revision {message.revision}): {link}\n"
        )
    if delivery.subscriber_id and message.kind != Kind.CONFIRM:
        link = unsubscribe_link(delivery.subscriber_id)
        text += f"\nUnsubscribe: {link}\n"
        # RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs here.
        headers["List-Unsubscribe"] = f"<{link}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    headers["X-Nightshift-Delivery"] = str(delivery.uuid)
    return EmailMessage(
        f"[Nightshift] {one_line(message.subject)}", text, None, [delivery.address], headers=headers
    )


def deliver(delivery_ids: Iterable[int], *, now: dt.datetime | None = None) -> dict[str, int]:
    """Send these deliveries once each (those still pending and free); count the outcomes.

    Claims the batch in one write and records its successes in one more (failures one by one),
    so a worker killed mid-batch may send part of it again: at-least-once. Stops before its
    lease, or django-q2's task timeout, could run out, and queues the rest itself.
    """
    ids = list(delivery_ids)
    outcome = {"delivered": 0, "failed": 0, "skipped": 0}
    start = now or timezone.now()
    # A subscriber who unsubscribed after the message was queued gets nothing more. Nor does
    # one not confirmed, but for what confirms it: an e-mail's link, a webhook's verification
    # (the latter not once the subscription is withdrawn).
    unconfirmed = Q(subscriber__confirmed_at__isnull=True) & ~Q(
        message__kind__in=[Kind.CONFIRM, Kind.VERIFY]
    )
    withdrawn = Q(subscriber__unsubscribed_at__isnull=False) & ~Q(message__kind=Kind.CONFIRM)
    # A channel switched off (or deleted) gets nothing of what was queued for it.
    channel_off = Q(channel=Delivery.CHANNEL) & (Q(via__isnull=True) | Q(via__is_active=False))
    outcome["skipped"] = (
        Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING)
        .filter((Q(subscriber__isnull=False) & (unconfirmed | withdrawn)) | channel_off)
        .update(status=Delivery.Status.SKIPPED)
    )
    token = _claim(ids, start)
    if token is None:
        return outcome
    claimed = list(_mine(token).select_related("message", "subscriber", "via").order_by("pk"))
    seconds = min(settings.DELIVERY_LEASE_SECONDS, settings.Q_CLUSTER["timeout"])
    stop_at = time.monotonic() + seconds - 2 * settings.WEBHOOK_TIMEOUT_SECONDS
    delivered: list[int] = []
    mail = None
    try:
        for index, delivery in enumerate(claimed):
            if index and time.monotonic() > stop_at:  # the first always goes: progress
                rest = [d.pk for d in claimed[index:]]
                _release(token, rest)
                transaction.on_commit(partial(enqueue, rest), robust=True)
                break
            at = now or timezone.now()
            error = ""
            try:
                if delivery.channel in (Delivery.CHANNEL, Subscriber.Channel.SMS):
                    channels.send(delivery)
                elif delivery.channel == Subscriber.Channel.WEBHOOK:
                    answer = _post(
                        delivery, delivery.subscriber.secret if delivery.subscriber else ""
                    )
                    if delivery.message.kind == Kind.VERIFY:
                        _webhook_verified(delivery, answer, at)
                else:
                    if mail is None:
                        mail = get_connection()
                        mail.open()
                    mail.send_messages([email_for(delivery)])
            except Exception as exc:  # any failure is this delivery's, never the batch's
                known = (webhooks.WebhookFailed, webhooks.WebhookRefused, channels.ChannelFailed)
                error = str(exc) if isinstance(exc, known) else f"{exc.__class__.__name__}: {exc}"
                log.warning("delivery %s to %s failed: %s", delivery.uuid, delivery.address, error)
                _failed(token, delivery, at, error)
                outcome["failed"] += 1
                if mail is not None and delivery.channel == Subscriber.Channel.EMAIL:
                    mail.close()  # the next e-mail starts on a fresh connection
                    mail = None
            else:
                delivered.append(delivery.pk)
            if delivery.via is not None:  # what it went through (or failed to) is told
                channels.record(delivery, at=at, error=error)
    finally:
        _delivered(token, delivered, now or timezone.now())
        outcome["delivered"] = len(delivered)
        if mail is not None:
            mail.close()
    return outcome
