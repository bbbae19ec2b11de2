"""The wrapped feed libraries: iCalendar (icalendar) for the windows and freezes, and the
base of every Atom feed (Django's syndication) — everything or one component."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.syndication.views import Feed
from django.http import Http404
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from icalendar import Calendar, Event, vRecur

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
            stamp(event, policy, now)
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
        stamp(event, freeze, now)
        cal.add_component(event)
    cal.add_missing_timezones(
        first_date=max(earliest, FIRST_DAY),
        last_date=now.date().replace(year=now.year + TIMEZONE_YEARS_AHEAD),
    )
    return cal.to_ical()


def stamp(event: Event, obj, now: dt.datetime) -> None:
    event.add("dtstamp", now)
    event.add("last-modified", obj.updated_at)


def tag(name: str) -> str:
    """An entry's id as RFC 4151 tag URI: stable, unique to this site, and an IRI, as Atom asks."""
    from urllib.parse import urlsplit

    from django.conf import settings

    return f"tag:{urlsplit(settings.SITE_URL).hostname or 'nightshift'},2026:{name}"


# --- Atom ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedQuery:
    """What one request asks a feed for (one Feed instance serves every request and thread)."""

    component: str | None
    now: dt.datetime

    def __str__(self) -> str:
        return self.component or ""


class ComponentFeed(Feed):
    """A feed of everything, or of one component with ?component=<slug>."""

    feed_type = Atom1Feed

    def get_object(self, request):
        slug = request.GET.get("component") or None
        if slug and not Component.objects.filter(slug=slug).exists():
            raise Http404(f"Unknown component '{slug}'.")
        # The instant the validator was computed for (see notes.http).
        return FeedQuery(slug, getattr(request, "now", None) or timezone.now())

    def author_name(self):
        return "Nightshift release team"
