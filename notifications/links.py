"""Signed links (confirm, unsubscribe, acknowledge): they carry their own proof, nothing stored."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re

from django.conf import settings
from django.core import signing
from django.urls import reverse

from notes.models import AdvanceNotice
from notifications import messages
from notifications.models import (
    Contact,
    Subscriber,
)


class BadLink(Exception):
    """A confirmation, unsubscribe or acknowledgement link that is forged, broken or stale."""


# --- Signed links ---------------------------------------------------------------------------------
# The links carry their own proof (Django's signing, keyed by SECRET_KEY), so nothing needs
# storing for them; each kind has its own salt, so one kind of link never works as another.

CONFIRM_DAYS = 7


def signed_link(name: str, salt: str, payload: dict, *, absolute: bool = True) -> str:
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
    return signed_link("unsubscribe", "unsubscribe", {"s": subscriber_id}, absolute=absolute)


def acknowledge_link(contact_id: int, notice_id: int, revision: int) -> str:
    return signed_link("acknowledge", "ack", {"c": contact_id, "n": notice_id, "r": revision})


def read_confirm(token: str) -> dict:
    return _read(token, "confirm", max_age=dt.timedelta(days=CONFIRM_DAYS))


def _mac(purpose: str, value: str) -> bytes:
    key = hashlib.sha256(f"nightshift.{purpose}:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).digest()


# An SMS has no room for a signed link: this one is the subscriber's id and 60 bits of its MAC
# (/unsubscribe/123.Xy9…/), enough against guessing over the network, and nothing stored.
_SHORT = re.compile(r"^(\d{1,12})\.([A-Za-z0-9_-]{10})$")


def _short_mac(subscriber_id: int) -> str:
    return base64.urlsafe_b64encode(_mac("unsubscribe", str(subscriber_id))).decode()[:10]


def short_unsubscribe_link(subscriber_id: int) -> str:
    token = f"{subscriber_id}.{_short_mac(subscriber_id)}"
    return messages.url(reverse("unsubscribe", args=[token]))


def sms_code(number: str, nonce: str) -> str:
    """The six-digit code texted to ``number`` for this subscription request (``nonce``).

    Derived, not stored: whoever reads the database cannot confirm a number without the key.
    """
    return f"{int.from_bytes(_mac('sms-code', f'{number}:{nonce}')[:8], 'big') % 1_000_000:06d}"


def read_unsubscribe(token: str) -> Subscriber:
    if short := _SHORT.match(token):
        if not hmac.compare_digest(short[2], _short_mac(int(short[1]))):
            raise BadLink("This link is not valid; copy it whole from the message.")
        payload = {"s": int(short[1])}
    else:
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
