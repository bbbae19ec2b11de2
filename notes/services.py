"""Advance notices: draft, publish (every field the guide asks for), revise, withdraw, done.

Every write of a notice (drafts included) and every revision is on the audit log; the chain's
lock is taken last (audit.deferred), after the notice's.
"""

from __future__ import annotations

import copy
import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from lib.errors import Invalid, Refused
from lib.instants import local_and_utc
from notes.models import REQUIRED_TO_PUBLISH, AdvanceNotice, NoticeRevision
from releases.guards import NoticeFacts
from releases.models import Release, ReleaseEvent
from releases.services import record_note
from releases.windows import get_zone

EDITABLE = {
    "headline",
    "description",
    "tentative_start",
    "tentative_zone",
    "certainty",
    "nature",
    "action_required",
    "action_deadline",
    "benefits",
    "impact_level",
}
# How a revision describes each change, for the public "what changed" list.
LABELS = {
    "headline": "Headline",
    "description": "Description",
    "tentative_start": "Date",
    "tentative_zone": "Time zone",
    "certainty": "Certainty",
    "nature": "Nature of the release",
    "action_required": "Action required",
    "action_deadline": "Deadline for the action",
    "benefits": "Benefits",
    "impact_level": "Impact level",
}


class NoticeInvalid(Invalid):
    """A notice cannot be written so."""


class NoticeRefused(Refused):
    """The notice's state does not allow this (a 409, as for releases)."""


def lead_time(impact_level: str) -> dt.timedelta:
    return dt.timedelta(days=settings.NOTICE_LEAD_DAYS[impact_level])


def _validate(values: dict) -> dict[str, str]:
    errors = {}
    zone = values.get("tentative_zone")
    if zone is not None:
        try:
            get_zone(zone)
        except ValueError as exc:
            errors["tentative_zone"] = str(exc)
    return errors


def notice_errors(
    *, release: Release | None, notice: AdvanceNotice | None = None, values: dict
) -> dict[str, str]:
    """Why these values may not be saved (a new notice when ``notice`` is None), by field.

    The services raise these; the admin form shows them before anything is saved.
    """
    errors = {name: "Unknown field." for name in set(values) - EDITABLE} | _validate(values)
    if notice is None:
        if release is None:
            errors["release"] = "Choose the release this notice announces."
        elif release.impact != Release.Impact.PERCEPTIBLE:
            errors["release"] = "Only a release with perceptible impact gets an advance notice."
        elif AdvanceNotice.objects.filter(release=release).exists():
            errors["release"] = "This release has a notice already; edit that one."
    elif notice.status == AdvanceNotice.Status.PUBLISHED:
        candidate = copy.copy(notice)
        for name, value in values.items():
            if name in EDITABLE:
                setattr(candidate, name, value)
        errors |= _missing(candidate)
    return errors


def _revision(notice, action: str, *, by, at, changes, snapshot, details) -> None:
    """The notice's next revision (numbered as the notice now is), on the audit log and on its
    release's timeline, where the hooks tell customers."""
    revision = NoticeRevision.objects.create(
        notice=notice, number=notice.revision, at=at, by=by, changes=changes, snapshot=snapshot
    )
    audit.record(
        action="notice_revision.created",
        subject=revision,
        actor=by,
        at=at,
        after=audit.snapshot(revision),
    )
    record_note(notice.release, action=action, by=by, at=at, details=details)


def notice_create(
    *, release: Release, by, at: dt.datetime | None = None, **values
) -> AdvanceNotice:
    """A draft notice for a perceptible-impact release."""
    at = at or timezone.now()
    errors = notice_errors(release=release, values=values)
    if errors:
        raise NoticeInvalid(errors)
    with transaction.atomic(), audit.deferred():
        notice = AdvanceNotice.objects.create(release=release, created_at=at, **values)
        notice.components.set([release.component])
        audit.record(
            action="notice.created", subject=notice, actor=by, at=at, after=audit.snapshot(notice)
        )
        record_note(
            release,
            action="notice_drafted",
            by=by,
            at=at,
            details={"notice": notice.pk},
        )
    return notice


def _describe(name: str, old, new) -> str:
    label = LABELS[name]
    if isinstance(new, dt.datetime) or isinstance(old, dt.datetime):
        before = local_and_utc(old) if old else "none"
        after = local_and_utc(new) if new else "none"
        return f"{label} moved from {before} to {after}."
    if name in ("certainty", "impact_level", "tentative_zone"):
        return f"{label} changed from {old} to {new}."
    return f"{label} changed."


def notice_update(*, notice: AdvanceNotice, by, at: dt.datetime | None = None, **values):
    """Edit a notice; once published, every edit is a revision with its 'what changed' list."""
    at = at or timezone.now()
    with transaction.atomic(), audit.deferred():
        notice = AdvanceNotice.objects.select_for_update().get(pk=notice.pk)
        if notice.status in (AdvanceNotice.Status.WITHDRAWN, AdvanceNotice.Status.DONE):
            raise NoticeRefused("invalid_state", f"A {notice.status} notice is final.")
        errors = notice_errors(release=notice.release, notice=notice, values=values)
        if errors:
            raise NoticeInvalid(errors)
        changed = {k: v for k, v in values.items() if getattr(notice, k) != v}
        if not changed:
            return notice
        before = {k: getattr(notice, k) for k in changed}
        for name, value in changed.items():
            setattr(notice, name, value)
        published = notice.status == AdvanceNotice.Status.PUBLISHED
        if published:
            notice.revision += 1
        # Saved before the event: its hooks (notifications) read the notice as revised.
        notice.save()
        fields = [*changed, "revision"] if published else list(changed)
        audit.record(
            action="notice.updated",
            subject=notice,
            actor=by,
            at=at,
            before={**before, "revision": notice.revision - 1} if published else before,
            after=audit.snapshot(notice, fields),
        )
        if published:
            sentences = [_describe(k, before[k], changed[k]) for k in changed]
            _revision(
                notice, "notice_revised", by=by, at=at, changes=sentences,
                snapshot={k: str(v) for k, v in before.items()},
                details={"notice": notice.pk, "changes": sentences},
            )  # fmt: skip
    return notice


def _missing(notice: AdvanceNotice) -> dict[str, str]:
    return {
        name: f"Publishing needs {words}."
        for name, words in REQUIRED_TO_PUBLISH.items()
        if not getattr(notice, name)
        or (isinstance(getattr(notice, name), str) and not getattr(notice, name).strip())
    }


def notice_publish(*, notice: AdvanceNotice, by, at: dt.datetime | None = None) -> AdvanceNotice:
    """Make a draft public; every field the guide asks for must be there."""
    at = at or timezone.now()
    with transaction.atomic(), audit.deferred():
        notice = AdvanceNotice.objects.select_for_update().get(pk=notice.pk)
        if notice.status != AdvanceNotice.Status.DRAFT:
            raise NoticeRefused(
                "invalid_state", f"Only a draft is published; this one is {notice.status}."
            )
        missing = _missing(notice)
        if missing:
            raise NoticeInvalid(missing)
        fields = ["status", "published_at", "revision"]
        before = audit.snapshot(notice, fields)
        notice.status, notice.published_at, notice.revision = (
            AdvanceNotice.Status.PUBLISHED,
            at,
            1,
        )
        notice.save()
        audit.record(
            action="notice.published",
            subject=notice,
            actor=by,
            at=at,
            before=before,
            after=audit.snapshot(notice, fields),
        )
        _revision(
            notice, "notice_published", by=by, at=at, changes=["Published."], snapshot={},
            details={"notice": notice.pk, "lead_days": lead_time(notice.impact_level).days},
        )  # fmt: skip
    return notice


def _close(notice: AdvanceNotice, status: str, *, by, at: dt.datetime | None) -> AdvanceNotice:
    at = at or timezone.now()
    with transaction.atomic(), audit.deferred():
        notice = AdvanceNotice.objects.select_for_update().get(pk=notice.pk)
        if notice.status != AdvanceNotice.Status.PUBLISHED:
            raise NoticeRefused("invalid_state", f"Only a published notice can be {status}.")
        before = notice.status
        notice.status = status
        notice.save()
        audit.record(
            action=f"notice.{status}",
            subject=notice,
            actor=by,
            at=at,
            before={"status": before},
            after={"status": status},
        )
        record_note(
            notice.release,
            action=f"notice_{status}",
            by=by,
            at=at,
            details={"notice": notice.pk},
        )
    return notice


def notice_withdraw(*, notice: AdvanceNotice, by, at: dt.datetime | None = None):
    """The release will not happen as announced: say so publicly."""
    return _close(notice, AdvanceNotice.Status.WITHDRAWN, by=by, at=at)


def notice_done(*, notice: AdvanceNotice, by, at: dt.datetime | None = None):
    """The release happened: the notice moves to the past notices."""
    return _close(notice, AdvanceNotice.Status.DONE, by=by, at=at)


def notice_facts(release: Release, at: dt.datetime) -> dict:
    """The release's notice, as the lead-time guards see it (plugged into releases' facts)."""
    if release.pk is None:
        return {}
    notice = AdvanceNotice.objects.filter(release=release).first()
    if notice is None:
        return {"notice": NoticeFacts(None, None, dt.timedelta(0))}
    return {
        "notice": NoticeFacts(notice.status, notice.published_at, lead_time(notice.impact_level))
    }


# --- The notice follows its release (plugged into releases' event hooks) ------------------------


def on_release_event(event: ReleaseEvent) -> None:
    """Keep a published notice true to its release, in the transaction of the release's event.

    Rescheduled: the notice's date follows, as a revision customers are told of. Completed or
    rolled back: the notice is done (its page shows the outcome). Cancelled: it is withdrawn,
    and customers are told they need not act.
    """
    if event.action not in ("rescheduled", "complete", "rollback", "cancel"):
        return
    notice = (
        AdvanceNotice.objects.filter(
            release_id=event.release_id, status=AdvanceNotice.Status.PUBLISHED
        )
        .select_related("release")
        .first()
    )
    if notice is None:
        return
    if event.action == "rescheduled":
        if "scheduled_start" in event.details.get("to", {}):
            start = notice.release.scheduled_start
            notice_update(notice=notice, by=event.actor, at=event.at, tentative_start=start)
    elif event.action == "cancel":
        notice_withdraw(notice=notice, by=event.actor, at=event.at)
    else:
        notice_done(notice=notice, by=event.actor, at=event.at)
