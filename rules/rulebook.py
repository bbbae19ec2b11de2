"""A rule (window policy or freeze) as plain, JSON-safe values: what a change proposes, what it
compares, what the engine is given. And the one question change control asks: does this change
only tighten the rules?"""

from __future__ import annotations

import datetime as dt
from typing import Any

from releases import windows
from releases.models import RECURRENCE_FIELDS, Freeze, WindowPolicy

RECURRENCE = RECURRENCE_FIELDS
FIELDS = {
    "policy": ["name", *RECURRENCE, "applies_to_all", "components"],
    "freeze": ["reason", "starts_at", "ends_at", *RECURRENCE, "applies_to_all", "components"],
}
MODELS = {"policy": WindowPolicy, "freeze": Freeze}
_DATES = {"effective_from", "effective_until"}
_INSTANTS = {"starts_at", "ends_at"}


def _to_json(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _INSTANTS:
        return windows.iso_utc(value)
    if name in _DATES:
        return value.isoformat()
    if name == "start_time":
        return value.strftime("%H:%M:%S")
    return value


def _from_json(name: str, value: Any) -> Any:
    if value is None or (value == "" and name in (_INSTANTS | _DATES | {"start_time"})):
        return None
    if name in _INSTANTS:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if name in _DATES:
        return dt.date.fromisoformat(value)
    if name == "start_time":
        return dt.time.fromisoformat(value)
    return value


def state_of(target: str, obj) -> dict:
    """Every governed field of a stored rule, JSON-safe; components as sorted slugs."""
    state = {name: _to_json(name, getattr(obj, name)) for name in FIELDS[target][:-1]}
    state["components"] = sorted(c.slug for c in obj.components.all())
    return state


def state_from(target: str, values: dict, base: dict | None = None) -> dict:
    """The state a change proposes: ``values`` (Python, as a form or serializer cleaned them;
    components as Component objects) over ``base``."""
    state = dict(base or _defaults(target))
    for name, value in values.items():
        if name == "components":
            state[name] = sorted(c.slug for c in value)
        elif name in FIELDS[target]:
            state[name] = _to_json(name, value)
    if state.get("components") is None:
        state["components"] = []
    if state.get("applies_to_all") is None:
        state["applies_to_all"] = True
    return state


def _defaults(target: str) -> dict:
    """A new rule's state before any value is given: the model's own defaults."""
    model = MODELS[target]
    state = {}
    for name in FIELDS[target][:-1]:
        field = model._meta.get_field(name)
        state[name] = _to_json(name, field.get_default()) if field.has_default() else None
        if state[name] is None and not field.null:
            state[name] = ""  # a text field left blank
    state["components"] = []
    return state


def model_values(target: str, state: dict) -> dict:
    """The model's field values for a state (components apart)."""
    return {name: _from_json(name, state.get(name)) for name in FIELDS[target][:-1]}


def engine_rule(target: str, state: dict, *, id, version: int | None = None):
    """The engine's value for a rule in this state (unsaved rules too)."""
    values = model_values(target, state)
    scope = None if values["applies_to_all"] else frozenset(state["components"])
    recurrence = None
    if values.get("rrule"):
        recurrence = windows.Recurrence(
            rule=values["rrule"],
            start_time=values["start_time"],
            duration=dt.timedelta(minutes=values["duration_minutes"] or 0),
            zone=values["zone"],
            effective_from=values["effective_from"],
            effective_until=values["effective_until"],
        )
    if target == "policy":
        return windows.Policy(id, values["name"], recurrence, scope, version)
    if recurrence is not None:
        return windows.Freeze(id, values["reason"], recurrence=recurrence, components=scope,
                              version=version)  # fmt: skip
    interval = windows.Interval(values["starts_at"], values["ends_at"] or windows.LATEST)
    return windows.Freeze(id, values["reason"], interval=interval, components=scope,
                          version=version)  # fmt: skip


def _scope_within(inner: dict, outer: dict) -> bool:
    """Does ``inner``'s scope cover no component that ``outer``'s does not?"""
    if outer["applies_to_all"]:
        return True
    return not inner["applies_to_all"] and set(inner["components"]) <= set(outer["components"])


def _later_or_equal(a: str | None, b: str | None, *, none_is_forever: bool) -> bool:
    """ISO dates/instants compared; None is the far end (no end) when ``none_is_forever``."""
    if a is None or b is None:
        return (a is None) if none_is_forever else (b is None)
    return a >= b


def is_tightening(target: str, operation: str, before: dict | None, after: dict | None) -> bool:
    """True when the change can only take window time away, for every component, ever.

    Decided from the fields, exactly and conservatively: a new freeze; a freeze that starts no
    later, ends no earlier, covers at least the same components (and keeps its recurrence); a
    policy that keeps its rule, zone and start, lasts no longer, begins no earlier, ends no later
    and covers no more components. Anything else — a new policy, any deletion, any other edit —
    is a loosening, or might be, and goes to senior management.
    """
    if operation == "create":
        return target == "freeze"
    if operation == "delete" or before is None or after is None:
        return False
    same = ("rrule", "start_time", "zone")
    if target == "policy":
        return (
            all(after[k] == before[k] for k in same)
            and after["duration_minutes"] <= before["duration_minutes"]
            and after["effective_from"] >= before["effective_from"]
            and _later_or_equal(before["effective_until"], after["effective_until"],
                                none_is_forever=True)
            and _scope_within(after, before)
        )  # fmt: skip
    if bool(before["rrule"]) != bool(after["rrule"]) or not _scope_within(before, after):
        return False
    if before["rrule"]:
        return (
            all(after[k] == before[k] for k in same)
            and after["duration_minutes"] >= before["duration_minutes"]
            and after["effective_from"] <= before["effective_from"]
            and _later_or_equal(after["effective_until"], before["effective_until"],
                                none_is_forever=True)
        )  # fmt: skip
    starts = [_from_json("starts_at", state["starts_at"]) for state in (after, before)]
    ends = [_from_json("ends_at", state["ends_at"]) for state in (after, before)]
    ends_later = ends[0] is None or (ends[1] is not None and ends[0] >= ends[1])
    return starts[0] <= starts[1] and ends_later
