"""What each notification says: a subject, a plain-text body and the webhook's data.

Composed once when the message is queued, from what is public at that moment; each recipient's
own links (unsubscribe, acknowledge) are added when it is sent.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from rest_framework.renderers import JSONRenderer

from lib.instants import local_and_utc
from notes import selectors as notes
from notes.models import AdvanceNotice
from notes.rendering import render_plain
from notes.serializers import NoteSerializer, NoticeSerializer
from notifications.sms import fit
from releases.models import Release
from releases.windows import iso_utc


@dataclass(frozen=True)
class Content:
    """``short``: at most 280 characters with the public page's link, for SMS and social posts
    (see notifications.sms); only what may reach customers has one."""

    subject: str
    text: str
    data: dict
    short: str = ""


def url(path: str) -> str:
    return settings.SITE_URL + path


def _json(data) -> dict:
    """Rendered as the API renders it: a webhook receiver parses the shapes the API documents."""
    return json.loads(JSONRenderer().render(data))


def _public_note(release: Release) -> notes.ReleaseNote:
    """What customers may read of it (public items only): composed as it becomes public."""
    return notes.release_note(notes.with_public_parts(Release.objects.filter(pk=release.pk)).get())


def _release_data(note: notes.ReleaseNote) -> dict:
    """The release as /api/v1/notes/ gives it (public items only), with its page."""
    release = note.release
    path = reverse("release-detail", args=[release.component.slug, release.version])
    return {**_json(NoteSerializer(note).data), "url": url(path)}


def _plain(markdown: str) -> str:
    """Markdown as the words people read (for short forms)."""
    return html.unescape(render_plain(markdown))


def _item_summary(note: notes.ReleaseNote) -> str:
    """'(1 breaking): Keys rotate; Faster search' — the public items, for a short form."""
    items = [item for group in note.groups for item in group.items]
    if not items:
        return ": no customer-visible changes"
    breaking = sum(item.breaking for item in items)
    return f"{f' ({breaking} breaking)' if breaking else ''}: " + "; ".join(
        item.title for item in items
    )


def _item_lines(note: notes.ReleaseNote) -> str:
    lines = [
        f"  - {group.label}: {item.title}{' (breaking)' if item.breaking else ''}"
        for group in note.groups
        for item in group.items
    ]
    return "\n".join(lines) or "  (no customer-visible changes)"


def items_to_be_released(release: Release, opens: dt.datetime) -> Content:
    """``opens``: its window's opening, or its authorized slot's (never called a window)."""
    note = _public_note(release)
    data = {"release": _release_data(note), "opens_at": iso_utc(opens)}
    name = f"{release.component.name} {release.version}"
    if release.kind == Release.Kind.EXCEPTIONAL:
        when_text = f"as an authorized exceptional release from {local_and_utc(opens)}"
    else:
        when_text = f"in the release window opening {local_and_utc(opens)}"
    text = (
        f"{name} is to be released {when_text}.\n\n"
        f"Items to be released:\n{_item_lines(note)}\n\n"
        f"Release notes: {data['release']['url']}\n"
    )
    short = fit(
        f"To be released {local_and_utc(opens)}: {name}{_item_summary(note)}.",
        data["release"]["url"],
    )
    return Content(f"To be released: {name}", text, data, short)


def released(release: Release) -> Content:
    note = _public_note(release)
    data = {"release": _release_data(note), "completed_at": iso_utc(release.completed_at)}
    name = f"{release.component.name} {release.version}"
    text = (
        f"{name} was released {local_and_utc(release.completed_at)}.\n\n"
        f"Released:\n{_item_lines(note)}\n"
    )
    if note.slipped:
        slipped = "\n".join(f"  - {i.title}" for i in note.slipped)
        text += f"\nAnnounced but not released this time:\n{slipped}\n"
    text += f"\nRelease notes: {data['release']['url']}\n"
    short = fit(f"Released: {name}{_item_summary(note)}.", data["release"]["url"])
    return Content(f"Released: {name}", text, data, short)


def rolled_back(release: Release) -> Content:
    """Public: when, and which version is current again; the internal reason stays inside."""
    note = _public_note(release)
    rollback = release.rollback
    data = {"release": _release_data(note), "rolled_back_at": iso_utc(rollback.at)}
    name = f"{release.component.name} {release.version}"
    current = f"Version {rollback.restored.version} is current again." if rollback.restored else ""
    text = (
        f"{name} was rolled back {local_and_utc(rollback.at)}. {current}\n\n"
        f"Release notes: {data['release']['url']}\n"
    )
    short = fit(
        f"Rolled back: {name}, {local_and_utc(rollback.at)}. {current}", data["release"]["url"]
    )
    return Content(f"Rolled back: {name}", text, data, short)


def _notice_data(notice: AdvanceNotice) -> dict:
    """The notice as /api/v1/notices/ gives it, with its page."""
    return {
        **_json(NoticeSerializer(notice).data),
        "url": url(reverse("notice-detail", args=[notice.pk])),
    }


def notice(notice: AdvanceNotice, kind: str, changes: list[str] | None = None) -> Content:
    """Published, revised or withdrawn: the guide's fields, in plain text."""
    data = {"notice": _notice_data(notice)}
    link = data["notice"]["url"]
    if kind == "notice.withdrawn":
        text = (
            f"The advance notice “{notice.headline}” is withdrawn: the release will not happen "
            f"as announced. Nothing needs to be done for it.\n\n{link}\n"
        )
        short = fit(
            f"Withdrawn: {notice.headline}. The release will not happen as announced; nothing "
            "needs to be done.",
            link,
        )
        return Content(f"Withdrawn: {notice.headline}", text, data, short)
    when_text = local_and_utc(notice.tentative_start) if notice.tentative_start else "to be set"
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
    text += f"\nBenefits:\n{notice.benefits}\n\nThe notice: {link}\n"
    prefix = "Revised: " if kind == "notice.revised" else ""
    by = f" by {local_and_utc(notice.action_deadline)}" if notice.action_deadline else ""
    short = fit(
        f"{prefix}Advance notice: {notice.headline}. Tentative date: {when_text}. "
        f"Action required{by}: {notice.action_required}",
        link,
    )
    return Content(f"{prefix}Advance notice: {notice.headline}", text, data, short)


def reminder(notice: AdvanceNotice, days: int) -> Content:
    data = {"notice": _notice_data(notice), "days_before": days}
    plural = "s" if days != 1 else ""
    text = (
        f"In {days} day{plural} ({local_and_utc(notice.tentative_start)}): {notice.headline}\n\n"
        f"Action required:\n{notice.action_required}\n\n"
        f"We have not yet had your acknowledgement of this notice. "
        f"The notice: {data['notice']['url']}\n"
    )
    short = fit(
        f"In {days} day{plural}: {notice.headline}. Action required: {notice.action_required}",
        data["notice"]["url"],
    )
    return Content(f"Reminder, {days} day{plural} to go: {notice.headline}", text, data, short)


def missed_window(release: Release, window_end: dt.datetime) -> Content:
    """For the owner only (e-mail): never public."""
    link = url(reverse("admin:releases_release_change", args=[release.pk]))
    text = (
        f"{release} was scheduled for {local_and_utc(release.scheduled_start)}, but its window "
        f"ended {local_and_utc(window_end)} without it starting. It is still "
        f"{release.get_state_display().lower()}: reschedule or cancel it.\n\n{link}\n"
    )
    data = {"release": release.pk, "window_end": iso_utc(window_end)}
    return Content(f"Missed window: {release}", text, data)


def confirm(topics: list[str]) -> Content:
    text = (
        "Someone (we hope you) asked to receive Nightshift release news at this address: "
        f"{', '.join(topics)}.\n\nNothing is sent until you confirm with the link below. "
        "If it was not you, ignore this message.\n"
    )
    return Content("Confirm your subscription to release news", text, {"topics": topics})


def verify(topics: list[str], challenge: str) -> Content:
    """A webhook's verification request: its endpoint consents by echoing the challenge."""
    text = (
        f"Someone asked Nightshift to POST release news ({', '.join(topics)}) to this endpoint. "
        'Nothing else is sent until it answers 2xx with the JSON body {"challenge": <the '
        "data's challenge>}. An endpoint that did not ask answers anything else.\n"
    )
    return Content("Verify this webhook endpoint", text, {"challenge": challenge, "topics": topics})


def stranded(release: Release, why: str) -> Content:
    """For the owner only: a rule change left the release outside every window."""
    link = url(reverse("admin:releases_release_change", args=[release.pk]))
    text = (
        f"{release} was scheduled for {local_and_utc(release.scheduled_start)}. {why} "
        f"Reschedule it into a window (or make it exceptional and ask for approval).\n\n{link}\n"
    )
    return Content(f"Stranded: {release}", text, {"release": release.pk})


def rule_change(change, what: str) -> Content:
    """To senior management (a change to decide) or its proposer (the outcome): internal."""
    link = url(reverse("admin:rules_rulechange_change", args=[change.pk]))
    preview = change.preview
    impact = (
        f"Over the next 90 days: +{preview['hours_added']} h and -{preview['hours_removed']} h "
        f"of release windows; {len(preview['stranded'])} scheduled release(s) stranded; "
        f"{len(preview.get('fits_again', []))} stranded release(s) put back in a window; "
        f"{len(preview['overlapping_slots'])} approved exceptional slot(s) overlapped."
    )
    if what == "proposed":
        subject = f"Rule change to decide: {change}"
        text = (
            f"{change.proposer} proposes: {change}.\nWhy: {change.reason or '(not given)'}\n\n"
            f"{impact}\n\nApprove or reject: {link}\n"
        )
    else:
        subject = f"{change}: {change.get_status_display().lower()}"
        text = f"{change} is now {change.get_status_display().lower()}.\n\n{impact}\n\n{link}\n"
    return Content(subject, text, {"rule_change": change.pk, "status": change.status})


# --- Status ------------------------------------------------------------------------------------

STATUS_SUBJECTS = {
    "opened": "{level}: {title}",
    "updated": "{state}: {title}",
    "resolved": "Back to normal: {title}",
}


def status_update(incident, update, what: str) -> Content:
    """Public: the update as /api/v1/incidents/ gives it; the owner and flags stay inside."""
    from status.serializers import IncidentSerializer, IncidentUpdateSerializer

    incident_data = _json(IncidentSerializer(incident).data)
    incident_data.pop("updates", None)
    data = {"incident": incident_data, "update": _json(IncidentUpdateSerializer(update).data)}
    subject = STATUS_SUBJECTS[what].format(
        level=update.get_impact_display(), state=update.get_state_display(), title=incident.title
    )
    components = ", ".join(sorted(c.name for c in incident.components.all()))
    lines = [
        f"{incident.title} — {update.get_impact_display()} on {components}.",
        f"{update.get_state_display()}, {local_and_utc(update.at)}:",
        "",
        update.body,
        "",
    ]
    if update.next_update_by:
        lines.append(f"Next update by {local_and_utc(update.next_update_by)}.")
    lines.append(f"Follow it: {incident_data['url']}")
    short = fit(
        f"{subject} ({components}): {_plain(update.body)}",
        incident_data["url"],
    )
    return Content(subject, "\n".join(lines) + "\n", data, short)


def status_overdue(incident, what: str) -> Content:
    """Internal: a promised update is late (to the owner; then to senior management too)."""
    link = url(reverse("admin:status_incident_change", args=[incident.pk]))
    who = "You promised" if what == "overdue_owner" else f"{incident.owner} promised"
    text = (
        f"{who} the next update of incident #{incident.pk} “{incident.title}” by "
        f"{local_and_utc(incident.next_update_by)}. Customers are waiting for it: post an "
        f'update (even "still investigating") and promise the next one.\n\n{link}\n'
    )
    return Content(
        f"Late update: incident #{incident.pk} {incident.title}",
        text,
        {"incident": incident.pk, "next_update_by": iso_utc(incident.next_update_by)},
    )


def status_probe_opened(incident, update) -> Content:
    """Internal: a probe opened an incident on its own; a person takes it from here."""
    link = url(reverse("admin:status_incident_change", args=[incident.pk]))
    text = (
        f"A probe opened incident #{incident.pk} “{incident.title}” "
        f"{local_and_utc(incident.started_at)}:\n\n{update.body}\n\n"
        f"It is public and announced. Confirm or correct it, and post the next update: {link}\n"
    )
    return Content(f"Probe opened incident #{incident.pk}: {incident.title}", text, {})


def channel_test(channel) -> Content:
    """A channel's test post, from the desk: the same path as every message."""
    home = url("/")
    text = (
        f"This is a test from Nightshift to the channel “{channel.name}”. Release and status "
        f"news for its topics will arrive here like this.\n\n{home}\n"
    )
    short = fit(f"Test from Nightshift: the channel {channel.name} works.", home)
    return Content(f"Test of the channel {channel.name}", text, {"channel": channel.name}, short)


# --- Approvals (internal: to the people who decide or asked) -----------------------------------


def _approval_link(request) -> str:
    return url(reverse("admin:approvals_approvalrequest_change", args=[request.pk]))


def approval_needed(request) -> Content:
    """To the senior managers who may decide: a request waits for them."""
    release = request.release
    items = "\n".join(f"  - [{i.type}] {i.title}" for i in release.items.all()) or "  (none)"
    text = (
        f"{request.requester.get_full_name() or request.requester} asks to release "
        f"{release.component.name} {release.version} outside the release windows.\n\n"
        f"Urgency: {request.get_urgency_display()}\n"
        f"Slot: {local_and_utc(request.slot_start)} to {local_and_utc(request.slot_end)}\n"
        f"Why: {request.justification}\n\nItems:\n{items}\n\n"
        f"Approve or reject: {_approval_link(request)}\n"
    )
    subject = f"Approval needed ({request.get_urgency_display().lower()}): {release}"
    return Content(subject, text, {"request": request.pk, "release": release.pk})


def approval_invalidated(request) -> Content:
    """To the requester: a change to the release voided the request."""
    text = (
        f"{request.release} changed after your approval request #{request.pk}, so the request "
        f"no longer stands. Ask again for what the release is now: {_approval_link(request)}\n"
    )
    return Content(
        f"Approval request #{request.pk} invalidated",
        text,
        {"request": request.pk, "release": request.release_id},
    )
