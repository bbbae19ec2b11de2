"""Advance notices' tentative dates on the desk's calendar (registered from NotesConfig.ready)."""

from __future__ import annotations

import datetime as dt

from notes.models import AdvanceNotice
from releases.calendar import Entry


def notice_dates(start: dt.datetime, end: dt.datetime, component: str | None) -> list[Entry]:
    """The tentative date of each notice in [start, end), drafts included and labelled so
    (the team plans with them); withdrawn ones are not: their date means nothing any more.
    One query."""
    notices = (
        AdvanceNotice.objects.filter(tentative_start__gte=start, tentative_start__lt=end)
        .exclude(status=AdvanceNotice.Status.WITHDRAWN)
        .select_related("release__component")
    )
    if component is not None:
        notices = notices.filter(release__component__slug=component)
    return [
        Entry(
            "notice",
            notice.tentative_start,
            None,
            f"Notice: {notice.headline or notice.release}",
            f"{notice.get_status_display()} · {notice.get_certainty_display().lower()} date"
            f" · {notice.release}",
            state=notice.status,
            title=str(notice.release),
            ref=("notes.advancenotice", notice.pk),
        )
        for notice in notices.order_by("tentative_start", "id")
    ]
