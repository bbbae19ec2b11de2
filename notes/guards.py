"""The advance-notice guard on perceptible-impact releases (pure, like releases.guards)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from releases.guards import Refusal, ReleaseFacts
from releases.windows import WindowCalendar, when


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    status: str | None  # None: no notice at all
    published_at: dt.datetime | None
    lead: dt.timedelta


def notice_lead_time(facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar):
    """A perceptible-impact release waits until its notice has been public for its lead time."""
    if facts.impact != "perceptible":
        return []
    if facts.authorization is not None and facts.authorization.waives_notice:
        return []  # an approval that says so explicitly (it is on the timeline)
    notice: NoticeFacts | None = facts.extra.get("notice")
    if notice is None or notice.status is None:
        return [
            Refusal(
                "notice_missing",
                "A release with perceptible impact needs a published advance notice.",
            )
        ]
    if notice.status != "published" or notice.published_at is None:
        return [
            Refusal(
                "notice_not_published", f"Its advance notice is {notice.status}, not published."
            )
        ]
    ready = notice.published_at + notice.lead
    if ready > facts.scheduled_start:
        return [
            Refusal(
                "notice_lead_time",
                f"Its notice was published {when(notice.published_at)}; customers need "
                f"{notice.lead.days} days, so the release may be scheduled from {when(ready)}, "
                f"not {when(facts.scheduled_start)}.",
            )
        ]
    return []
