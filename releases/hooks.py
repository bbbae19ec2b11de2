"""Every place another app plugs into releases, in one module (releases never imports them).

Each app registers from its ``AppConfig.ready()``; registering twice changes nothing.

- ``register_guard(action, guard)`` — releases (its own guards), notes: refuse a transition or
  a schedule (notes keeps the notice's lead time, and refuses lowering the impact under a
  published notice).
- ``register_facts(provider)`` — approvals, notes: what guards need and releases cannot know:
  the authorization of an exceptional release, the advance notice.
- ``register_event_hook(hook)`` — approvals, notes, notifications: react to a timeline event
  inside its transaction (void a request the change invalidates; keep the notice true to its
  release; queue the messages in the outbox).
- ``register_event_listener(listener)`` — nobody yet: run after the event's commit.
- ``register_describer(action, describer)`` — approvals, notes: their timeline events as
  sentences, on the desk and in the API.
- ``register_calendar_source(source)`` — approvals, notes: approved slots and notice dates on
  the desk's and the public calendars.
- ``register_panel(panel)`` — approvals: a box on a release's desk page (its approval status,
  and asking for one).
- ``register_hold_source(source)`` — status: an open major outage holds its components'
  regular releases *now* (the gate and the start guard answer ``incident_open``) without
  closing any window. Holds are cached with the calendar: whoever changes what a source returns
  calls ``releases.services.rules_changed()`` in the same transaction, as rule edits do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from releases.guards import register as register_guard
from releases.windows import Hold

__all__ = [
    "register_calendar_source",
    "register_describer",
    "register_event_hook",
    "register_event_listener",
    "register_facts",
    "register_guard",
    "register_hold_source",
    "register_panel",
]

# (release, at) -> {"authorization": ..., "notice": ...}: facts for the guards.
FactsProvider = Callable[[Any, Any], dict[str, Any]]
facts_providers: list[FactsProvider] = []
# (event) -> None, inside the event's transaction.
event_hooks: list[Callable[[Any], None]] = []
# (event_id) -> None, after the commit.
event_listeners: list[Callable[[int], None]] = []
# action -> (event) -> a sentence.
describers: dict[str, Callable[[Any], str]] = {}
# (start, end, component or None) -> calendar entries.
calendar_sources: list[Callable[..., Iterable[Any]]] = []
# (request, release) -> HTML or "".
panels: list[Callable[[Any, Any], str]] = []
# () -> engine Holds.
hold_sources: list[Callable[[], Iterable[Hold]]] = []


def _add(registry: list, item) -> None:
    if item not in registry:
        registry.append(item)


def register_facts(provider: FactsProvider) -> None:
    _add(facts_providers, provider)


def register_event_hook(hook: Callable[[Any], None]) -> None:
    _add(event_hooks, hook)


def register_event_listener(listener: Callable[[int], None]) -> None:
    _add(event_listeners, listener)


def register_describer(action: str, describer: Callable[[Any], str]) -> None:
    describers[action] = describer


def register_calendar_source(source: Callable[..., Iterable[Any]]) -> None:
    _add(calendar_sources, source)


def register_panel(panel: Callable[[Any, Any], str]) -> None:
    _add(panels, panel)


def register_hold_source(source: Callable[[], Iterable[Hold]]) -> None:
    _add(hold_sources, source)


def holds() -> list[Hold]:
    return [hold for source in hold_sources for hold in source()]
