"""What counts as tightening: checked against the window engine itself.

Whenever the rulebook calls a change tightening (in force without approval), no component may
gain a minute of window time, anywhere: a property over random edits of policies and freezes.
"""

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from releases.windows import WindowCalendar
from rules import rulebook

BASE_POLICY = {
    "name": "p", "rrule": "FREQ=WEEKLY;BYDAY=WE,TH,FR", "start_time": "00:00:00",
    "duration_minutes": 180, "zone": "America/Los_Angeles", "effective_from": "2026-01-01",
    "effective_until": None, "applies_to_all": False, "components": ["a", "b"],
}  # fmt: skip
BASE_FREEZE = {
    "reason": "f", "starts_at": "2026-12-10T00:00:00Z", "ends_at": "2026-12-20T00:00:00Z",
    "rrule": "", "start_time": None, "duration_minutes": None, "zone": "UTC",
    "effective_from": None, "effective_until": None, "applies_to_all": False,
    "components": ["a"],
}  # fmt: skip
SPAN = (dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2027, 6, 1, tzinfo=dt.UTC))


def _open_minutes(calendar, slug):
    return {(w.start, w.end) for w in calendar.windows(*SPAN, slug)}


def _covered(windows_after, windows_before) -> bool:
    return all(any(b0 <= a0 and a1 <= b1 for b0, b1 in windows_before) for a0, a1 in windows_after)


policy_edits = st.fixed_dictionaries(
    {},
    optional={
        "duration_minutes": st.integers(30, 300),
        "start_time": st.sampled_from(["00:00:00", "01:00:00", "23:30:00"]),
        "effective_from": st.sampled_from(["2025-01-01", "2026-01-01", "2027-01-01"]),
        "effective_until": st.sampled_from([None, "2027-02-01", "2030-01-01"]),
        "components": st.sampled_from([["a"], ["a", "b"], ["a", "b", "c"]]),
        "rrule": st.sampled_from(["FREQ=WEEKLY;BYDAY=WE,TH,FR", "FREQ=WEEKLY;BYDAY=WE"]),
    },
)
freeze_edits = st.fixed_dictionaries(
    {},
    optional={
        "starts_at": st.sampled_from(["2026-12-01T00:00:00Z", "2026-12-10T00:00:00Z",
                                      "2026-12-15T00:00:00Z"]),
        "ends_at": st.sampled_from([None, "2026-12-18T00:00:00Z", "2026-12-25T00:00:00Z"]),
        "components": st.sampled_from([["a"], ["b"], ["a", "b"]]),
    },
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(edit=policy_edits)
def test_a_policy_change_called_tightening_never_adds_window_time(edit):
    after = {**BASE_POLICY, **edit}
    if not rulebook.is_tightening("policy", "update", BASE_POLICY, after):
        return
    before_cal = WindowCalendar([rulebook.engine_rule("policy", BASE_POLICY, id=1)])
    after_cal = WindowCalendar([rulebook.engine_rule("policy", after, id=1)])
    for slug in ("a", "b", "c"):
        assert _covered(_open_minutes(after_cal, slug), _open_minutes(before_cal, slug)), edit


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(edit=freeze_edits)
def test_a_freeze_change_called_tightening_never_adds_window_time(edit):
    after = {**BASE_FREEZE, **edit}
    if not rulebook.is_tightening("freeze", "update", BASE_FREEZE, after):
        return
    policy = rulebook.engine_rule("policy", {**BASE_POLICY, "applies_to_all": True}, id=1)
    before_cal = WindowCalendar([policy], [rulebook.engine_rule("freeze", BASE_FREEZE, id=2)])
    after_cal = WindowCalendar([policy], [rulebook.engine_rule("freeze", after, id=2)])
    for slug in ("a", "b"):
        assert _covered(_open_minutes(after_cal, slug), _open_minutes(before_cal, slug)), edit


def test_what_is_never_tightening():
    assert rulebook.is_tightening("freeze", "create", None, BASE_FREEZE)
    assert not rulebook.is_tightening("policy", "create", None, BASE_POLICY)
    assert not rulebook.is_tightening("policy", "delete", BASE_POLICY, None)
    assert not rulebook.is_tightening("freeze", "delete", BASE_FREEZE, None)
    wider = {**BASE_POLICY, "applies_to_all": True, "components": []}
    assert not rulebook.is_tightening("policy", "update", BASE_POLICY, wider)
    lifted_sooner = {**BASE_FREEZE, "ends_at": "2026-12-15T00:00:00Z"}
    assert not rulebook.is_tightening("freeze", "update", BASE_FREEZE, lifted_sooner)
    until_lifted = {**BASE_FREEZE, "ends_at": None}
    assert rulebook.is_tightening("freeze", "update", BASE_FREEZE, until_lifted)
