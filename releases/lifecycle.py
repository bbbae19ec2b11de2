"""The release lifecycle in one table: every transition, the states it may start from, the
state it leads to, and how people ask for it.

Plain data, imported by everything that needs it: the guards (a transition from any other
state is refused), the services (the new state; ``releases.services.release_<name>`` does
it), the API (``POST /api/v1/releases/{id}/<name>/``), the desk (its buttons, and which ask
first on a page that says what will happen) and docs/architecture.md (a test keeps its table
in step). Adding a transition is a row here, its service, and its API action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str
    label: str  # the desk's button
    summary: str  # what it does, for the API's documentation and the architecture page
    confirm: bool = False  # irreversible: the desk asks first, on a page saying what happens
    reason: str = "none"  # "none" | "optional" | "required"
    reason_help: str = ""

    @property
    def service(self) -> Callable:
        """``releases.services.release_<name>`` (imported late: services imports this)."""
        from releases import services

        return getattr(services, f"release_{self.name}")


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition(
            "announce",
            frozenset({"planned"}),
            "announced",
            "Announce",
            "Announce the items to be released.",
        ),
        Transition(
            "start", frozenset({"announced"}), "in_progress", "Start", "Start deploying it."
        ),
        Transition(
            "complete",
            frozenset({"in_progress"}),
            "released",
            "Complete",
            "Record what actually shipped.",
        ),
        Transition(
            "verify",
            frozenset({"released"}),
            "verified",
            "Verify",
            "Post-release testing passed.",
        ),
        Transition(
            "rollback",
            frozenset({"in_progress", "released", "verified"}),
            "rolled_back",
            "Roll back",
            "Take it back out, at any hour: the previous live version is current again.",
            confirm=True,
            reason="required",
            reason_help="What post-release testing found (on the timeline; customers are told "
            "only that it was rolled back).",
        ),
        Transition(
            "cancel",
            frozenset({"planned", "announced"}),
            "cancelled",
            "Cancel",
            "Call it off before it starts.",
            confirm=True,
            reason="optional",
            reason_help="Why (optional; on the timeline).",
        ),
    )
}


def available(state: str) -> list[Transition]:
    """The transitions a release in ``state`` may take, in lifecycle order."""
    return [t for t in TRANSITIONS.values() if state in t.sources]
