"""The advance-notice guards on perceptible-impact releases (pure, like releases.guards).

The lead time is measured against the instant that matters: the scheduled start when a release
is scheduled, rescheduled or announced, and the actual instant when it starts.
"""

from __future__ import annotations

import datetime as dt

from releases.guards import Refusal, ReleaseFacts
from releases.windows import WindowCalendar, when


def _waived(facts: ReleaseFacts) -> bool:
    # An approval that says so explicitly (it is on the timeline) waives the lead time.
    return facts.authorization is not None and facts.authorization.waives_notice


def _lead_time(facts: ReleaseFacts, moment: dt.datetime, verb: str) -> list[Refusal]:
    notice = facts.notice
    ready = notice.published_at + notice.lead
    if ready <= moment:
        return []
    return [
        Refusal(
            "notice_lead_time",
            f"Its notice was published {when(notice.published_at)}; customers need "
            f"{notice.lead.days} days, so the release may {verb} from {when(ready)}, "
            f"not {when(moment)}.",
        )
    ]


def _notice_out(facts: ReleaseFacts) -> list[Refusal]:
    notice = facts.notice
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
    return []


def notice_published_in_time(facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar):
    """Announcing a perceptible release needs its notice out, its lead time before the
    scheduled start."""
    if facts.impact != "perceptible" or _waived(facts):
        return []
    return _notice_out(facts) or _lead_time(facts, facts.scheduled_start, "be scheduled")


def schedule_keeps_lead_time(facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar):
    """A new date for a release whose notice is out still gives customers their lead time."""
    notice = facts.notice
    if facts.impact != "perceptible" or _waived(facts) or notice is None:
        return []
    if notice.status != "published" or notice.published_at is None:
        return []  # announcing will ask for the notice
    return _lead_time(facts, facts.scheduled_start, "be scheduled")


def starts_after_lead_time(facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar):
    """Starting is measured against the instant it happens, not the schedule: starting in an
    earlier window is no way round the lead time."""
    if facts.impact != "perceptible" or _waived(facts):
        return []
    return _notice_out(facts) or _lead_time(facts, at, "start")


def notice_withdrawn_before_lowering(facts: ReleaseFacts, at: dt.datetime, calendar):
    """Customers were told to act: lowering the impact needs the notice withdrawn first."""
    if facts.notice is None or facts.notice.status != "published":
        return []
    return [
        Refusal(
            "notice_published",
            "Its advance notice is published: withdraw it first (customers are told), then "
            "lower the impact.",
        )
    ]
