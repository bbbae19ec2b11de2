"""Time-driven messages: items as releases become public, reminders of unacknowledged notices."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notes.models import AdvanceNotice
from notifications import messages
from notifications.models import (
    Acknowledgement,
    Message,
    Topic,
)
from notifications.outbox import key_contact_recipients, queue, topic_recipients
from releases import selectors as release_selectors
from releases.models import Release
from releases.windows import get_zone

Kind = Message.Kind


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
                recipients=topic_recipients(Topic.ITEMS, release.component_id),
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
        recipients = [r for r in key_contact_recipients() if r.contact not in acknowledged]
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
