"""Guards on release transitions: plain Python over plain values (no ORM, no request).

A guard looks at a release's facts, the instant and the window calendar, and returns the reasons
it refuses (empty: no objection). A refused transition reports every reason of every guard.

Other apps add guards with ``releases.hooks.register_guard(action, guard)`` and facts with
``releases.hooks.register_facts(provider)`` from their AppConfig.ready(); releases never
imports them. Exceptional releases need an authorization: that rule lives here, and the
authorization arrives as a fact (``ReleaseFacts.authorization``) from whichever app grants it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from releases.lifecycle import TRANSITIONS
from releases.windows import Reason, WindowCalendar, between, lasting, when


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
class NoticeFacts:
    """The release's advance notice, as the lead-time guards see it (supplied by notes)."""

    status: str | None  # None: no notice at all; else draft | published | withdrawn | done
    published_at: dt.datetime | None
    lead: dt.timedelta


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
    # Titles of the public items flagged breaking: each means customers must act.
    breaking_items: tuple[str, ...] = ()
    # False when an edit leaves the scheduled start where it was (a kind or duration change).
    start_moved: bool = True
    authorization: Authorization | None = None
    notice: NoticeFacts | None = None


Guard = Callable[[ReleaseFacts, dt.datetime, WindowCalendar], list[Refusal]]

# Editing the schedule is not a transition but is guarded the same way.
SCHEDULE = "schedule"
# Lowering a release's impact to "none" (its customers would no longer be told ahead).
LOWER_IMPACT = "lower_impact"

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
    sources = TRANSITIONS[action].sources

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


def regular_starts_in_its_window(facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar):
    """A regular release starts only inside the window that holds its scheduled start.

    Another window, earlier or later, means rescheduling first, so that every scheduling guard
    (freezes, the notice's lead time, what customers were told) runs again for the new date.
    """
    if facts.kind != "regular":
        return []
    decision = calendar.decide(at, facts.component, duration=facts.duration)
    if not decision.allowed:
        code = {Reason.FROZEN: "frozen", Reason.DOES_NOT_FIT: "does_not_fit"}.get(
            decision.reason, "window_closed"
        )
        return [Refusal(code, decision.detail)]
    now_open = decision.window
    # The open window holds its scheduled start: the same window (abutting windows, such as an
    # any-hour policy's, are one window, however far each lookup sees its ends).
    if facts.scheduled_start in now_open:
        return []
    home = calendar.window_at(facts.scheduled_start, facts.component)
    if home is None:
        where = (
            f"Its scheduled start {when(facts.scheduled_start)} is no longer inside a release "
            "window (the rules changed)"
        )
    else:
        where = (
            f"It is scheduled into the window {between(home.start, home.end)}, not the "
            f"one open now ({between(now_open.start, now_open.end)})"
        )
    return [
        Refusal(
            "not_its_window",
            f"{where}. Reschedule it into this window first; every scheduling guard runs again.",
        )
    ]


def regular_not_held(facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar):
    """Nothing regular starts while a hold (an open major outage) covers its component; the
    fix goes as an authorized exceptional release, and rollbacks are never held."""
    if facts.kind != "regular":
        return []
    return [Refusal(hold.code, hold.detail) for hold in calendar.holds_at(at, facts.component)]


def breaking_needs_perceptible(facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar):
    """A breaking (public) item means customers must act: the release cannot say "no impact"."""
    if facts.impact != "none" or not facts.breaking_items:
        return []
    return [
        Refusal(
            "breaking_needs_notice",
            f"Breaking items need perceptible impact and a published advance notice: "
            f"{_titles(facts.breaking_items)}. Raise the impact to perceptible first.",
        )
    ]


def impact_covers_items(facts: ReleaseFacts, at: dt.datetime, calendar: WindowCalendar):
    """Impact may not go below what the release's items require."""
    if not facts.breaking_items:
        return []
    return [
        Refusal(
            "impact_below_items",
            f"The impact cannot be lowered to none: these items are breaking: "
            f"{_titles(facts.breaking_items)}.",
        )
    ]


def _titles(titles) -> str:
    return ", ".join(f"“{t}”" for t in titles)


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
                f"The authorization covers {between(auth.slot_start, auth.slot_end)}, "
                f"not {when(at)}.",
            )
        ]
    return []


def not_in_the_past(facts: ReleaseFacts, at: dt.datetime, calendar):
    """A new schedule is for the future (an edit that leaves the start alone is not refused)."""
    if facts.start_moved and facts.scheduled_start < at:
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
register("announce", breaking_needs_perceptible)
register("start", regular_starts_in_its_window)
register("start", regular_not_held)
register("start", exceptional_needs_authorization)
register("start", breaking_needs_perceptible)
register(LOWER_IMPACT, impact_covers_items)
