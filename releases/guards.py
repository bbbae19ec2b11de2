"""Guards on release transitions: plain Python over plain values (no ORM, no request).

A guard looks at a release's facts, the instant and the window calendar, and returns the reasons
it refuses (empty: no objection). A refused transition reports every reason of every guard.

Other apps add guards with ``register(action, guard)`` and facts with
``releases.services.register_facts(provider)`` from their AppConfig.ready(); releases never
imports them. Exceptional releases need an authorization: that rule lives here, and the
authorization arrives as a fact (``ReleaseFacts.authorization``) from whichever app grants it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from releases.windows import Reason, WindowCalendar, lasting, when


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a transition may not happen: a stable code and a sentence."""

    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Authorization:
    """Permission for an exceptional release to start inside [slot_start, slot_end)."""

    id: int | str
    slot_start: dt.datetime
    slot_end: dt.datetime
    waives_notice: bool = False


@dataclass(frozen=True, slots=True)
class ReleaseFacts:
    """What guards may know about a release."""

    id: int | None
    component: str
    version: str
    kind: str  # "regular" | "exceptional"
    impact: str  # "none" | "perceptible"
    state: str
    scheduled_start: dt.datetime
    duration: dt.timedelta
    authorization: Authorization | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


Guard = Callable[[ReleaseFacts, dt.datetime, WindowCalendar], list[Refusal]]

# Allowed moves: action -> (states it may start from, state it leads to).
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "announce": (frozenset({"planned"}), "announced"),
    "start": (frozenset({"announced"}), "in_progress"),
    "complete": (frozenset({"in_progress"}), "released"),
    "verify": (frozenset({"released"}), "verified"),
    "rollback": (frozenset({"in_progress", "released", "verified"}), "rolled_back"),
    "cancel": (frozenset({"planned", "announced"}), "cancelled"),
}
# Editing the schedule is not a transition but is guarded the same way.
SCHEDULE = "schedule"

_registry: dict[str, list[Guard]] = defaultdict(list)


def register(action: str, guard: Guard) -> Guard:
    """Add a guard to an action (a transition name, or SCHEDULE); idempotent."""
    if guard not in _registry[action]:
        _registry[action].append(guard)
    return guard


def refusals(action: str, facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar):
    """Every reason, from every guard of ``action``, to refuse it; empty means allowed."""
    found: list[Refusal] = []
    for guard in _registry[action]:
        found.extend(guard(facts, at, calendar))
    return found


# --- The guards of the releases app itself ---------------------------------------------------


def _state_allows(action: str) -> Guard:
    sources, _ = TRANSITIONS[action]

    def guard(facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar) -> list[Refusal]:
        if facts.state in sources:
            return []
        allowed = ", ".join(sorted(sources))
        return [
            Refusal(
                "invalid_state",
                f"Cannot {action} a release that is {facts.state.replace('_', ' ')}; "
                f"only from: {allowed}.",
            )
        ]

    guard.__name__ = f"state_allows_{action}"
    return guard


def regular_slot_in_window(facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar):
    """A regular release is scheduled inside an open window, finishing before it closes."""
    if facts.kind != "regular":
        return []
    decision = calendar.decide(facts.scheduled_start, facts.component, duration=facts.duration)
    if decision.allowed:
        return []
    upcoming = calendar.next_window(at, facts.component, min_length=facts.duration)
    found: list[Refusal] = []
    if upcoming is None:
        found.append(
            Refusal(
                "never_fits",
                f"No release window in the next five years lasts {lasting(facts.duration)}.",
            )
        )
        hint = ""
    else:
        hint = (
            f" The next window where {lasting(facts.duration)} fits opens at "
            f"{when(upcoming.start)}."
        )
    codes = {
        Reason.OUTSIDE_WINDOW: "outside_window",
        Reason.FROZEN: "frozen",
        Reason.DOES_NOT_FIT: "does_not_fit",
        Reason.NO_POLICY: "no_window_policy",
    }
    text = {
        Reason.OUTSIDE_WINDOW: f"The scheduled start {when(facts.scheduled_start)} is outside "
        "every release window.",
        Reason.FROZEN: f"The scheduled start {when(facts.scheduled_start)} is in a freeze.",
        Reason.DOES_NOT_FIT: decision.detail,
        Reason.NO_POLICY: decision.detail,
    }
    return [Refusal(codes[decision.reason], text[decision.reason] + hint), *found]


def regular_starts_while_window_open(facts: ReleaseFacts, at: dt.datetime, calendar):
    """A regular release starts only while its window is open, and must fit before it closes."""
    if facts.kind != "regular":
        return []
    decision = calendar.decide(at, facts.component, duration=facts.duration)
    if decision.allowed:
        return []
    code = {Reason.FROZEN: "frozen", Reason.DOES_NOT_FIT: "does_not_fit"}.get(
        decision.reason, "window_closed"
    )
    return [Refusal(code, decision.detail)]


def exceptional_needs_authorization(facts: ReleaseFacts, at: dt.datetime, calendar):
    """No authorization, no start: an exceptional release starts only inside an approved slot."""
    if facts.kind != "exceptional":
        return []
    auth = facts.authorization
    if auth is None:
        return [
            Refusal(
                "not_authorized",
                "An exceptional release starts only after senior management authorizes it.",
            )
        ]
    if not auth.slot_start <= at < auth.slot_end:
        return [
            Refusal(
                "outside_authorized_slot",
                f"The authorization covers {when(auth.slot_start)} – {when(auth.slot_end)}, "
                f"not {when(at)}.",
            )
        ]
    return []


def not_in_the_past(facts: ReleaseFacts, at: dt.datetime, calendar):
    """A schedule is for the future."""
    if facts.scheduled_start < at:
        return [
            Refusal(
                "start_in_past",
                f"The scheduled start {when(facts.scheduled_start)} is in the past.",
            )
        ]
    return []


for _action in TRANSITIONS:
    register(_action, _state_allows(_action))
register(SCHEDULE, not_in_the_past)
register(SCHEDULE, regular_slot_in_window)
register("announce", regular_slot_in_window)
register("start", regular_starts_while_window_open)
register("start", exceptional_needs_authorization)
