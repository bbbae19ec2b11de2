"""The one wrapper around feeds: Atom (Django's syndication) and iCalendar (icalendar)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.syndication.views import Feed
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from icalendar import Calendar, Event, vRecur

from notes.rendering import render_plain
from releases.models import Component, Freeze, WindowPolicy
from releases.windows import EARLIEST, LATEST, get_zone

PRODID = "-//Nightshift//Release windows//EN"
# Rows from before the supported range existed are shown within it (releases.windows).
FIRST_DAY, LAST_DAY = EARLIEST.date(), (LATEST - dt.timedelta(days=1)).date()
# VTIMEZONE spells out each DST change; cover this far ahead so a subscription stays right.
TIMEZONE_YEARS_AHEAD = 5


def _recurring_event(uid: str, summary: str, description: str, recurrence) -> Event | None:
    # RFC 5545 counts DTSTART as an instance, so it must be the rule's first real date.
    start = recurrence.first_start()
    if start is None:
        return None
    rule = vRecur.from_ical(recurrence.normalized_rule)
    if recurrence.effective_until is not None:
        # UNTIL is in UTC when DTSTART has a zone: the end of the last local day.
        last = dt.datetime.combine(
            min(recurrence.effective_until, LAST_DAY),
            dt.time(23, 59, 59),
            tzinfo=get_zone(recurrence.zone),
        )
        rule["UNTIL"] = last.astimezone(dt.UTC)
    event = Event()
    event.add("uid", uid)
    event.add("summary", summary)
    event.add("description", description)
    event.add("dtstart", start)
    event.add("duration", recurrence.duration)
    event.add("rrule", rule)
    return event


def windows_calendar(
    policies: Iterable[WindowPolicy], freezes: Iterable[Freeze], *, now: dt.datetime, host: str
) -> bytes:
    """Windows and freezes as recurring events with their VTIMEZONEs."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Nightshift release windows")
    cal.add("x-published-ttl", "PT1H")
    earliest = now.date()
    for policy in policies:
        recurrence = policy.recurrence()
        event = _recurring_event(
            f"policy-{policy.pk}@{host}",
            f"Release window: {policy.name}",
            f"Regular releases may ship. Scope: {policy.scope_label()}.",
            recurrence,
        )
        if event is not None:
            event.add("categories", ["Release window"])
            event.add("transp", "TRANSPARENT")
            _stamp(event, policy, now)
            cal.add_component(event)
            earliest = min(earliest, recurrence.effective_from)
    for freeze in freezes:
        summary = f"Freeze: {freeze.reason}"
        description = f"No regular release ships. Scope: {freeze.scope_label()}."
        if freeze.is_recurring:
            event = _recurring_event(
                f"freeze-{freeze.pk}@{host}", summary, description, freeze.recurrence()
            )
            if event is None:
                continue
            earliest = min(earliest, freeze.effective_from)
        else:
            event = Event()
            event.add("uid", f"freeze-{freeze.pk}@{host}")
            lifted = " (until lifted)" if freeze.ends_at is None else ""
            event.add("summary", summary + lifted)
            event.add("description", description)
            event.add("dtstart", max(freeze.starts_at, EARLIEST))
            if freeze.ends_at is not None:
                event.add("dtend", min(freeze.ends_at, LATEST))
        event.add("categories", ["Freeze"])
        _stamp(event, freeze, now)
        cal.add_component(event)
    cal.add_missing_timezones(
        first_date=max(earliest, FIRST_DAY),
        last_date=now.date().replace(year=now.year + TIMEZONE_YEARS_AHEAD),
    )
    return cal.to_ical()


def _stamp(event: Event, obj, now: dt.datetime) -> None:
    event.add("dtstamp", now)
    event.add("last-modified", obj.updated_at)


# --- Atom ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedQuery:
    """What one request asks a feed for (one Feed instance serves every request and thread)."""

    component: str | None
    now: dt.datetime

    def __str__(self) -> str:
        return self.component or ""


class _ComponentFeed(Feed):
    """A feed of everything, or of one component with ?component=<slug>."""

    feed_type = Atom1Feed

    def get_object(self, request):
        slug = request.GET.get("component") or None
        if slug and not Component.objects.filter(slug=slug).exists():
            raise Http404(f"Unknown component '{slug}'.")
        # The instant the validator was computed for (see notes.views._etag).
        return FeedQuery(slug, getattr(request, "now", None) or timezone.now())

    def author_name(self):
        return "Nightshift release team"


class ReleasesFeed(_ComponentFeed):
    """Public releases: the items announced, then what actually shipped (or the rollback)."""

    def title(self, query):
        return f"Nightshift releases{f' — {query}' if query.component else ''}"

    def subtitle(self, query):
        return "Items to be released, what was released, and rollbacks."

    def link(self, query):
        return reverse("release-notes") + (f"?component={query}" if query.component else "")

    def items(self, query):
        from notes import selectors

        releases = selectors.public_releases(at=query.now)
        if query.component:
            releases = releases.filter(component__slug=query.component)
        return [selectors.release_note(r) for r in releases[:50]]

    def item_title(self, note):
        release = note.release
        state = {"rolled_back": " (rolled back)"}.get(release.state, "")
        return f"{release.component.name} {release.version}: {release.title}{state}"

    def item_description(self, note):
        return render_to_string("notes/_release_note.html", {"note": note, "hl": 3, "hl2": 4})

    def item_link(self, note):
        release = note.release
        return reverse("release-detail", args=[release.component.slug, release.version])

    def item_guid(self, note):
        return f"release-{note.release.pk}"

    def item_guid_is_permalink(self, note):
        return False

    def item_pubdate(self, note):
        return note.release.completed_at or note.release.scheduled_start

    def item_updateddate(self, note):
        return note.release.updated_at

    def item_categories(self, note):
        return [note.release.component.slug, *(g.type for g in note.groups)]


class NoticesFeed(_ComponentFeed):
    """Advance notices of releases that need customers to act."""

    def title(self, query):
        return f"Nightshift advance notices{f' — {query}' if query.component else ''}"

    def link(self, query):
        return reverse("notices")

    def items(self, query):
        from notes import selectors

        notices = selectors.public_notices().order_by("-published_at")
        if query.component:
            notices = notices.filter(components__slug=query.component).distinct()
        return notices[:50]

    def item_title(self, notice):
        outcome = notice.outcome
        state = outcome.label if outcome else notice.get_status_display()
        return f"{notice.headline} ({state.lower()})"

    def item_description(self, notice):
        return render_to_string("notes/_notice_body.html", {"notice": notice, "feed": True})

    def item_link(self, notice):
        return reverse("notice-detail", args=[notice.pk])

    def item_guid(self, notice):
        return f"notice-{notice.pk}-r{notice.revision}"

    def item_guid_is_permalink(self, notice):
        return False

    def item_pubdate(self, notice):
        return notice.published_at

    def item_updateddate(self, notice):
        return notice.updated_at


# --- iCalendar of releases and notices -----------------------------------------------------------


def releases_calendar(releases, notices, *, now: dt.datetime, host: str, site: str) -> bytes:
    """Scheduled releases (start + expected duration) and notices' tentative dates."""
    cal = Calendar()
    cal.add("prodid", "-//Nightshift//Releases//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Nightshift releases")
    cal.add("x-published-ttl", "PT1H")
    for release in releases:
        event = Event()
        event.add("uid", f"release-{release.pk}@{host}")
        event.add("summary", f"{release.component.name} {release.version}: {release.title}")
        event.add("dtstart", release.scheduled_start)
        event.add("dtend", release.expected_end)
        event.add("dtstamp", now)
        event.add("status", "CANCELLED" if release.state == "rolled_back" else "CONFIRMED")
        event.add(
            "url", site + reverse("release-detail", args=[release.component.slug, release.version])
        )
        event.add("categories", ["Release"])
        cal.add_component(event)
    for notice in notices:
        if notice.tentative_start is None:
            continue
        event = Event()
        event.add("uid", f"notice-{notice.pk}@{host}")
        event.add("summary", f"Advance notice: {notice.headline}")
        event.add("dtstart", notice.tentative_start)
        event.add("dtend", notice.tentative_start + notice.release.expected_duration)
        event.add("dtstamp", now)
        event.add("description", f"Action required: {render_plain(notice.action_required)}")
        event.add("status", "TENTATIVE" if notice.certainty != "confirmed" else "CONFIRMED")
        event.add("url", site + reverse("notice-detail", args=[notice.pk]))
        event.add("categories", ["Advance notice"])
        cal.add_component(event)
    return cal.to_ical()
