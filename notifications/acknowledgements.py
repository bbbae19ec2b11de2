"""Key-account contacts acknowledging a notice's revision, and who has not yet."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from notes.models import AdvanceNotice
from notifications.links import BadLink
from notifications.models import (
    Acknowledgement,
    Contact,
    CustomerAccount,
    Delivery,
)
from notifications.outbox import key_contacts

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
