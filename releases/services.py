"""Writes that matter: one function per state change of a release, and the rules revision.

Every transition locks the release row, checks every guard of its action (``releases.guards``),
writes the new state and a ReleaseEvent, runs the in-transaction event hooks, and queues the
after-commit listeners — all in one transaction. A refusal raises TransitionRefused carrying
every reason; bad input raises ReleaseInvalid naming the fields. Nothing is half-written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.utils import timezone

from accounts import roles
from audit import services as audit
from lib.errors import Invalid
from releases import guards, hooks, selectors
from releases.lifecycle import TRANSITIONS
from releases.models import (
    Component,
    Release,
    ReleaseEvent,
    ReleaseItem,
    Rollback,
    RulesRevision,
)


def rules_changed(*, at: dt.datetime | None = None) -> None:
    """Give the rules a new revision token, so every process reloads its window calendar.

    Called by releases.signals on every write to components, policies and freezes (in the
    writer's transaction); call it yourself only after a QuerySet.update() of those.
    """
    RulesRevision.objects.filter(pk=1).update(token=uuid.uuid4(), changed_at=at or timezone.now())


# --- Errors -------------------------------------------------------------------------------------


class TransitionRefused(Exception):
    """A guard said no. Carries every reason (code + sentence)."""

    def __init__(self, action: str, refusals: list[guards.Refusal]):
        self.action = action
        self.refusals = refusals
        super().__init__(f"{action} refused: " + " ".join(r.detail for r in refusals))


class StaleRelease(Exception):
    """The release changed since the version the client edited (If-Match)."""


class ReleaseInvalid(Invalid):
    """A release cannot be written so."""


def release_facts(
    release: Release, *, at: dt.datetime, start_moved: bool = True
) -> guards.ReleaseFacts:
    """The plain values guards see, with what the other apps add (authorization, notice)."""
    values: dict[str, Any] = {}
    for provider in hooks.facts_providers:
        values.update(provider(release, at))
    breaking = ()
    if release.pk is not None:
        breaking = tuple(
            release.items.filter(public=True, breaking=True)
            .order_by("id")
            .values_list("title", flat=True)
        )
    return guards.ReleaseFacts(
        id=release.pk,
        component=release.component.slug,
        version=release.version,
        kind=release.kind,
        impact=release.impact,
        state=release.state,
        scheduled_start=release.scheduled_start,
        duration=release.expected_duration,
        breaking_items=breaking,
        start_moved=start_moved,
        **values,
    )


def record_event(
    release: Release,
    *,
    action: str,
    by,
    at: dt.datetime,
    from_state: str = "",
    to_state: str = "",
    details: dict | None = None,
) -> ReleaseEvent:
    """Append to the timeline, run the hooks now and queue the listeners for after commit.

    The event goes on the audit log too, once the hooks have run: what the hooks record (an
    approval invalidated, a notice revised) is appended with it, and the chain's lock is the
    last lock taken (audit.deferred).
    """
    event = ReleaseEvent.objects.create(
        release=release,
        actor=by,
        at=at,
        action=action,
        from_state=from_state,
        to_state=to_state,
        details=details or {},
    )
    with audit.deferred():
        audit.record(
            action=f"release.{action}",
            subject=event,
            actor=by,
            at=at,
            after=audit.snapshot(event),
        )
        for hook in hooks.event_hooks:
            hook(event)
    for listener in hooks.event_listeners:
        transaction.on_commit(partial(listener, event.pk))
    return event


# --- Transitions ---------------------------------------------------------------------------------


def record_note(
    release: Release, *, action: str, by, at: dt.datetime, details: dict | None = None
) -> ReleaseEvent:
    """A timeline entry that moves no state (an approval asked, a notice revised, a strand)."""
    return record_event(
        release,
        action=action,
        by=by,
        at=at,
        from_state=release.state,
        to_state=release.state,
        details=details,
    )


def _transition(
    action: str,
    *,
    release: Release,
    by,
    at: dt.datetime | None,
    details: dict | None = None,
    apply: Callable[[Release], dict | None] | None = None,
) -> Release:
    at = at or timezone.now()
    with transaction.atomic():
        # The lock makes concurrent transitions of one release take turns: the second sees
        # the first's new state, and its state guard refuses.
        locked = Release.objects.select_for_update().select_related("component").get(pk=release.pk)
        refused = guards.refusals(
            action, release_facts(locked, at=at), at, selectors.window_calendar()
        )
        if refused:
            raise TransitionRefused(action, refused)
        from_state = locked.state
        locked.state = TRANSITIONS[action].target
        more = apply(locked) if apply else None
        locked.save()
        record_event(
            locked,
            action=action,
            by=by,
            at=at,
            from_state=from_state,
            to_state=locked.state,
            details={**(details or {}), **(more or {})},
        )
    return locked


def release_announce(*, release: Release, by, at: dt.datetime | None = None) -> Release:
    """Announce the items to be released (planned → announced).

    The release becomes public when the guide says (see ``public_from``), not necessarily now.
    """
    at = at or timezone.now()

    def apply(locked: Release) -> dict:
        _set_public_from(locked, at)
        return {"items": list(locked.items.filter(planned=True).values_list("title", flat=True))}

    return _transition("announce", release=release, by=by, at=at, apply=apply)


def release_start(*, release: Release, by, at: dt.datetime | None = None) -> Release:
    """Start deploying (announced → in progress), inside its own window or approved slot."""
    at = at or timezone.now()

    def apply(locked: Release) -> None:
        locked.started_at = at
        # Whatever the schedule said, a release that is running is public from now at latest.
        locked.public_from = min(locked.public_from or at, at)

    return _transition("start", release=release, by=by, at=at, apply=apply)


# --- When customers see a release ---------------------------------------------------------------


def public_from(locked: Release, facts: guards.ReleaseFacts, at: dt.datetime):
    """The instant an announced release becomes public (pages, feeds, e-mail, webhooks).

    The guide: releases with no perceptible impact are not announced ahead of time; their items
    are posted as they occur, so from the opening of their window (ITEMS_ANNOUNCE_HOURS earlier
    if set). An exceptional release is public from its authorized slot, never before it is
    authorized. A perceptible release is public from its announcement: its notice went out
    weeks before.
    """
    early = dt.timedelta(hours=settings.ITEMS_ANNOUNCE_HOURS)
    if locked.kind == Release.Kind.EXCEPTIONAL:
        auth = facts.authorization
        return None if auth is None else auth.slot_start - early
    if locked.impact == Release.Impact.PERCEPTIBLE:
        return locked.public_from or at
    opens, _ = selectors.scheduled_window(locked)
    return opens - early


def _set_public_from(locked: Release, at: dt.datetime) -> bool:
    """Work ``public_from`` out again for an announced release (started ones keep theirs);
    True when it changed, for the caller to save."""
    if locked.state == Release.State.ANNOUNCED:
        value = public_from(locked, release_facts(locked, at=at), at)
    elif locked.state in (Release.State.PLANNED, Release.State.CANCELLED):
        value = None
    else:
        return False
    changed = value != locked.public_from
    locked.public_from = value
    return changed


def release_publicity(*, release: Release, at: dt.datetime | None = None) -> Release:
    """Work out again when customers see a release, after what decides it changed elsewhere
    (an authorization granted, voided or expired)."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = Release.objects.select_for_update().select_related("component").get(pk=release.pk)
        if _set_public_from(locked, at):
            locked.save(update_fields=["public_from", "updated_at"])
    return locked


def release_complete(
    *,
    release: Release,
    by,
    at: dt.datetime | None = None,
    shipped_item_ids: Iterable[int] | None = None,
) -> Release:
    """Record what actually shipped (in progress → released).

    ``shipped_item_ids`` lists the items that shipped; the others did not. Without it, every
    item shipped.
    """
    at = at or timezone.now()

    def apply(locked: Release) -> dict:
        items = locked.items.all()
        if shipped_item_ids is None:
            shipped = set(items.values_list("pk", flat=True))
        else:
            shipped = set(shipped_item_ids)
            unknown = shipped - set(items.values_list("pk", flat=True))
            if unknown:
                raise ReleaseInvalid({"shipped": f"Not items of this release: {sorted(unknown)}."})
        items.update(shipped=False)
        items.filter(pk__in=shipped).update(shipped=True)
        locked.completed_at = at
        slipped = list(items.filter(planned=True, shipped=False).values_list("title", flat=True))
        return {"shipped": sorted(shipped), "slipped": slipped}

    return _transition("complete", release=release, by=by, at=at, apply=apply)


def release_verify(*, release: Release, by, at: dt.datetime | None = None) -> Release:
    """Post-release testing passed (released → verified)."""
    return _transition("verify", release=release, by=by, at=at)


def release_rollback(
    *, release: Release, by, reason: str, at: dt.datetime | None = None
) -> Release:
    """Roll back at once, at any hour, to the previous live version. A reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise ReleaseInvalid({"reason": "Say why the release is rolled back."})
    at = at or timezone.now()

    def apply(locked: Release) -> dict:
        restored = previous_live_release(locked)
        Rollback.objects.create(release=locked, reason=reason, by=by, at=at, restored=restored)
        return {
            "reason": reason,
            "restored_version": restored.version if restored else None,
            "restored_release": restored.pk if restored else None,
        }

    return _transition("rollback", release=release, by=by, at=at, apply=apply)


def release_cancel(
    *, release: Release, by, reason: str = "", at: dt.datetime | None = None
) -> Release:
    """Call it off before it starts (planned or announced → cancelled)."""
    details = {"reason": reason.strip()} if reason and reason.strip() else {}
    return _transition("cancel", release=release, by=by, at=at, details=details)


def flag_missed_windows(*, at: dt.datetime | None = None) -> int:
    """Put "missed window" on the timeline of each release whose window ended before it started.

    Once per scheduled start: a rescheduled release that misses again is flagged again. The
    event reaches the owner through the event listeners (notifications). Returns how many.
    """
    at = at or timezone.now()
    waiting = (
        Release.objects.filter(
            state__in=[Release.State.PLANNED, Release.State.ANNOUNCED], scheduled_start__lt=at
        )
        .select_related("component")
        .prefetch_related(
            Prefetch(
                "events",
                ReleaseEvent.objects.filter(action="missed_window"),
                to_attr="missed",
            )
        )
    )
    flagged = 0
    for release in waiting:
        start = release.scheduled_start.isoformat()
        if any(e.details.get("scheduled_start") == start for e in release.missed):
            continue
        _, end = selectors.scheduled_window(release)
        if end > at:
            continue
        with transaction.atomic():
            locked = Release.objects.select_for_update().get(pk=release.pk)
            if locked.state != release.state or locked.scheduled_start != release.scheduled_start:
                continue  # it moved meanwhile
            record_note(
                locked,
                action="missed_window",
                by=None,
                at=at,
                details={"scheduled_start": start, "window_end": end.isoformat()},
            )
        flagged += 1
    return flagged


def release_strand(
    *, release: Release, by, at: dt.datetime, rule_change: int | str, why: str
) -> Release:
    """A rule change left this release's schedule outside every window that fits it: flag it
    for rescheduling, on the timeline (its owner hears of it through the event)."""
    return _flag_schedule(release, at, "stranded", by=by, at=at, rule_change=rule_change, why=why)


def release_fits_again(
    *, release: Release, by, at: dt.datetime, rule_change: int | str, why: str
) -> Release:
    """A rule change put a stranded release's schedule back inside a window: the flag goes, on
    the timeline."""
    return _flag_schedule(
        release, None, "fits_again", by=by, at=at, rule_change=rule_change, why=why
    )


def _flag_schedule(
    release: Release, stranded_at, action: str, *, by, at, rule_change, why
) -> Release:
    with transaction.atomic():
        locked = Release.objects.select_for_update().get(pk=release.pk)
        if stranded_at is None and locked.stranded_at is None:
            return locked  # rescheduled meanwhile: no flag to take back
        locked.stranded_at = stranded_at
        locked.save(update_fields=["stranded_at", "updated_at"])
        record_note(
            locked,
            action=action,
            by=by,
            at=at,
            details={
                "rule_change": rule_change,
                "why": why,
                "scheduled_start": locked.scheduled_start.isoformat(),
            },
        )
    return locked


def previous_live_release(release: Release) -> Release | None:
    """The component's latest live release other than ``release``: what a rollback restores."""
    return (
        Release.objects.live()
        .filter(component_id=release.component_id)
        .exclude(pk=release.pk)
        .order_by("-completed_at", "-id")
        .first()
    )


# --- Creating and editing ------------------------------------------------------------------------

EDITABLE = {
    "title",
    "notes",
    "kind",
    "impact",
    "scheduled_start",
    "expected_duration_minutes",
    "version",
    "owner",
}
SCHEDULE_FIELDS = {"scheduled_start", "expected_duration_minutes", "kind"}
# Which field a schedule refusal is about, for a 400 that names it.
_REFUSAL_FIELD = {"never_fits": "expected_duration_minutes"}


def _check_owner(owner) -> dict[str, str]:
    if owner is not None and not roles.is_release_engineer(owner):
        return {"owner": f"{owner.get_username()} is not a release engineer."}
    return {}


def schedule_errors(
    release: Release, *, at: dt.datetime, start_moved: bool = True
) -> dict[str, str]:
    """Why this (possibly unsaved) release may not be scheduled as it is, by field name."""
    errors: dict[str, str] = dict(_check_owner(release.owner if release.owner_id else None))
    facts = release_facts(release, at=at, start_moved=start_moved)
    refused = guards.refusals(guards.SCHEDULE, facts, at, selectors.window_calendar())
    for refusal in refused:
        field = _REFUSAL_FIELD.get(refusal.code, "scheduled_start")
        errors[field] = " ".join(filter(None, [errors.get(field), refusal.detail]))
    return errors


def _check_schedule(release: Release, at: dt.datetime, *, start_moved: bool = True) -> None:
    errors = schedule_errors(release, at=at, start_moved=start_moved)
    if errors:
        raise ReleaseInvalid(errors)


def impact_refusals(release: Release, *, at: dt.datetime) -> list[guards.Refusal]:
    """Why the impact of this (edited, unsaved) release may not be lowered to none."""
    if release.impact != Release.Impact.NONE:
        return []
    facts = release_facts(release, at=at)
    return guards.refusals(guards.LOWER_IMPACT, facts, at, selectors.window_calendar())


def release_create(
    *,
    by,
    component: Component,
    version: str,
    title: str,
    scheduled_start: dt.datetime,
    kind: str = Release.Kind.REGULAR,
    impact: str = Release.Impact.NONE,
    expected_duration_minutes: int = 60,
    owner=None,
    notes: str = "",
    items: Iterable[dict] = (),
    at: dt.datetime | None = None,
) -> Release:
    """Schedule a release (state planned) with its items, where the windows allow."""
    at = at or timezone.now()
    owner = owner or by
    errors = _check_owner(owner)
    if errors:
        raise ReleaseInvalid(errors)
    release = Release(
        component=component,
        version=version.strip(),
        title=title,
        kind=kind,
        impact=impact,
        scheduled_start=scheduled_start,
        expected_duration_minutes=expected_duration_minutes,
        owner=owner,
        notes=notes,
    )
    with transaction.atomic():
        _check_schedule(release, at)
        try:
            with transaction.atomic():
                release.save()
        except IntegrityError:
            raise ReleaseInvalid(
                {"version": f"{component.slug} already has a release {release.version}."}
            ) from None
        for fields in items:
            ReleaseItem.objects.create(release=release, **{"planned": True, **fields})
        record_event(
            release,
            action="scheduled",
            by=by,
            at=at,
            to_state=release.state,
            details={
                "scheduled_start": release.scheduled_start.isoformat(),
                "expected_duration_minutes": release.expected_duration_minutes,
            },
        )
    return release


def release_update(
    *,
    release: Release,
    by,
    at: dt.datetime | None = None,
    if_match: str | None = None,
    **changes,
) -> Release:
    """Edit a planned or announced release; a new schedule is checked and put on the timeline.

    With ``if_match`` (an ETag), the edit applies only to that version of the release.
    """
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ReleaseInvalid({name: "This field cannot be edited." for name in sorted(unknown)})
    at = at or timezone.now()
    with transaction.atomic():
        locked = Release.objects.select_for_update().select_related("component").get(pk=release.pk)
        if if_match is not None and if_match.strip() not in (locked.etag, "*"):
            raise StaleRelease(f"The release changed since {if_match}; it is now {locked.etag}.")
        changed = {k: v for k, v in changes.items() if getattr(locked, k) != v}
        if not changed:
            return locked
        if locked.state not in (Release.State.PLANNED, Release.State.ANNOUNCED):
            raise TransitionRefused(
                "edit",
                [
                    guards.Refusal(
                        "invalid_state",
                        f"A release that is {locked.get_state_display().lower()} cannot be edited.",
                    )
                ],
            )
        errors = _check_owner(changed.get("owner"))
        if errors:
            raise ReleaseInvalid(errors)
        before = {k: _jsonable(getattr(locked, k)) for k in changed}
        details = {"from": before, "to": {k: _jsonable(v) for k, v in changed.items()}}
        if "owner" in changed:
            # By id as well as by name: who owned a release since a request is a rule's input.
            details["owners"] = [locked.owner_id, changed["owner"].pk]
        for name, value in changed.items():
            setattr(locked, name, value)
        if "scheduled_start" in changed:
            locked.stranded_at = None  # a new schedule is checked against the rules in force
        if changed.get("impact") == Release.Impact.NONE:
            refused = impact_refusals(locked, at=at)
            if refused:
                raise TransitionRefused("lower the impact", refused)
        if SCHEDULE_FIELDS & set(changed):
            _check_schedule(locked, at, start_moved="scheduled_start" in changed)
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            raise ReleaseInvalid(
                {"version": f"{locked.component.slug} already has a release {locked.version}."}
            ) from None
        action = "rescheduled" if SCHEDULE_FIELDS & set(changed) else "edited"
        record_note(
            locked,
            action=action,
            by=by,
            at=at,
            details=details,
        )
        # After the hooks: they may have voided an authorization that made it public.
        if _set_public_from(locked, at):
            locked.save(update_fields=["public_from", "updated_at"])
    return locked


def _jsonable(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if hasattr(value, "pk"):
        return str(value)
    return value


ITEM_FIELDS = {"title", "description", "type", "breaking", "public", "planned", "shipped"}


def _item_release(release: Release) -> Release:
    locked = Release.objects.select_for_update().get(pk=release.pk)
    if locked.state in (Release.State.CANCELLED, Release.State.ROLLED_BACK):
        raise TransitionRefused(
            "edit items",
            [
                guards.Refusal(
                    "invalid_state",
                    f"The items of a {locked.get_state_display().lower()} release are final.",
                )
            ],
        )
    return locked


STARTED = (Release.State.IN_PROGRESS, Release.State.RELEASED, Release.State.VERIFIED)


def _check_shipped(locked: Release, item: ReleaseItem) -> None:
    if item.shipped and locked.state in (Release.State.PLANNED, Release.State.ANNOUNCED):
        raise ReleaseInvalid(
            {
                "shipped": "Nothing has shipped before the release starts: an item is marked "
                "shipped when its release completes."
            }
        )


def _check_breaking(locked: Release, item: ReleaseItem) -> None:
    """A breaking change never ships without a notice: once a no-impact release has started,
    no public item of it may become breaking (before that, announce and start refuse)."""
    breaking = item.breaking and item.public and locked.impact == Release.Impact.NONE
    if breaking and locked.state in STARTED:
        raise TransitionRefused(
            "edit items",
            [
                guards.Refusal(
                    "breaking_needs_notice",
                    f"“{item.title}” is breaking, and this release started with no "
                    "perceptible impact: customers were not told ahead. Ship the breaking "
                    "change in a perceptible release with an advance notice.",
                )
            ],
        )


def item_add(*, release: Release, by, at: dt.datetime | None = None, **fields) -> ReleaseItem:
    """Add an item; added after the announcement, it is not 'planned' unless said so."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = _item_release(release)
        fields.setdefault("planned", locked.state == Release.State.PLANNED)
        item = ReleaseItem(release=locked, **fields)
        _check_shipped(locked, item)
        _check_breaking(locked, item)
        item.save()
        record_event(
            locked,
            action="item_added",
            by=by,
            at=at,
            details={"item": item.pk, "title": item.title, "planned": item.planned},
        )
    return item


def item_update(*, item: ReleaseItem, by, at: dt.datetime | None = None, **changes) -> ReleaseItem:
    """Edit an item; the timeline keeps what changed."""
    unknown = set(changes) - ITEM_FIELDS
    if unknown:
        raise ReleaseInvalid({name: "This field cannot be edited." for name in sorted(unknown)})
    at = at or timezone.now()
    with transaction.atomic():
        locked = _item_release(item.release)
        item = ReleaseItem.objects.select_for_update().get(pk=item.pk)
        changed = {k: v for k, v in changes.items() if getattr(item, k) != v}
        if not changed:
            return item
        before = {k: getattr(item, k) for k in changed}
        for name, value in changed.items():
            setattr(item, name, value)
        _check_shipped(locked, item)
        _check_breaking(locked, item)
        item.save()
        record_event(
            locked,
            action="item_changed",
            by=by,
            at=at,
            details={"item": item.pk, "from": before, "to": changed},
        )
    return item


def item_remove(*, item: ReleaseItem, by, at: dt.datetime | None = None) -> None:
    """Remove an item before the release starts."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = _item_release(item.release)
        if locked.state not in (Release.State.PLANNED, Release.State.ANNOUNCED):
            raise TransitionRefused(
                "remove item",
                [guards.Refusal("invalid_state", "Items are removed only before the start.")],
            )
        record_event(
            locked,
            action="item_removed",
            by=by,
            at=at,
            details={"item": item.pk, "title": item.title},
        )
        ReleaseItem.objects.filter(pk=item.pk).delete()
