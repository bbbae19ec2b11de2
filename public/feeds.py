"""The public site's feeds: releases and notices as Atom, releases and notice dates as iCalendar."""

from __future__ import annotations

import datetime as dt

from django.template.loader import render_to_string
from django.urls import reverse
from icalendar import Calendar, Event

from notes.rendering import render_plain
from releases.feeds import ComponentFeed, tag


class ReleasesFeed(ComponentFeed):
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
        return tag(f"release-{note.release.pk}")

    def item_guid_is_permalink(self, note):
        return False

    def item_pubdate(self, note):
        return note.release.completed_at or note.release.scheduled_start

    def item_updateddate(self, note):
        return note.release.updated_at

    def item_categories(self, note):
        return [note.release.component.slug, *(g.type for g in note.groups)]


class NoticesFeed(ComponentFeed):
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
        return tag(f"notice-{notice.pk}-r{notice.revision}")

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
