"""What customers may read: public releases and items, aggregated; public notices.

Public means: a release that has been announced (or gone further, rolled back included) and
whose ``public_from`` has come (``Release.objects.public``), its public items only. Cancelled
and planned releases and internal items never appear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from lib import freshness
from notes.models import AdvanceNotice
from releases import calendar
from releases import selectors as release_selectors
from releases.models import Component, Release, ReleaseEvent, ReleaseItem, RulesRevision
from releases.windows import get_zone, plus

SHIPPED_STATES = {Release.State.RELEASED, Release.State.VERIFIED, Release.State.ROLLED_BACK}
TYPE_ORDER = [t.value for t in ReleaseItem.Type]  # Keep a Changelog's order
# releases.ics lists releases that started at most this long ago.
ICS_HISTORY = dt.timedelta(days=90)


def with_public_parts(releases: QuerySet[Release]) -> QuerySet[Release]:
    """Releases with what customers may read of them (``public_items``), in constant queries."""
    return (
        releases.select_related("component")
        .prefetch_related(
            Prefetch(
                "items",
                ReleaseItem.objects.filter(public=True).order_by("id"),
                to_attr="public_items",
            ),
            Prefetch("rollback__restored"),
            Prefetch("advance_notice", AdvanceNotice.objects.public()),
        )
        .order_by("-scheduled_start", "-id")
    )


def public_releases(*, at: dt.datetime) -> QuerySet[Release]:
    """The releases customers may see at ``at``, with their public items."""
    return with_public_parts(Release.objects.public(at=at))


def public_release(component: str, version: str, *, at: dt.datetime) -> Release | None:
    return public_releases(at=at).filter(component__slug=component, version=version).first()


@dataclass
class TypeGroup:
    type: str
    label: str
    items: list[ReleaseItem]


@dataclass
class ReleaseNote:
    """One release as customers read it: before its window, what is announced; after, what
    shipped and what slipped."""

    release: Release
    shipped: bool
    groups: list[TypeGroup]
    slipped: list[ReleaseItem] = field(default_factory=list)
    breaking: bool = False


@dataclass
class DaySection:
    day: dt.date
    notes: list[ReleaseNote]


def _groups(items: list[ReleaseItem]) -> list[TypeGroup]:
    labels = dict(ReleaseItem.Type.choices)
    by_type: dict[str, list[ReleaseItem]] = {}
    for item in items:
        by_type.setdefault(item.type, []).append(item)
    return [TypeGroup(t, labels[t], by_type[t]) for t in TYPE_ORDER if t in by_type]


def release_note(release: Release, *, item_type: str | None = None) -> ReleaseNote:
    items = release.public_items
    if item_type:
        items = [i for i in items if i.type == item_type]
    shipped = release.state in SHIPPED_STATES
    if shipped:
        shown = [i for i in items if i.shipped]
        slipped = [i for i in items if i.planned and not i.shipped]
    else:
        shown, slipped = [i for i in items if i.planned], []
    return ReleaseNote(
        release, shipped, _groups(shown), slipped, breaking=any(i.breaking for i in shown)
    )


def filtered(
    *,
    at: dt.datetime,
    component: str | None = None,
    item_type: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> QuerySet[Release]:
    """Public releases, by component, item type and Pacific date range (inclusive)."""
    releases = public_releases(at=at)
    zone = get_zone(settings.DISPLAY_TIME_ZONE)
    if component:
        releases = releases.filter(component__slug=component)
    if item_type:
        releases = releases.filter(items__type=item_type, items__public=True).distinct()
    if start:
        releases = releases.filter(
            scheduled_start__gte=dt.datetime.combine(start, dt.time(), tzinfo=zone)
        )
    if end:
        releases = releases.filter(
            scheduled_start__lt=dt.datetime.combine(
                end + dt.timedelta(days=1), dt.time(), tzinfo=zone
            )
        )
    return releases


def by_day(releases, *, item_type: str | None = None) -> list[DaySection]:
    """Group releases into one section per (Pacific) window date, newest first."""
    zone = get_zone(settings.DISPLAY_TIME_ZONE)
    sections: list[DaySection] = []
    for release in releases:
        day = release.scheduled_start.astimezone(zone).date()
        if not sections or sections[-1].day != day:
            sections.append(DaySection(day, []))
        sections[-1].notes.append(release_note(release, item_type=item_type))
    return sections


def public_notices() -> QuerySet[AdvanceNotice]:
    return (
        AdvanceNotice.objects.public()
        .select_related("release__component", "release__rollback")
        .prefetch_related("components", "revisions")
    )


def public_version(now: dt.datetime, *, windows: bool = False) -> str:
    """Changes whenever anything public may have: the validator of pages, feeds and the API.

    Writes: every public change to a release writes a ReleaseEvent, and events are append-only,
    so the newest event id (an index lookup, however long the history) stands for all of them;
    notices are few and carry updated_at. The clock: what a page shows also changes when a
    release's ``public_from`` or a notice's date passes (and, for pages that say whether a
    window is open, at each window's opening and closing), so the latest such instant already
    passed is part of it (a release's start too: the home page lists it as upcoming until
    then, and releases.ics until ICS_HISTORY after).

    It runs on every revalidation, so it is remembered (lib.freshness) until anything is
    committed or the clock reaches the next such instant: one query when either happens, none
    otherwise (on SQLite).
    """
    version, _, _ = freshness.remembered(
        ("public_version", windows),
        lambda: _public_version(now, windows=windows),
        still=lambda kept: kept[1] <= now < kept[2],
    )
    return version


def _public_version(now: dt.datetime, *, windows: bool) -> tuple[str, dt.datetime, dt.datetime]:
    """The version at ``now``, and the span [now, until) in which the clock does not change it."""
    events, notices = ReleaseEvent._meta.db_table, AdvanceNotice._meta.db_table
    releases = Release._meta.db_table
    published = AdvanceNotice.Status.PUBLISHED.value
    instant = connection.ops.adapt_datetimefield_value(now)
    horizon = connection.ops.adapt_datetimefield_value(now - ICS_HISTORY)
    # Pages change with the rules too: windows (a freeze declared for next month moves no
    # window edge that has passed yet), and components (every page names them; a component's
    # every write moves the token). The rules' revision token says when.
    revision = RulesRevision._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM {events}), (SELECT MAX(updated_at) FROM {notices}), "  # noqa: S608 - model names
            f"(SELECT COUNT(*) FROM {notices}), "
            f"(SELECT MAX(public_from) FROM {releases} WHERE public_from <= %s), "
            # A public release moves from "upcoming" to "latest" as its start passes.
            f"(SELECT MAX(scheduled_start) FROM {releases} WHERE scheduled_start <= %s), "
            # releases.ics drops a release ICS_HISTORY after its start.
            f"(SELECT MAX(scheduled_start) FROM {releases} WHERE scheduled_start < %s), "
            f"(SELECT MAX(tentative_start) FROM {notices} "
            f"WHERE status = %s AND tentative_start <= %s), "
            f"(SELECT token FROM {revision} WHERE id = 1), "
            # The next instants at which each of the clock's parts above changes.
            f"(SELECT MIN(public_from) FROM {releases} WHERE public_from > %s), "
            f"(SELECT MIN(scheduled_start) FROM {releases} WHERE scheduled_start > %s), "
            f"(SELECT MIN(scheduled_start) FROM {releases} WHERE scheduled_start >= %s), "
            f"(SELECT MIN(tentative_start) FROM {notices} "
            f"WHERE status = %s AND tentative_start > %s)",
            [instant, instant, horizon, published, instant] * 2,
        )
        row = cursor.fetchone()
    parts = [str(value) for value in row[:8]]
    next_public, next_start, next_leaving, next_notice = (_instant(v) for v in row[8:])
    until = [now + ICS_HISTORY, next_public, next_start, next_notice]
    if next_leaving is not None:  # it leaves once now - ICS_HISTORY has passed its start
        # Saturating: a row stored before the supported range existed may lie in 9999.
        until.append(plus(next_leaving, ICS_HISTORY + dt.timedelta(microseconds=1)))
    if windows:
        last, upcoming = release_selectors.window_changes(now)
        parts.append(str(last))
        until.append(upcoming)
    version = hashlib.sha256(":".join(parts).encode()).hexdigest()[:24]
    return version, now, min(u for u in until if u is not None)


def _instant(value) -> dt.datetime | None:
    """A raw SQL datetime as an aware UTC instant (SQLite gives text, PostgreSQL datetimes)."""
    if isinstance(value, str):
        try:
            value = parse_datetime(value)
        except ValueError:  # a stored row no calendar has (it only shortens the memo)
            return None
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def public_calendar_entries(
    start: dt.datetime, end: dt.datetime, *, at: dt.datetime, component: str | None = None
) -> list[calendar.Entry]:
    """What the public calendar shows of [start, end) at ``at``: windows and freezes (as
    windows.ics publishes them), the releases customers may see at ``at`` and the tentative
    dates of published notices, each linking to its public page. Never a planned or cancelled
    release, a draft notice, an approval slot or anything internal (owner, duration, items).

    Four queries, whatever the period: the rules' revision, components, releases, notices.
    """
    rules = release_selectors.window_calendar()
    if component is None:
        slugs = list(Component.objects.values_list("slug", flat=True))
    else:
        slugs = [component]
    releases = (
        public_releases(at=at)
        .prefetch_related(None)  # its items and notice: not shown here
        .filter(scheduled_start__gte=start, scheduled_start__lt=end)
        .order_by("scheduled_start", "id")
    )
    notices = (
        public_notices()
        .prefetch_related(None)
        .filter(
            status=AdvanceNotice.Status.PUBLISHED,
            tentative_start__gte=start,
            tentative_start__lt=end,
        )
        .order_by("tentative_start", "id")
    )
    if component is not None:
        releases = releases.filter(component__slug=component)
        notices = notices.filter(release__component__slug=component)
    entries = [
        *calendar.window_entries(rules, start, end, slugs),
        *calendar.freeze_entries(rules, start, end, component),
    ]
    for release in releases:
        entries.append(
            calendar.Entry(
                "release",
                release.scheduled_start,
                None,
                f"{release.component.name} {release.version}",
                release.get_state_display()
                + (" · exceptional" if release.kind == Release.Kind.EXCEPTIONAL else ""),
                state=release.state,
                title=release.title,
                url=reverse("release-detail", args=[release.component.slug, release.version]),
            )
        )
    for notice in notices:
        entries.append(
            calendar.Entry(
                "notice",
                notice.tentative_start,
                None,
                f"Notice: {notice.headline}",
                f"{notice.get_certainty_display()} date · "
                f"{notice.get_impact_level_display().lower()} impact",
                state=notice.status,
                url=reverse("notice-detail", args=[notice.pk]),
            )
        )
    return entries
