"""What a rule change would do, worked out by the window engine before anyone decides.

For the next 90 days: the window-hours each component gains or loses, the scheduled releases it
would strand (inside a window that fits them today, not after), those stranded earlier that it
would put back inside one (``fits_again``), and the approved exceptional slots a freeze would
newly overlap. The approver sees it; the API returns it.
"""

from __future__ import annotations

import datetime as dt

from approvals.models import ApprovalRequest
from releases import selectors
from releases.models import Component, Release
from releases.windows import WindowCalendar, iso_utc
from rules import rulebook

HORIZON = dt.timedelta(days=90)


def calendar_with(calendar: WindowCalendar, change) -> WindowCalendar:
    """``calendar`` as it would be with the change applied (nothing is saved)."""
    policies, freezes = list(calendar.policies), list(calendar.freezes)
    rules = policies if change.target == "policy" else freezes
    rules[:] = [r for r in rules if r.id != change.target_id]
    if change.operation != "delete":
        rules.append(
            rulebook.engine_rule(change.target, change.payload, id=change.target_id or "proposed")
        )
    return WindowCalendar(policies, freezes)


def _hours(calendar: WindowCalendar, slug: str, start: dt.datetime, end: dt.datetime) -> float:
    seconds = sum(
        (min(w.end, end) - max(w.start, start)).total_seconds()
        for w in calendar.windows(start, end, slug)
    )
    return round(seconds / 3600, 2)


def _frozen(calendar: WindowCalendar, slug: str, start: dt.datetime, end: dt.datetime) -> bool:
    return any(f.applies_to(slug) and f.occurrences(start, end) for f in calendar.freezes)


def compute(change, *, now: dt.datetime) -> dict:
    """The preview of ``change`` (a RuleChange, saved or not) as of ``now``, JSON-safe."""
    before = selectors.window_calendar()
    after = calendar_with(before, change)
    until = now + HORIZON
    hours = {}
    for slug in Component.objects.order_by("slug").values_list("slug", flat=True):
        was, will = _hours(before, slug, now, until), _hours(after, slug, now, until)
        if was != will:
            hours[slug] = {"before": was, "after": will}
    stranded, fits_again = [], []
    waiting = Release.objects.filter(
        state__in=[Release.State.PLANNED, Release.State.ANNOUNCED],
        kind=Release.Kind.REGULAR,
        scheduled_start__gte=now,
    ).select_related("component", "owner")
    for release in waiting.order_by("scheduled_start", "id"):
        slug, start, length = (
            release.component.slug,
            release.scheduled_start,
            release.expected_duration,
        )
        fits_now = before.decide(start, slug, duration=length).allowed
        fits_after = after.decide(start, slug, duration=length).allowed
        if fits_now == fits_after:
            continue
        row = {
            "release": release.pk,
            "component": slug,
            "version": release.version,
            "scheduled_start": iso_utc(start),
            "owner": release.owner.get_username(),
        }
        if fits_now:  # left outside by this change
            stranded.append(row)
        elif release.stranded_at is not None:  # flagged by an earlier one, back inside by this
            fits_again.append(row)
    overlapping = []
    approved = ApprovalRequest.objects.filter(
        status=ApprovalRequest.Status.APPROVED, slot_end__gt=now
    ).select_related("release__component")
    for request in approved.order_by("slot_start", "id"):
        slug = request.release.component.slug
        span = (request.slot_start, request.slot_end)
        if _frozen(after, slug, *span) and not _frozen(before, slug, *span):
            overlapping.append(
                {
                    "request": request.pk,
                    "release": request.release_id,
                    "component": slug,
                    "version": request.release.version,
                    "slot_start": iso_utc(request.slot_start),
                    "slot_end": iso_utc(request.slot_end),
                }
            )
    return {
        "from": iso_utc(now),
        "until": iso_utc(until),
        "window_hours": hours,
        "hours_added": round(sum(max(0, h["after"] - h["before"]) for h in hours.values()), 2),
        "hours_removed": round(sum(max(0, h["before"] - h["after"]) for h in hours.values()), 2),
        "stranded": stranded,
        "fits_again": fits_again,
        "overlapping_slots": overlapping,
    }
