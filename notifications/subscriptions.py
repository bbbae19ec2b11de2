"""Subscribing (e-mail with double opt-in, webhooks that consent first), confirming, and
unsubscribing."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import secrets
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import ratelimit
from lib.errors import Invalid
from notifications import messages, webhooks
from notifications.links import BadLink, read_confirm, sms_code
from notifications.models import (
    Channel,
    Delivery,
    Message,
    Subscriber,
    Topic,
    host_of,
    mailbox_of,
    new_secret,
)
from notifications.outbox import Recipient, queue
from notifications.sms import BadNumber, as_e164, e164
from releases.models import Component

Kind = Message.Kind


class SubscriptionInvalid(Invalid):
    """A subscription cannot be made so."""


class SubscriptionThrottled(SubscriptionInvalid):
    """Too many subscriptions from this client: nothing was written; try again later."""

    def __init__(self, errors: dict[str, str], retry_after: float):
        self.retry_after = retry_after
        super().__init__(errors)


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


# --- Subscriptions ----------------------------------------------------------------------------


def _preferences(topics: Iterable[str], components: Iterable[Component]) -> dict:
    return {"t": sorted(set(topics)), "c": sorted({c.pk for c in components})}


def _apply(subscriber: Subscriber, preferences: dict) -> None:
    subscriber.set_topics(preferences["t"])
    subscriber.all_components = not preferences["c"]


def subscribe(
    *,
    email: str = "",
    url: str = "",
    phone: str = "",
    topics: Iterable[str],
    components: Iterable[Component] = (),
    client: str = "",
    at: dt.datetime | None = None,
) -> Subscriber:
    """Subscribe an e-mail address (sent a confirmation link) or a webhook (sent a verification
    request, which its endpoint must answer by echoing the challenge).

    A mobile number is texted a code (``phone_confirm`` takes it back, with the token the page
    gets as ``subscriber.confirm_token``), under the same limits as a mailbox.

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
    email, url, phone = email.strip().lower(), url.strip(), phone.strip()
    topics, components = list(topics), list(components)
    errors: dict[str, str] = {}
    if sum(map(bool, (email, url, phone))) != 1:
        errors["email"] = (
            "Give one of an e-mail address, a webhook URL or a mobile number."
            if sms_offered()
            else "Give an e-mail address or a webhook URL (one of them)."
        )
    if phone:
        if not sms_offered():
            errors["phone"] = "SMS is not offered here; subscribe by e-mail or webhook."
        else:
            try:
                phone = e164(phone)
            except BadNumber as exc:
                errors["phone"] = str(exc)
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
            if phone:
                return _subscribe_phone(phone, preferences, components, at)
            return _subscribe_email(email, preferences, components, at)
    except IntegrityError:
        # The same address, submitted twice at once: the other submission saved it (and sent
        # what there was to send). This one answers as for a known address.
        if url:
            return _unsaved_webhook(url, preferences, at)
        if phone:
            return _with_token(Subscriber(channel=SMS, phone=phone, created_at=at), preferences)
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


# --- Mobile numbers (SMS) --------------------------------------------------------------------

SMS = Subscriber.Channel.SMS
# A code works this long, and for so many tries (then the page says to ask for a new one).
CODE_WITHIN = dt.timedelta(minutes=30)
CODE_TRIES = 5
# What a reply says to stop (the words carriers and gateways honour).
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "ARRET"}


def sms_offered() -> bool:
    """Phones can subscribe once an SMS gateway is configured (and active)."""
    return Channel.objects.sms_gateway() is not None


def _with_token(subscriber: Subscriber, preferences: dict, nonce: str = "") -> Subscriber:
    """The page's token for the code form: the number, the preferences, the request's nonce.

    Alike whether or not a code was sent now (a number at its limit gets its last code's nonce,
    or one never texted), so the page tells nothing about the number.
    """
    nonce = nonce or secrets.token_urlsafe(12)
    payload = {"n": subscriber.phone, "p": preferences, "x": nonce}
    subscriber.confirm_token = signing.dumps(payload, salt="nightshift.sms-confirm", compress=True)
    return subscriber


def _subscribe_phone(number, preferences, components, at) -> Subscriber:
    """As for e-mail: a new number is saved unconfirmed; its code (and new preferences for a
    known one) confirm it. One code per number per CONFIRM_EVERY, CONFIRM_DAILY a day, and
    SMS_CODES_PER_HOUR in all."""
    subscriber = Subscriber.objects.select_for_update().filter(phone=number).first()
    if not _may_confirm(number, at):
        # No new code: the page's token names the last one texted, which still works (whoever
        # asked for it, the number's owner has it), so closing the page loses nothing.
        unsaved = Subscriber(channel=SMS, phone=number, created_at=at)
        last = (
            Delivery.objects.filter(
                channel=SMS,
                address=number,
                message__kind=Kind.CONFIRM,
                created_at__gt=min(at, timezone.now()) - CODE_WITHIN,
            )
            .order_by("-created_at", "-id")
            .values_list("message__data", flat=True)
            .first()
        )
        return _with_token(subscriber or unsaved, preferences, (last or {}).get("nonce", ""))
    # Every code costs money, whoever's number it is: many numbers from many clients (SMS
    # pumping) meet this budget, shared by every worker.
    budget = ratelimit.hit("sms-codes", "all", limit=settings.SMS_CODES_PER_HOUR, period=3600)
    if not budget.allowed:
        raise SubscriptionThrottled(
            {
                "phone": "We are sending too many confirmation codes right now; try again in "
                f"{_wait(budget)}, or subscribe by e-mail."
            },
            retry_after=budget.retry_after,
        )
    if subscriber is None:
        subscriber = Subscriber(channel=SMS, phone=number, created_at=at)
        _apply(subscriber, preferences)
        subscriber.save()
        subscriber.components.set(components)
    nonce = secrets.token_urlsafe(12)
    # The code is derived from the nonce with the key when the SMS is sent (links.sms_code).
    content = messages.Content(
        "Your confirmation code", "", {"nonce": nonce, "preferences": preferences}
    )
    queue(
        key=f"confirm:{subscriber.pk}:{nonce}",
        kind=Kind.CONFIRM,
        content=content,
        recipients=[Recipient(SMS, number, subscriber=subscriber.pk)],
        at=at,
    )
    return _with_token(subscriber, preferences, nonce)


def phone_confirm(*, token: str, code: str, at: dt.datetime | None = None) -> Subscriber:
    """Take back the code texted to a number: it is confirmed, with the preferences asked for.

    CODE_TRIES per code, then SubscriptionThrottled; a wrong code, an expired or forged token,
    or the token of a request no code was texted for, SubscriptionInvalid (nothing written).
    """
    at = at or timezone.now()
    try:
        payload = signing.loads(
            token, salt="nightshift.sms-confirm", max_age=CODE_WITHIN.total_seconds()
        )
    except signing.SignatureExpired:
        raise SubscriptionInvalid(
            {"code": "This code has expired; subscribe again for a new one."}
        ) from None
    except signing.BadSignature:
        raise SubscriptionInvalid({"code": "This form is broken; subscribe again."}) from None
    code = "".join((code or "").split())
    key = hashlib.sha256(payload["x"].encode()).hexdigest()[:32]
    verdict = ratelimit.hit(
        "sms-code", key, limit=CODE_TRIES, period=int(CODE_WITHIN.total_seconds())
    )
    if not verdict.allowed:
        raise SubscriptionThrottled(
            {"code": "Too many wrong codes; subscribe again for a new one."},
            retry_after=verdict.retry_after,
        )
    # A number at its limit was given a token whose code was never texted (see _with_token):
    # that code, guessed, confirms nothing, or tokens for the asking would be guesses for free.
    texted = Delivery.objects.filter(
        channel=SMS,
        address=payload["n"],
        message__kind=Kind.CONFIRM,
        created_at__gt=min(at, timezone.now()) - CODE_WITHIN,  # a code works this long
    ).filter(message__data__nonce=payload["x"])
    right = hmac.compare_digest(code.encode(), sms_code(payload["n"], payload["x"]).encode())
    if not right or not texted.exists():
        raise SubscriptionInvalid({"code": "That is not the code we sent; check the SMS."})
    return _confirm(Subscriber.objects.filter(phone=payload["n"]), payload["p"], at)


def _confirm(found, preferences: dict, at: dt.datetime) -> Subscriber:
    with transaction.atomic():
        subscriber = found.select_for_update().first()
        if subscriber is None:
            raise BadLink("This subscription no longer exists; subscribe again.")
        _apply(subscriber, preferences)
        subscriber.confirmed_at = subscriber.confirmed_at or at
        subscriber.unsubscribed_at = None
        subscriber.save()
        subscriber.components.set(preferences["c"])
    return subscriber


def sms_reply(*, token: str, sender: str, text: str, at: dt.datetime | None = None) -> int | None:
    """A reply texted to the gateway (``token`` names it): STOP and its synonyms unsubscribe
    the sender's number. How many were stopped, or None if ``token`` names no gateway."""
    gateway = Channel.objects.filter(purpose=Channel.Purpose.SMS, inbound_token=token).first()
    if gateway is None or not token:
        return None
    words = (text or "").strip().upper().split()
    if not words or words[0].strip(".,;:!?") not in STOP_WORDS:  # "Stop." stops too
        return 0
    digits = (sender or "").strip()
    if digits.isdigit():
        digits = f"+{digits}"  # gateways that drop the + (Vonage's msisdn)
    # Not e164: a number subscribed once is stopped even if it would not be texted today.
    number = as_e164(digits)
    if not number:
        return 0
    stopped = 0
    for subscriber in Subscriber.objects.filter(phone=number):
        subscriber_unsubscribe(subscriber=subscriber, at=at)
        stopped += 1
    return stopped


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
    return _confirm(Subscriber.objects.filter(pk=payload.get("s")), payload["p"], at)


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
