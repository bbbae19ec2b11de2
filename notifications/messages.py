"""What each notification says: a subject, a plain-text body and the webhook's data.

Composed once when the message is queued, from what is public at that moment; each recipient's
own links (unsubscribe, acknowledge) are added when it is sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from notes import selectors as notes
from notes.models import AdvanceNotice
from releases.models import Release
from releases.templatetags.instants import local_and_utc


@dataclass(frozen=True)
class Content:
    subject: str
    text: str
    data: dict


def url(path: str) -> str:
    return settings.SITE_URL + path


def _iso(instant: dt.datetime | None) -> str | None:
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if instant else None


def _release_data(release: Release) -> dict:
    return {
        "id": release.pk,
        "component": release.component.slug,
        "version": release.version,
        "title": release.title,
        "kind": release.kind,
        "impact": release.impact,
        "state": release.state,
        "scheduled_start": _iso(release.scheduled_start),
        "url": url(reverse("release-detail", args=[release.component.slug, release.version])),
    }


def _public_note(release: Release) -> notes.ReleaseNote:
    return notes.release_note(notes.public_releases().get(pk=release.pk))


def _item_lines(note: notes.ReleaseNote) -> tuple[str, list[dict]]:
    lines, data = [], []
    for group in note.groups:
        for item in group.items:
            flag = " (breaking)" if item.breaking else ""
            lines.append(f"  - {group.label}: {item.title}{flag}")
            data.append({"type": item.type, "title": item.title, "breaking": item.breaking})
    return "\n".join(lines) or "  (no customer-visible changes)", data


def items_to_be_released(release: Release, window_start: dt.datetime) -> Content:
    note = _public_note(release)
    lines, items = _item_lines(note)
    name = f"{release.component.name} {release.version}"
    text = (
        f"{name} is to be released in the window opening {local_and_utc(window_start)}.\n\n"
        f"Items to be released:\n{lines}\n\n"
        f"Release notes: {_release_data(release)['url']}\n"
    )
    data = {"release": _release_data(release), "window_start": _iso(window_start), "items": items}
    return Content(f"To be released: {name}", text, data)


def released(release: Release) -> Content:
    note = _public_note(release)
    lines, items = _item_lines(note)
    slipped = "\n".join(f"  - {i.title}" for i in note.slipped)
    name = f"{release.component.name} {release.version}"
    text = f"{name} was released {local_and_utc(release.completed_at)}.\n\nReleased:\n{lines}\n"
    if slipped:
        text += f"\nAnnounced but not released this time:\n{slipped}\n"
    text += f"\nRelease notes: {_release_data(release)['url']}\n"
    data = {
        "release": _release_data(release),
        "completed_at": _iso(release.completed_at),
        "items": items,
        "slipped": [i.title for i in note.slipped],
    }
    return Content(f"Released: {name}", text, data)


def rolled_back(release: Release) -> Content:
    rollback = release.rollback
    restored = rollback.restored
    name = f"{release.component.name} {release.version}"
    current = f"Version {restored.version} is current again." if restored else ""
    text = (
        f"{name} was rolled back {local_and_utc(rollback.at)}. {current}\n\n"
        f"Release notes: {_release_data(release)['url']}\n"
    )
    data = {
        "release": _release_data(release),
        "rolled_back_at": _iso(rollback.at),
        "current_version": restored.version if restored else None,
    }
    return Content(f"Rolled back: {name}", text, data)


def _notice_data(notice: AdvanceNotice) -> dict:
    return {
        "id": notice.pk,
        "status": notice.status,
        "revision": notice.revision,
        "headline": notice.headline,
        "tentative_start": _iso(notice.tentative_start),
        "certainty": notice.certainty,
        "impact_level": notice.impact_level,
        "action_deadline": _iso(notice.action_deadline),
        "release": _release_data(notice.release),
        "url": url(reverse("notice-detail", args=[notice.pk])),
    }


def notice(notice: AdvanceNotice, kind: str, changes: list[str] | None = None) -> Content:
    """Published, revised or withdrawn: the guide's fields, in plain text."""
    verb = {"notice.published": "", "notice.revised": "Revised: ", "notice.withdrawn": ""}[kind]
    when_text = local_and_utc(notice.tentative_start) if notice.tentative_start else "to be set"
    data = _notice_data(notice)
    if kind == "notice.withdrawn":
        text = (
            f"The advance notice “{notice.headline}” is withdrawn: the release will not happen "
            f"as announced. Nothing needs to be done for it.\n\n{data['url']}\n"
        )
        return Content(f"Withdrawn: {notice.headline}", text, data)
    text = ""
    if changes:
        text += "What changed:\n" + "\n".join(f"  - {c}" for c in changes) + "\n\n"
        data["changes"] = changes
    text += (
        f"{notice.headline}\n\n"
        f"Tentative date: {when_text} ({notice.get_certainty_display().lower()})\n"
        f"Impact: {notice.get_impact_level_display()}\n\n"
        f"{notice.description}\n\n"
        f"Nature of the release:\n{notice.nature}\n\n"
        f"Action required:\n{notice.action_required}\n"
    )
    if notice.action_deadline:
        text += f"By: {local_and_utc(notice.action_deadline)}\n"
    text += f"\nBenefits:\n{notice.benefits}\n\nThe notice: {data['url']}\n"
    return Content(f"{verb}Advance notice: {notice.headline}", text, data)


def reminder(notice: AdvanceNotice, days: int) -> Content:
    when_text = local_and_utc(notice.tentative_start)
    data = {**_notice_data(notice), "days_before": days}
    text = (
        f"In {days} day{'s' if days != 1 else ''} ({when_text}): {notice.headline}\n\n"
        f"Action required:\n{notice.action_required}\n\n"
        f"We have not yet had your acknowledgement of this notice. The notice: {data['url']}\n"
    )
    return Content(
        f"Reminder, {days} day{'s' if days != 1 else ''} to go: {notice.headline}", text, data
    )


def missed_window(release: Release, window_end: dt.datetime) -> Content:
    link = url(reverse("admin:releases_release_change", args=[release.pk]))
    text = (
        f"{release} was scheduled for {local_and_utc(release.scheduled_start)}, but its window "
        f"ended {local_and_utc(window_end)} without it starting. It is still "
        f"{release.get_state_display().lower()}: reschedule or cancel it.\n\n{link}\n"
    )
    return Content(
        f"Missed window: {release}",
        text,
        {"release": _release_data(release), "window_end": _iso(window_end)},
    )


def confirm(topics: list[str]) -> Content:
    text = (
        "Someone (we hope you) asked to receive Nightshift release news at this address: "
        f"{', '.join(topics)}.\n\nNothing is sent until you confirm with the link below. "
        "If it was not you, ignore this message.\n"
    )
    return Content("Confirm your subscription to release news", text, {"topics": topics})
