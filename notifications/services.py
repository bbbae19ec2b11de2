"""Notifications: subscriptions, acknowledgements, and the outbox that delivers them.

Every notification is a Message with one Delivery per recipient, written in the transaction of
whatever caused it (a release event, a reminder threshold, an approval request). After the
commit a django-q2 task sends each delivery; the sweeper queues again whatever is due and not in
flight, so a task the broker lost, or a worker killed mid-send, loses nothing. Sending is
at-least-once: webhook receivers deduplicate on the delivery id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from accounts import ratelimit, roles
from lib.errors import Invalid
from lib.text import one_line
from notes.models import AdvanceNotice
from notifications import messages, webhooks
from notifications.messages import Content
from notifications.models import (
    Acknowledgement,
    Contact,
    CustomerAccount,
    Delivery,
    Message,
    Subscriber,
    Topic,
    host_of,
    mailbox_of,
    new_secret,
)
from releases import selectors as release_selectors
from releases.models import Component, Release, ReleaseEvent
from releases.windows import get_zone, iso_utc

log = logging.getLogger(__name__)
Kind = Message.Kind


class SubscriptionInvalid(Invalid):
    """A subscription cannot be made so."""


class SubscriptionThrottled(SubscriptionInvalid):
    """Too many subscriptions from this client: nothing was written; try again later."""

    def __init__(self, errors: dict[str, str], retry_after: float):
        self.retry_after = retry_after
        super().__init__(errors)


class BadLink(Exception):
    """A confirmation, unsubscribe or acknowledgement link that is forged, broken or stale."""


# --- Signed links ---------------------------------------------------------------------------------
# The links carry their own proof (Django's signing, keyed by SECRET_KEY), so nothing needs
# storing for them; each kind has its own salt, so one kind of link never works as another.

CONFIRM_DAYS = 7
# At most one confirmation per mailbox (see models.mailbox_of) in this time, and so many a day.
CONFIRM_EVERY = dt.timedelta(minutes=10)
CONFIRM_DAILY = 3

# A webhook is active only once its endpoint echoes the verification request's challenge (see
# deliver); one not verified within VERIFY_WITHIN is deleted. So that the form cannot make
# Nightshift hammer one machine, a host has at most UNVERIFIED_PER_HOST subscriptions waiting
# at a time, and an address (whatever names point to it) VERIFY_PER_ADDRESS requests a day.
VERIFY_WITHIN = dt.timedelta(hours=24)
UNVERIFIED_PER_HOST = 3
VERIFY_PER_ADDRESS = 10


def _link(name: str, salt: str, payload: dict, *, absolute: bool = True) -> str:
    token = signing.dumps(payload, salt=f"nightshift.{salt}", compress=True)
    path = reverse(name, args=[token])
    return messages.url(path) if absolute else path


def _read(token: str, salt: str, max_age: dt.timedelta | None = None) -> dict:
    try:
        return signing.loads(token, salt=f"nightshift.{salt}", max_age=max_age)
    except signing.SignatureExpired:
        raise BadLink("This link has expired.") from None
    except signing.BadSignature:
        raise BadLink("This link is not valid; copy it whole from the message.") from None


def unsubscribe_link(subscriber_id: int, *, absolute: bool = True) -> str:
    """The subscriber's own unsubscribe link (a path, for our pages, when not ``absolute``)."""
    return _link("unsubscribe", "unsubscribe", {"s": subscriber_id}, absolute=absolute)


def acknowledge_link(contact_id: int, notice_id: int, revision: int) -> str:
    return _link("acknowledge", "ack", {"c": contact_id, "n": notice_id, "r": revision})


def read_confirm(token: str) -> dict:
    return _read(token, "confirm", max_age=dt.timedelta(days=CONFIRM_DAYS))


def read_unsubscribe(token: str) -> Subscriber:
    payload = _read(token, "unsubscribe")
    subscriber = Subscriber.objects.filter(pk=payload.get("s")).first()
    if subscriber is None:
        raise BadLink("This subscription no longer exists.")
    return subscriber


def read_acknowledgement(token: str) -> tuple[Contact, AdvanceNotice, int]:
    payload = _read(token, "ack")
    contact = Contact.objects.select_related("account").filter(pk=payload.get("c")).first()
    notice = AdvanceNotice.objects.select_related("release").filter(pk=payload.get("n")).first()
    if contact is None or notice is None:
        raise BadLink("This notice or contact no longer exists.")
    return contact, notice, int(payload["r"])


# --- Subscriptions ----------------------------------------------------------------------------


def _preferences(topics: Iterable[str], components: Iterable[Component]) -> dict:
    return {"t": sorted(set(topics)), "c": sorted({c.pk for c in components})}


def _apply(subscriber: Subscriber, preferences: dict) -> None:
    for topic in Topic:
        setattr(subscriber, f"on_{topic.value}", topic.value in preferences["t"])
    subscriber.all_components = not preferences["c"]


def subscribe(
    *,
    email: str = "",
    url: str = "",
    topics: Iterable[str],
    components: Iterable[Component] = (),
    client: str = "",
    at: dt.datetime | None = None,
) -> Subscriber:
    """Subscribe an e-mail address (sent a confirmation link) or a webhook (sent a verification
    request, which its endpoint must answer by echoing the challenge).

    An e-mail subscription changes nothing until its link is followed: a new address stays
    unconfirmed, and new preferences for a known address ride in the link. So nobody can
    subscribe, or re-scope, an address that is not theirs. A webhook URL subscribed already
    is left as it is, and nothing is sent to it; the answer is the same as for a new one.

    ``client`` (the form's ``ratelimit.client_address``) may subscribe SUBSCRIBE_RATE times;
    beyond that SubscriptionThrottled, and nothing is written. A mailbox gets at most one
    confirmation per CONFIRM_EVERY and CONFIRM_DAILY a day; a submission beyond that gets the
    same answer as any other (an unsaved Subscriber when the address is new) and writes nothing,
    so the answer never tells whether, or how lately, an address was submitted.
    """
    at = at or timezone.now()
    email, url = email.strip().lower(), url.strip()
    topics, components = list(topics), list(components)
    errors: dict[str, str] = {}
    if bool(email) == bool(url):
        errors["email"] = "Give an e-mail address or a webhook URL (one of them)."
    if not topics:
        errors["topics"] = "Choose at least one topic."
    elif unknown := set(topics) - set(Topic.values):
        errors["topics"] = f"Unknown topics: {', '.join(sorted(unknown))}."
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = "Enter a valid e-mail address."
        else:
            if email.rpartition("@")[2].startswith("["):
                # user@[127.0.0.1] is a valid address (RFC 5321), but it has our mail server
                # connect to whatever machine the submitter names, with no MX to say the
                # domain takes mail. Readers have mailboxes at domains.
                errors["email"] = (
                    "Give an address at a domain name; an IP address in brackets is not accepted."
                )
    if client and not errors:
        # Counted before any name is looked up: the form cannot be used to probe DNS either.
        limit, period = ratelimit.parse_rate(settings.SUBSCRIBE_RATE)
        verdict = ratelimit.hit("subscribe", client, limit=limit, period=period)
        if not verdict.allowed:
            error = f"Too many subscriptions from your address; try again in {_wait(verdict)}."
            raise SubscriptionThrottled({"__all__": error}, retry_after=verdict.retry_after)
    address = ""
    if url and not errors:
        try:
            address = webhooks.check_url(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
        except webhooks.WebhookRefused as exc:
            errors["url"] = str(exc)
    if errors:
        raise SubscriptionInvalid(errors)
    preferences = _preferences(topics, components)
    try:
        with transaction.atomic():
            if url:
                return _subscribe_webhook(url, address, preferences, components, at)
            return _subscribe_email(email, preferences, components, at)
    except IntegrityError:
        # The same address, submitted twice at once: the other submission saved it (and sent
        # what there was to send). This one answers as for a known address.
        if url:
            return _unsaved_webhook(url, preferences, at)
        return Subscriber(channel=Subscriber.Channel.EMAIL, email=email, created_at=at)


def _wait(verdict: ratelimit.Verdict) -> str:
    minutes = max(1, round(verdict.retry_after / 60))
    if minutes > 90:
        hours = round(minutes / 60)
        return f"{hours} hours"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _subscribe_webhook(url, address, preferences, components, at) -> Subscriber:
    """A new URL is saved unconfirmed and sent a verification request; a known one, nothing.

    Either way the caller gets a Subscriber with a new secret to show, so the page is the same
    whether or not the URL was subscribed: for a known URL it is unsaved and its secret is not
    used (the page says so), and the URL's own secret is never shown again. The limits per
    host and address come first, so that they too answer alike for known and new URLs.

    A URL that was verified once and has unsubscribed since starts over as a new one: a new
    secret, and its endpoint must consent again. (One that never was verified stays as it is
    until it expires: if its endpoint unsubscribed it, that was a no.)
    """
    host = host_of(url)
    now = min(at, timezone.now())
    waiting = Subscriber.objects.filter(
        channel=Subscriber.Channel.WEBHOOK,
        host=host,
        confirmed_at__isnull=True,
        created_at__gt=now - VERIFY_WITHIN,
    )
    if waiting.count() >= UNVERIFIED_PER_HOST:
        oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
        verdict = ratelimit.Verdict(False, 0, (oldest + VERIFY_WITHIN - now).total_seconds())
        error = (
            f"Too many subscriptions to {host} are waiting for their endpoint to answer the "
            f"verification request; try again in {_wait(verdict)}."
        )
        raise SubscriptionThrottled({"url": error}, retry_after=verdict.retry_after)
    # Many names can point at one machine (a wildcard DNS record): count its address too. The
    # counter is atomic, so submissions at the same moment cannot all pass the count above.
    verdict = ratelimit.hit("verify-address", address, limit=VERIFY_PER_ADDRESS, period=86400)
    if not verdict.allowed:
        error = (
            "Too many verification requests to the address this host resolves to; try again "
            f"in {_wait(verdict)}."
        )
        raise SubscriptionThrottled({"url": error}, retry_after=verdict.retry_after)
    subscriber = Subscriber.objects.select_for_update().filter(url=url).first()
    if subscriber is None:
        subscriber = Subscriber(channel=Subscriber.Channel.WEBHOOK, url=url)
    elif subscriber.confirmed_at is None or subscriber.unsubscribed_at is None:
        return _unsaved_webhook(url, preferences, at)
    subscriber.secret = new_secret()
    subscriber.created_at, subscriber.confirmed_at, subscriber.unsubscribed_at = at, None, None
    _apply(subscriber, preferences)
    subscriber.save()
    subscriber.components.set(components)
    # Through the outbox, after the commit: retried with backoff, and not lost with a killed
    # worker. The challenge may rest in the database: it proves only that the endpoint answered.
    queue(
        key=f"verify:{subscriber.pk}:{uuid.uuid4().hex}",
        kind=Kind.VERIFY,
        content=messages.verify(preferences["t"], secrets.token_urlsafe(32)),
        recipients=[Recipient(Subscriber.Channel.WEBHOOK, url, subscriber=subscriber.pk)],
        at=at,
    )
    return subscriber


def _unsaved_webhook(url, preferences, at) -> Subscriber:
    """What the page shows for a URL subscribed already: its preferences, a secret never used."""
    subscriber = Subscriber(channel=Subscriber.Channel.WEBHOOK, url=url, created_at=at)
    _apply(subscriber, preferences)
    return subscriber


def _subscribe_email(email, preferences, components, at) -> Subscriber:
    subscriber = Subscriber.objects.select_for_update().filter(email=email).first()
    if not _may_confirm(mailbox_of(email), at):
        # The same answer as when a confirmation goes out, and nothing written.
        return subscriber or Subscriber(
            channel=Subscriber.Channel.EMAIL, email=email, created_at=at
        )
    if subscriber is None:
        subscriber = Subscriber(channel=Subscriber.Channel.EMAIL, email=email, created_at=at)
        _apply(subscriber, preferences)
        subscriber.save()
        subscriber.components.set(components)
    content = messages.confirm([Topic(t).label for t in preferences["t"]])
    # The link itself is signed when the e-mail is sent: no usable token rests in the database.
    content.data["preferences"] = preferences
    queue(
        key=f"confirm:{subscriber.pk}:{at.timestamp()}:{random.getrandbits(32)}",
        kind=Kind.CONFIRM,
        content=content,
        recipients=[Recipient(Subscriber.Channel.EMAIL, email, subscriber=subscriber.pk)],
        at=at,
    )
    return subscriber


def _may_confirm(mailbox: str, at: dt.datetime) -> bool:
    """May this mailbox be sent a confirmation now? The form must not flood anyone's inbox.

    Counted per mailbox, not per address: +tag variants, quoted local parts and a different
    case all reach the same inbox.
    """
    since = min(at, timezone.now())
    sent = Delivery.objects.filter(message__kind=Kind.CONFIRM, subscriber__mailbox=mailbox)
    if sent.filter(created_at__gt=since - CONFIRM_EVERY).exists():
        return False
    if sent.filter(created_at__gt=since - dt.timedelta(days=1)).count() >= CONFIRM_DAILY:
        return False
    # Submissions at the same moment all find no confirmation above (none is committed yet);
    # the counter every worker shares lets one of them through. It never stops one the
    # database allows: that comes 10 minutes after the last, in a later window of the counter.
    # The key is a digest: no address rests in the counter store.
    key = hashlib.sha256(mailbox.encode()).hexdigest()[:32]
    period = int(CONFIRM_EVERY.total_seconds())
    return ratelimit.hit("confirm-mailbox", key, limit=1, period=period).allowed


def subscriber_confirm(*, token: str, at: dt.datetime | None = None) -> Subscriber:
    """Follow a confirmation link: the address is confirmed, with the preferences it carries."""
    at = at or timezone.now()
    payload = read_confirm(token)
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().filter(pk=payload.get("s")).first()
        if subscriber is None:
            raise BadLink("This subscription no longer exists; subscribe again.")
        _apply(subscriber, payload["p"])
        subscriber.confirmed_at = subscriber.confirmed_at or at
        subscriber.unsubscribed_at = None
        subscriber.save()
        subscriber.components.set(payload["p"]["c"])
    return subscriber


def subscriber_unsubscribe(*, subscriber: Subscriber, at: dt.datetime | None = None) -> Subscriber:
    """Stop sending anything to this subscriber; pending deliveries are skipped."""
    at = at or timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.unsubscribed_at is None:
            subscriber.unsubscribed_at = at
            subscriber.save(update_fields=["unsubscribed_at"])
        Delivery.objects.filter(subscriber=subscriber, status=Delivery.Status.PENDING).exclude(
            message__kind=Kind.CONFIRM
        ).update(status=Delivery.Status.SKIPPED, lease_until=None)
    return subscriber


def subscriber_rotate_secret(*, subscriber: Subscriber) -> str:
    """Give a webhook subscriber a new signing secret; returns it (shown once, then only its
    use is seen). Deliveries already sent were signed with the old one."""
    if subscriber.channel != Subscriber.Channel.WEBHOOK:
        raise SubscriptionInvalid({"secret": "Only a webhook has a signing secret."})
    secret = new_secret()
    Subscriber.objects.filter(pk=subscriber.pk).update(secret=secret)
    return secret


# --- Acknowledgements ---------------------------------------------------------------------------


def acknowledgement_refusal(notice: AdvanceNotice, revision: int) -> str | None:
    """Why this revision of the notice cannot be acknowledged (now), or None."""
    if notice.status != AdvanceNotice.Status.PUBLISHED:
        return f"This notice is {notice.get_status_display().lower()}; nothing to acknowledge."
    if not 1 <= revision <= notice.revision:
        return "This link names a revision the notice never had."
    return None


def acknowledge(
    *, contact: Contact, notice: AdvanceNotice, revision: int, at: dt.datetime | None = None
) -> tuple[Acknowledgement, bool]:
    """Record that ``contact`` read ``revision`` of ``notice``; following the link twice is fine."""
    at = at or timezone.now()
    if refusal := acknowledgement_refusal(notice, revision):
        raise BadLink(refusal)
    try:
        with transaction.atomic():
            return Acknowledgement.objects.get_or_create(
                contact=contact, notice=notice, revision=revision, defaults={"at": at}
            )
    except IntegrityError:  # the same link followed twice at once
        return Acknowledgement.objects.get(contact=contact, notice=notice, revision=revision), False


@dataclass(frozen=True)
class AccountStatus:
    """A key account's contacts for one notice: who was delivered it, who acknowledged."""

    account: CustomerAccount
    rows: list[dict]

    @property
    def acknowledged(self) -> bool:
        return any(row["acknowledged"] for row in self.rows)


def acknowledgement_status(notice: AdvanceNotice) -> list[AccountStatus]:
    """Per key account and contact: delivered (the current revision), acknowledged, when."""
    contacts = list(key_contacts().select_related("account"))
    acks = {
        a.contact_id: a
        for a in Acknowledgement.objects.filter(notice=notice, revision=notice.revision)
    }
    older = dict(
        Acknowledgement.objects.filter(notice=notice, revision__lt=notice.revision)
        .order_by("revision")
        .values_list("contact_id", "revision")
    )
    delivered = dict(
        Delivery.objects.filter(
            message__notice=notice,
            message__revision=notice.revision,
            contact__isnull=False,
            status=Delivery.Status.DELIVERED,
        )
        .order_by("delivered_at")
        .values_list("contact_id", "delivered_at")
    )
    accounts: dict[int, AccountStatus] = {}
    for contact in contacts:
        ack = acks.get(contact.pk)
        accounts.setdefault(contact.account_id, AccountStatus(contact.account, [])).rows.append(
            {
                "contact": contact,
                "delivered_at": delivered.get(contact.pk),
                "acknowledged": ack is not None,
                "acknowledged_at": ack.at if ack else None,
                "older_revision": older.get(contact.pk),
            }
        )
    return list(accounts.values())


# --- The outbox -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str
    subscriber: int | None = None
    contact: int | None = None


def key_contacts():
    return Contact.objects.filter(is_active=True, account__tier=CustomerAccount.Tier.KEY)


def _subscribers(topic: str, component_id: int | None) -> list[Recipient]:
    rows = Subscriber.objects.for_topic(topic, component_id).values_list(
        "pk", "channel", "email", "url"
    )
    return [Recipient(channel, email or url, subscriber=pk) for pk, channel, email, url in rows]


def _contacts() -> list[Recipient]:
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
        "uuid", "message", "channel", "address", "subscriber", "contact", "status",
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
        (new_id(uuid.uuid4()), message.pk, r.channel, r.address, r.subscriber, r.contact,
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


def _pending(now: dt.datetime):
    return Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    )


def _claim(ids: list[int], now: dt.datetime) -> uuid.UUID | None:
    """Take the free, due ones among ``ids`` for one attempt each, under a new claim token.

    One UPDATE for the whole batch; rows another worker holds (a live lease) or that are done
    are left out. The attempt counts as it starts: a worker killed mid-send still used one.
    """
    token = uuid.uuid4()
    lease = now + dt.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    taken = (
        _pending(now)
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
        link = _link(
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
    outcome["skipped"] = (
        Delivery.objects.filter(
            pk__in=ids, status=Delivery.Status.PENDING, subscriber__isnull=False
        )
        .filter(unconfirmed | withdrawn)
        .update(status=Delivery.Status.SKIPPED)
    )
    token = _claim(ids, start)
    if token is None:
        return outcome
    claimed = list(_mine(token).select_related("message", "subscriber").order_by("pk"))
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
            try:
                if delivery.channel == Subscriber.Channel.WEBHOOK:
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
                known = isinstance(exc, webhooks.WebhookFailed | webhooks.WebhookRefused)
                error = str(exc) if known else f"{exc.__class__.__name__}: {exc}"
                log.warning("delivery %s to %s failed: %s", delivery.uuid, delivery.address, error)
                _failed(token, delivery, at, error)
                outcome["failed"] += 1
                if mail is not None and delivery.channel == Subscriber.Channel.EMAIL:
                    mail.close()  # the next e-mail starts on a fresh connection
                    mail = None
            else:
                delivered.append(delivery.pk)
    finally:
        _delivered(token, delivered, now or timezone.now())
        outcome["delivered"] = len(delivered)
        if mail is not None:
            mail.close()
    return outcome


def expire_unverified_webhooks(*, at: dt.datetime | None = None) -> int:
    """Delete webhook subscriptions whose endpoint did not answer within VERIFY_WITHIN.

    Their pending verification goes with them: nothing more is ever sent to such a URL, and it
    may be subscribed again. Run by the scheduled work every minute; returns how many.
    """
    at = at or timezone.now()
    with transaction.atomic():
        _, deleted = Subscriber.objects.filter(
            channel=Subscriber.Channel.WEBHOOK,
            confirmed_at__isnull=True,
            created_at__lte=at - VERIFY_WITHIN,
        ).delete()
        Message.objects.filter(kind=Kind.VERIFY, deliveries__isnull=True).delete()
    return deleted.get(Subscriber._meta.label, 0)


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
            _pending(now)
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


# --- What causes messages --------------------------------------------------------------------

# Messages a key-account contact acknowledges (with the link in their copy).
ACKNOWLEDGED = {Kind.NOTICE_PUBLISHED, Kind.NOTICE_REVISED, Kind.NOTICE_REMINDER}
NOTICE_ACTIONS = {
    "notice_published": Kind.NOTICE_PUBLISHED,
    "notice_revised": Kind.NOTICE_REVISED,
    "notice_withdrawn": Kind.NOTICE_WITHDRAWN,
}
CLOSING_ACTIONS = {"notice_withdrawn", "notice_done"}


def on_release_event(event: ReleaseEvent) -> None:
    """Plugged into releases: queue what this timeline event must tell, in its transaction."""
    notice_event = event.action in NOTICE_ACTIONS or event.action in CLOSING_ACTIONS
    approval_event = event.action in ("approval_requested", "approval_invalidated")
    if event.action in ("complete", "rollback", "missed_window", "stranded") or notice_event:
        release = Release.objects.select_related("component", "owner").get(pk=event.release_id)
    elif approval_event:
        return _on_approval_event(event)
    else:
        return
    common = {"key": f"event:{event.pk}", "at": event.at, "event": event, "release": release}
    if event.action == "complete":
        recipients = _subscribers(Topic.RELEASED, release.component_id)
        queue(
            kind=Kind.RELEASED, content=messages.released(release), recipients=recipients, **common
        )
    elif event.action == "rollback":
        recipients = _subscribers(Topic.ROLLED_BACK, release.component_id)
        queue(
            kind=Kind.ROLLED_BACK,
            content=messages.rolled_back(release),
            recipients=recipients,
            **common,
        )
    elif event.action == "missed_window":
        window_end = dt.datetime.fromisoformat(event.details["window_end"])
        queue(
            kind=Kind.MISSED_WINDOW,
            content=messages.missed_window(release, window_end),
            recipients=_emails([release.owner.email]),
            **common,
        )
    elif event.action == "stranded":
        queue(
            kind=Kind.STRANDED,
            content=messages.stranded(release, event.details["why"]),
            recipients=_emails([release.owner.email]),
            **common,
        )
    else:
        notice = AdvanceNotice.objects.select_related("release__component").get(
            pk=event.details["notice"]
        )
        if event.action in CLOSING_ACTIONS:
            _drop_held_revisions(notice)
        if event.action not in NOTICE_ACTIONS:
            return
        kind = NOTICE_ACTIONS[event.action]
        changes = event.details.get("changes")
        if kind == Kind.NOTICE_REVISED and _join_held_revision(notice, event.at, changes):
            return
        # Key accounts hear of every notice, whatever they subscribed to (the guide: "informed
        # directly"); contacts come last so their delivery, with its acknowledgement link, wins.
        recipients = _subscribers(Topic.NOTICES, release.component_id) + _contacts()
        queue(
            kind=kind,
            content=messages.notice(notice, kind, changes),
            recipients=recipients,
            notice=notice,
            revision=notice.revision,
            hold=revision_hold() if kind == Kind.NOTICE_REVISED else None,
            **common,
        )


def _on_approval_event(event: ReleaseEvent) -> None:
    """A request filed reaches the senior managers who may decide it (never its requester or
    the release's owner: separation of duties); one voided by a change reaches its requester."""
    from approvals.models import ApprovalRequest

    request = ApprovalRequest.objects.select_related(
        "release__component", "release__owner", "requester"
    ).get(pk=event.details["request"])
    if event.action == "approval_requested":
        deciders = (
            get_user_model()
            .objects.filter(groups__name=roles.SENIOR_MANAGEMENT, is_active=True)
            .exclude(pk__in=[request.requester_id, request.release.owner_id])
            .values_list("email", flat=True)
        )
        kind, content, recipients = (
            Kind.APPROVAL_NEEDED, messages.approval_needed(request), _emails(deciders)
        )  # fmt: skip
    else:
        kind, content = Kind.APPROVAL_INVALIDATED, messages.approval_invalidated(request)
        recipients = _emails([request.requester.email])
    queue(
        key=f"event:{event.pk}",
        kind=kind,
        content=content,
        recipients=recipients,
        at=event.at,
        event=event,
        release=request.release,
    )


AUDIT_KINDS = {"anchor": Kind.AUDIT_ANCHOR, "broken": Kind.AUDIT_BROKEN}


def audit_notice(
    *, kind: str, key: str, subject: str, text: str, data: dict, at: dt.datetime
) -> list[str]:
    """Plugged into audit: tell senior management the day's anchor (the chain's head, to keep
    outside the database) or the break found instead. In the caller's transaction, through
    the outbox, once per key. Returns the addresses it was queued for."""
    addresses = sorted(
        {
            email
            for email in get_user_model()
            .objects.filter(groups__name=roles.SENIOR_MANAGEMENT, is_active=True)
            .values_list("email", flat=True)
            if email
        }
    )
    queue(
        key=key,
        kind=AUDIT_KINDS[kind],
        content=Content(one_line(subject), text, data),
        recipients=[Recipient(Subscriber.Channel.EMAIL, address) for address in addresses],
        at=at,
    )
    return addresses


def revision_hold() -> dt.timedelta:
    return dt.timedelta(minutes=settings.NOTICE_REVISION_HOLD_MINUTES)


# A held message is joined only while its send is this far off: no worker can have taken it.
JOIN_MARGIN = dt.timedelta(seconds=30)


def _join_held_revision(notice: AdvanceNotice, at: dt.datetime, changes) -> bool:
    """Fold this revision into one still held for the same notice; False if there is none.

    Several edits within a few minutes reach customers as one message, saying every change,
    with the latest text and revision (acknowledgement links name it when the message is sent).
    """
    base = min(at, timezone.now())
    held = (
        Message.objects.select_for_update()
        .filter(kind=Kind.NOTICE_REVISED, notice=notice, held_until__gt=base + JOIN_MARGIN)
        .order_by("-id")
        .first()
    )
    if held is None:
        return False
    merged = [*held.data.get("changes", []), *(changes or [])]
    content = messages.notice(notice, Kind.NOTICE_REVISED, merged)
    held.subject, held.text, held.data = content.subject, content.text, content.data
    held.revision = notice.revision
    held.save(update_fields=["subject", "text", "data", "revision"])
    return True


def _drop_held_revisions(notice: AdvanceNotice) -> None:
    """A notice withdrawn or done: a revision still held back is no longer worth sending."""
    Delivery.objects.filter(
        message__notice=notice,
        message__kind=Kind.NOTICE_REVISED,
        message__held_until__isnull=False,
        status=Delivery.Status.PENDING,
        attempts=0,
    ).update(status=Delivery.Status.SKIPPED)


def _emails(addresses) -> list[Recipient]:
    return [Recipient(Subscriber.Channel.EMAIL, a) for a in sorted(set(addresses)) if a]


def on_rule_change(change, what: str) -> None:
    """Plugged into rules: senior managers hear of a change to decide; its proposer, of the
    outcome. In the transaction of the step."""
    from django.contrib.auth import get_user_model

    from accounts.roles import SENIOR_MANAGEMENT

    at = change.decided_at or change.created_at
    if change.tightening:
        return  # in force at once, by whoever made it: nobody else needs to decide anything
    if what == "proposed":
        deciders = (
            get_user_model()
            .objects.filter(groups__name=SENIOR_MANAGEMENT, is_active=True)
            .exclude(pk=change.proposer_id)
            .values_list("email", flat=True)
        )
        kind, recipients = Kind.RULE_CHANGE, _emails(deciders)
    else:
        kind, recipients = Kind.RULE_DECIDED, _emails([change.proposer.email])
    queue(
        key=f"rules:{change.pk}:{what}",
        kind=kind,
        content=messages.rule_change(change, what),
        recipients=recipients,
        at=at,
    )


def announce_items(*, at: dt.datetime | None = None) -> int:
    """Send the items to be released of each release as it becomes public (``public_from``).

    That is its window's opening (ITEMS_ANNOUNCE_HOURS earlier if set), its authorized slot's,
    or its announcement for a perceptible release. Keyed per schedule: once each.
    """
    at = at or timezone.now()
    done = 0
    early = dt.timedelta(hours=settings.ITEMS_ANNOUNCE_HOURS)
    candidates = Release.objects.filter(
        state__in=[Release.State.ANNOUNCED, Release.State.IN_PROGRESS],
        public_from__lte=at,
        public_from__gt=at - ITEMS_CATCH_UP,
    ).select_related("component")
    for release in candidates:
        if release.kind == Release.Kind.REGULAR and release.impact == Release.Impact.PERCEPTIBLE:
            opens, _ = release_selectors.scheduled_window(release)  # public since announced
        else:
            opens = release.public_from + early
        with transaction.atomic():
            message = queue(
                key=f"items:{release.pk}:{release.scheduled_start.isoformat()}",
                kind=Kind.ITEMS,
                content=messages.items_to_be_released(release, opens),
                recipients=_subscribers(Topic.ITEMS, release.component_id),
                at=at,
                release=release,
            )
        done += message is not None
    return done


# Items still go out if the cluster was down when a release became public, within this long.
ITEMS_CATCH_UP = dt.timedelta(days=1)


def reminder_due(notice: AdvanceNotice, at: dt.datetime) -> int | None:
    """The latest reminder threshold (days before the tentative date) that has come, if any.

    Thresholds are counted in the notice's own zone, wall-clock: T-7 of a 09:00 release is 09:00
    seven local days earlier, across a DST change too. A threshold that had passed before the
    notice was published is not sent.
    """
    if not notice.tentative_start or at >= notice.tentative_start:
        return None
    zone = get_zone(notice.tentative_zone)
    local = notice.tentative_start.astimezone(zone)
    due = None
    for days in sorted(settings.NOTICE_REMINDER_DAYS, reverse=True):
        moment = (local.replace(tzinfo=None) - dt.timedelta(days=days)).replace(tzinfo=zone)
        moment = moment.astimezone(dt.UTC)
        if moment <= at and (notice.published_at is None or moment > notice.published_at):
            due = days
    return due


def send_reminders(*, at: dt.datetime | None = None) -> int:
    """Remind key-account contacts who have not acknowledged a notice's current revision."""
    at = at or timezone.now()
    sent = 0
    notices = AdvanceNotice.objects.filter(
        status=AdvanceNotice.Status.PUBLISHED, tentative_start__gt=at
    ).select_related("release__component")
    for notice in notices:
        days = reminder_due(notice, at)
        if days is None:
            continue
        acknowledged = set(
            Acknowledgement.objects.filter(notice=notice, revision=notice.revision).values_list(
                "contact_id", flat=True
            )
        )
        recipients = [r for r in _contacts() if r.contact not in acknowledged]
        if not recipients:
            continue
        with transaction.atomic():
            message = queue(
                key=f"reminder:{notice.pk}:{notice.tentative_start.isoformat()}:T-{days}",
                kind=Kind.NOTICE_REMINDER,
                content=messages.reminder(notice, days),
                recipients=recipients,
                at=at,
                release=notice.release,
                notice=notice,
                revision=notice.revision,
            )
        sent += message is not None
    return sent


def on_status(incident, update, what: str) -> None:
    """Plugged into status: announce each public step at once (subscribers of "status" for the
    affected components; key-account contacts too for a major outage), chase late updates, and
    tell Operations when a probe opened an incident. In the transaction of the step."""
    from accounts.roles import OPERATIONS, SENIOR_MANAGEMENT
    from status.models import Level

    people = get_user_model().objects.filter(is_active=True)
    if what in ("overdue_owner", "overdue_management"):
        addresses = [incident.owner.email]
        if what == "overdue_management":
            addresses += people.filter(groups__name=SENIOR_MANAGEMENT).values_list(
                "email", flat=True
            )
        queue(
            key=f"status:{incident.pk}:{what}:{incident.next_update_by.isoformat()}",
            kind=Kind.STATUS_OVERDUE,
            content=messages.status_overdue(incident, what),
            recipients=_emails(addresses),
            at=timezone.now(),
        )
        return
    if what == "opened" and incident.opened_automatically:
        operations = people.filter(groups__name=OPERATIONS).values_list("email", flat=True)
        queue(
            key=f"status:{incident.pk}:probe",
            kind=Kind.STATUS_PROBE,
            content=messages.status_probe_opened(incident, update),
            recipients=_emails([*operations, incident.owner.email]),
            at=update.at,
        )
    if not incident.public:
        return
    recipients: dict[str, Recipient] = {}
    for component in incident.components.all():
        for recipient in _subscribers(Topic.STATUS, component.pk):
            recipients[recipient.address] = recipient
    found = list(recipients.values())
    if update.impact == Level.MAJOR:
        found += _contacts()  # key accounts hear of major outages directly
    queue(
        key=f"status:update:{update.pk}",
        kind=Kind.STATUS,
        content=messages.status_update(incident, update, what),
        recipients=found,
        at=update.at,
    )
