"""Channels: the accounts Nightshift posts to and the SMS gateway it texts through, each one
Apprise URL. Apprise speaks the services (Mastodon, X, Slack, Teams, Twilio, …); this module
checks a URL, keeps it secret, sends one delivery through it and keeps the channel's health.

Deliveries to channels and phones go through the outbox like every other (``sending``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterable
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from lib.errors import Invalid
from lib.text import one_line
from notifications import messages
from notifications.links import short_unsubscribe_link, sms_code
from notifications.models import Channel, Delivery, Message, Topic
from notifications.outbox import Recipient, queue
from notifications.sms import fit_segments

log = logging.getLogger(__name__)


class ChannelInvalid(Invalid):
    """A channel cannot be saved so."""


class ChannelFailed(Exception):
    """The service did not take the post; the delivery is retried with backoff."""


# --- Apprise -------------------------------------------------------------------------------------


def _asset():
    import apprise

    # Memory only: no plugin writes its caches to disk on the server.
    return apprise.AppriseAsset(
        app_id="Nightshift",
        app_desc="Release and service-status news",
        app_url=settings.SITE_URL,
        storage_mode="memory",
    )


def _plugin(url: str):
    """The Apprise plugin for ``url``, or None if Apprise does not understand it."""
    import apprise  # loaded where it is used: the web process imports it only to check a URL

    return apprise.Apprise.instantiate(url, asset=_asset(), suppress_exceptions=True)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,19}")
# Apprise services that post on the server itself (its log, its desktop, a USB light) or to a
# log host: nobody follows news there.
_NO_READER = {
    "syslog", "rsyslog", "dbus", "kde", "qt", "glib", "gio", "gnome", "macosx", "windows", "blink1"
}  # fmt: skip
# URL options that have Apprise read a file on the server (key files, PGP keys).
_FILE_OPTIONS = {"keyfile", "subfile", "pgppub", "pgpprv"}


def inspect(url: str) -> dict:
    """What a URL names: the service, its masked form, the most it takes in a post.

    ChannelInvalid when Apprise does not understand it (the error never repeats the URL: it is
    a secret).
    """
    url = (url or "").strip()
    if not url:
        raise ChannelInvalid({"url": "Give the Apprise URL of the account or gateway."})
    if len(url) > 2000 or any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise ChannelInvalid(
            {"url": "That is not an Apprise URL (too long, or it has control characters)."}
        )
    scheme, found, _ = url.partition("://")
    plugin = _plugin(url) if scheme else None
    if plugin is None:
        # Named only if it is one: without "://", the start of the URL may be a token.
        named = found and _SCHEME.fullmatch(scheme)
        raise ChannelInvalid(
            {
                "url": "Apprise does not understand this URL"
                + (
                    f": its scheme (“{scheme.lower()}”) is unknown, or it lacks a part the "
                    "service needs (a token, a host)"
                    if named
                    else " (it has no scheme://)"
                )
                + "; see https://github.com/caronc/apprise/wiki for each service's form, e.g. "
                "mastodons://token@host or slack://TokenA/TokenB/TokenC/#channel."
            }
        )
    if scheme.lower() in _NO_READER:
        raise ChannelInvalid(
            {
                "url": f"{plugin.service_name} reaches no reader: it posts on the server or to "
                "a log. Give the URL of an account people follow, or of an SMS gateway."
            }
        )
    if options := _FILE_OPTIONS & {k.lower() for k in parse_qs(urlsplit(url).query)}:
        raise ChannelInvalid(
            {
                "url": f"This URL names a file on the server ({', '.join(sorted(options))}); "
                "a channel's URL must hold all it needs."
            }
        )
    return {
        "service": one_line(plugin.service_name)[:80],
        "masked_url": _masked(plugin.url(privacy=True)),
        "body_limit": int(plugin.body_maxlen or 0),
    }


def _masked(private: str) -> str:
    """Only the scheme and host of Apprise's masked URL: it hides the secrets it knows of, but
    leaves some in place (a json:// URL's custom headers), so nothing more is shown."""
    parts = urlsplit(one_line(private))
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}/…"[:500]


def _targets(url: str) -> int:
    """How many recipients the URL names itself (an SMS service's numbers, a chat's rooms)."""
    plugin = _plugin(url)
    return len(getattr(plugin, "targets", None) or ()) if plugin else 0


def _with_target(url: str, target: str) -> str:
    """The gateway's URL with one recipient (a number) added as its last path segment."""
    parts = urlsplit(url)
    path = f"{parts.path.rstrip('/')}/{quote(target, safe='+')}"
    return urlunsplit(parts._replace(path=path))


def _notify(url: str, *, title: str, body: str) -> None:
    """Post once through Apprise; ChannelFailed with what Apprise said if it did not go."""
    import apprise

    plugin = _plugin(url)
    if plugin is None:
        raise ChannelFailed("Apprise no longer understands this channel's URL; replace it.")
    seconds = settings.WEBHOOK_TIMEOUT_SECONDS
    plugin.socket_connect_timeout = plugin.socket_read_timeout = seconds
    sender = apprise.Apprise(asset=_asset())
    sender.add(plugin)
    said: list[str] = []
    result = sender.notify(
        body=body,
        title=title,
        body_format=apprise.NotifyFormat.TEXT,
        log_callback=lambda entry, _plugin: said.append(entry.message),
        log_level=logging.WARNING,
    )
    if not result:
        raise ChannelFailed(one_line(" ".join(said)) or f"{plugin.service_name} did not take it.")


# --- Sending one delivery ------------------------------------------------------------------------


def sms_text(message: Message, delivery: Delivery) -> str:
    """What a phone receives: the short form, and how to stop, in two segments where it can."""
    if message.kind == Message.Kind.CONFIRM:
        code = sms_code(delivery.address, message.data["nonce"])
        return (
            f"Nightshift: your code is {code}. It confirms release news by SMS to this number. "
            "Not you? Ignore this. Reply STOP to opt out."
        )
    stop = short_unsubscribe_link(delivery.subscriber_id) if delivery.subscriber_id else ""
    text, link = message.short or message.subject, ""
    if text.rpartition(" ")[2].startswith(("http://", "https://")):
        text, _, link = text.rpartition(" ")  # the public page's link is kept whole, like stop's
        text = text.removesuffix("...")
    tail = " ".join(part for part in (link, f"Stop: {stop}" if stop else "") if part)
    return fit_segments(text, tail)


def send(delivery: Delivery) -> None:
    """Send one channel or SMS delivery through Apprise (``delivery.via``: the channel it
    went through, for an SMS the gateway of the moment).

    ChannelFailed if the service did not take it, or there is no SMS gateway to send it by.
    """
    message = delivery.message
    if delivery.channel == Delivery.CHANNEL:
        channel = delivery.via
        if channel.short:
            _notify(channel.url, title="", body=message.short or one_line(message.subject))
        else:
            _notify(channel.url, title=one_line(message.subject), body=message.text)
        return
    gateway = Channel.objects.sms_gateway()
    if gateway is None:
        raise ChannelFailed("No SMS gateway is configured (a channel for SMS, active).")
    delivery.via = gateway
    target = _with_target(gateway.url, delivery.address)
    _notify(target, title="", body=sms_text(message, delivery))


def record(delivery: Delivery, *, at: dt.datetime, error: str = "") -> None:
    """Keep the health of the channel ``delivery`` went through (``via``): failures in a row
    and the last one, the last success. An SMS remembers the gateway it went through."""
    if delivery.channel != Delivery.CHANNEL:
        Delivery.objects.filter(pk=delivery.pk).update(via=delivery.via)
    channels = Channel.objects.filter(pk=delivery.via.pk)
    if error:
        channels.update(
            consecutive_failures=F("consecutive_failures") + 1,
            last_failure_at=at,
            last_error=error[:500],
        )
    else:
        channels.update(consecutive_failures=0, last_success_at=at)


def unhealthy():
    """Channels that keep failing (UNHEALTHY_AFTER failures in a row), for the outbox page."""
    return Channel.objects.filter(
        is_active=True, consecutive_failures__gte=Channel.UNHEALTHY_AFTER
    ).order_by("name")


# --- Configuring -------------------------------------------------------------------------------


def check(
    channel: Channel,
    *,
    url: str = "",
    topics: Iterable[str] | None = None,
    at: dt.datetime | None = None,
) -> Channel:
    """Apply a new URL (empty: keep the one it has) and topics to ``channel``, unsaved, and
    check them: Apprise must understand the URL, so a channel never holds one nothing can send
    to. ChannelInvalid, by field, otherwise."""
    at = at or timezone.now()
    errors: dict[str, str] = {}
    if url:
        try:
            found = inspect(url)
        except ChannelInvalid as exc:
            errors.update(exc.errors)
        else:
            channel.url, channel.url_replaced_at = url.strip(), at if channel.pk else None
            for field, value in found.items():
                setattr(channel, field, value)
    elif not channel.url:
        errors["url"] = "Give the Apprise URL of the account or gateway."
    if channel.purpose == Channel.Purpose.SMS and "url" not in errors and _targets(channel.url):
        errors["url"] = (
            "An SMS gateway's URL names no recipient of its own: Nightshift adds each "
            "subscriber's number, and a number in the URL would be texted every code and stop "
            "link. Remove it, keeping the sender's."
        )
    if channel.purpose == Channel.Purpose.SMS:
        topics = []  # a gateway posts nothing of its own: it texts subscribers their topics
    elif topics is None and channel.pk is None:
        topics = []  # a new account posts what it is told to, nothing by default
    if topics is not None:
        topics = list(topics)
        if unknown := set(topics) - set(Topic.values):
            errors["topics"] = f"Unknown topics: {', '.join(sorted(unknown))}."
        elif not topics and channel.purpose == Channel.Purpose.BROADCAST:
            errors["topics"] = "Choose at least one topic to post."
        else:
            channel.set_topics(topics)
    try:
        channel.full_clean(exclude=["url", "components", *errors])
    except ValidationError as exc:
        errors.update({k: " ".join(v) for k, v in exc.message_dict.items()})
    if errors:
        raise ChannelInvalid(errors)
    return channel


def channel_save(
    channel: Channel,
    *,
    url: str = "",
    topics: Iterable[str] | None = None,
    components=None,
    at: dt.datetime | None = None,
) -> Channel:
    """Create or change a channel (see ``check``); ``components`` empty: every component."""
    check(channel, url=url, topics=topics, at=at)
    with transaction.atomic():
        channel.save()
        if components is not None:
            channel.components.set(components)
            all_components = not channel.components.exists()
            if all_components != channel.all_components:
                channel.all_components = all_components
                channel.save(update_fields=["all_components"])
    return channel


def channel_test(channels: Iterable[Channel], *, at: dt.datetime | None = None) -> int:
    """Queue a test post to each channel, through the outbox like any message; how many."""
    at = at or timezone.now()
    sent = 0
    for channel in channels:
        if channel.purpose != Channel.Purpose.BROADCAST:
            continue  # a gateway has nobody to text a test to
        with transaction.atomic():
            queue(
                key=f"channel-test:{channel.pk}:{uuid.uuid4().hex}",
                kind=Message.Kind.CHANNEL_TEST,
                content=messages.channel_test(channel),
                recipients=[Recipient(Delivery.CHANNEL, channel.name, via=channel.pk)],
                at=at,
            )
        sent += 1
    return sent
