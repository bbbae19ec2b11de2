"""A release's timeline in sentences, as people read it on the desk.

"morgan approved the slot Mon 30 Nov 2026 06:00–08:00 PST (14:00–16:00 UTC)", "rolled back:
post-release test failed; 2.14.0 is current again". Each action has a describer; other apps
add theirs for the actions they write (approvals, notes) with ``hooks.register_describer``.
An action nobody describes still reads as a sentence, never as raw JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from lib.instants import local_and_utc
from releases import hooks
from releases.models import ReleaseEvent
from releases.windows import between

Describer = Callable[[ReleaseEvent], str]


def who(event: ReleaseEvent) -> str:
    return event.actor.get_username() if event.actor_id else "Nightshift"


def describe(event: ReleaseEvent) -> str:
    """One sentence for one event, starting with who did it."""
    describer = hooks.describers.get(event.action)
    if describer is not None:
        return describer(event)
    return f"{who(event)}: {event.action.replace('_', ' ')}."


def instant(text: str | None) -> str:
    """An ISO instant from an event's details, as people read it."""
    if not text:
        return "—"
    return local_and_utc(dt.datetime.fromisoformat(text))


def span(values) -> str:
    """A [start, end] pair of ISO instants from an event's details, as one range."""
    start, end = (dt.datetime.fromisoformat(v) for v in values)
    return between(start, end)


def _changed(event: ReleaseEvent) -> str:
    before, after = event.details.get("from", {}), event.details.get("to", {})
    parts = []
    for name, value in after.items():
        label = name.replace("_", " ")
        old = before.get(name)
        if name == "scheduled_start":
            parts.append(f"moved the start from {instant(old)} to {instant(value)}")
        else:
            parts.append(f"changed the {label} from {old} to {value}")
    return "; ".join(parts) or "edited it"


_OWN: dict[str, Describer] = {
    "scheduled": lambda e: (
        f"{who(e)} scheduled it for {instant(e.details.get('scheduled_start'))}, "
        f"{e.details.get('expected_duration_minutes', '?')} minutes."
    ),
    "announce": lambda e: (
        f"{who(e)} announced the items to be released: "
        f"{', '.join(e.details.get('items', [])) or 'none listed'}."
    ),
    "start": lambda e: f"{who(e)} started it.",
    "complete": lambda e: (
        f"{who(e)} completed it: {len(e.details.get('shipped', []))} item(s) shipped"
        + (f"; slipped: {', '.join(e.details['slipped'])}" if e.details.get("slipped") else "")
        + "."
    ),
    "verify": lambda e: f"{who(e)} verified it: post-release testing passed.",
    "rollback": lambda e: (
        f"{who(e)} rolled it back: {e.details.get('reason', '')}; "
        + (
            f"{e.details['restored_version']} is current again."
            if e.details.get("restored_version")
            else "nothing earlier to restore."
        )
    ),
    "cancel": lambda e: (
        f"{who(e)} cancelled it"
        + (f": {e.details['reason']}" if e.details.get("reason") else "")
        + "."
    ),
    "edited": lambda e: f"{who(e)} {_changed(e)}.",
    "rescheduled": lambda e: f"{who(e)} {_changed(e)}.",
    "item_added": lambda e: (
        f"{who(e)} added the item “{e.details.get('title')}”"
        + ("" if e.details.get("planned", True) else " (not announced before)")
        + "."
    ),
    "item_changed": lambda e: (
        f"{who(e)} changed item #{e.details.get('item')}: "
        + ", ".join(
            f"{k} {e.details['from'].get(k)} → {v}" for k, v in e.details.get("to", {}).items()
        )
        + "."
    ),
    "item_removed": lambda e: f"{who(e)} removed the item “{e.details.get('title')}”.",
    "missed_window": lambda e: (
        f"Its window ended {instant(e.details.get('window_end'))} before it started."
    ),
    # The actor put the change in force (proposed a tightening, or gave the deciding approval).
    "stranded": lambda e: (
        f"{who(e)} put rule change #{e.details.get('rule_change')} in force, which left it "
        "outside every window: reschedule it."
    ),
    "fits_again": lambda e: (
        f"{who(e)} put rule change #{e.details.get('rule_change')} in force, which put it back "
        "inside a window: it fits again and needs no rescheduling."
    ),
}
for _action, _describer in _OWN.items():
    hooks.register_describer(_action, _describer)
