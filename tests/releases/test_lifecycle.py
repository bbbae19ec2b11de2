"""The release lifecycle through its services: guards, timeline, planned vs shipped, rollbacks."""

import datetime as dt

import pytest

from releases import guards, hooks, services
from releases.models import AppendOnly, Component, Freeze, Release, ReleaseEvent, ReleaseItem
from tests.helpers import NOW, WED_WINDOW, utc

pytestmark = pytest.mark.django_db
IN_WED_WINDOW = WED_WINDOW + dt.timedelta(minutes=30)


def codes(exc_info) -> list[str]:
    return [r.code for r in exc_info.value.refusals]


def run_to(release, state, by, at=IN_WED_WINDOW):
    steps = {
        "announced": [services.release_announce],
        "in_progress": [services.release_announce, services.release_start],
        "released": [services.release_announce, services.release_start, services.release_complete],
        "verified": [
            services.release_announce,
            services.release_start,
            services.release_complete,
            services.release_verify,
        ],
    }[state]
    for step in steps:
        release = step(release=release, by=by, at=at)
    return release


def test_a_regular_release_outside_every_window_is_refused_with_the_next_window(make_release):
    with pytest.raises(services.ReleaseInvalid) as exc:
        make_release(scheduled_start=utc(2026, 12, 1, 9))  # a Tuesday
    message = exc.value.errors["scheduled_start"]
    assert "outside every release window" in message
    assert (
        "The next window where 1 h fits opens at Wed 02 Dec 2026 00:00 PST (2026-12-02 08:00 UTC)."
        in message
    )
    assert not Release.objects.exists()


def test_a_release_that_would_overrun_its_window_is_refused(make_release):
    with pytest.raises(services.ReleaseInvalid) as exc:
        make_release(scheduled_start=WED_WINDOW + dt.timedelta(hours=2, minutes=30))
    assert (
        "closes at Wed 02 Dec 2026 03:00 PST (2026-12-02 11:00 UTC)"
        in exc.value.errors["scheduled_start"]
    )


def test_a_duration_no_window_can_hold_names_the_duration(make_release):
    with pytest.raises(services.ReleaseInvalid) as exc:
        make_release(expected_duration_minutes=240)
    assert (
        "No release window in the next five years lasts 4 h"
        in exc.value.errors["expected_duration_minutes"]
    )


def test_a_start_in_the_past_is_refused(make_release):
    with pytest.raises(services.ReleaseInvalid) as exc:
        make_release(scheduled_start=utc(2026, 11, 27, 8))  # last Friday's window
    assert "in the past" in exc.value.errors["scheduled_start"]


def test_a_frozen_slot_is_refused(make_release):
    Freeze.objects.create(reason="Year-end", starts_at=utc(2026, 12, 1), ends_at=utc(2026, 12, 3))
    with pytest.raises(services.ReleaseInvalid) as exc:
        make_release()
    assert "freeze" in exc.value.errors["scheduled_start"]
    assert "2026-12-03 08:00 UTC" in exc.value.errors["scheduled_start"]


def test_a_duplicate_version_is_refused_and_nothing_is_half_written(make_release):
    make_release(version="2.0.0")
    items_before = ReleaseItem.objects.count()
    with pytest.raises(services.ReleaseInvalid) as exc:
        make_release(version="2.0.0")
    assert exc.value.errors == {"version": "items-api already has a release 2.0.0."}
    assert Release.objects.count() == 1
    assert ReleaseItem.objects.count() == items_before
    assert ReleaseEvent.objects.count() == 1


def test_the_owner_must_be_a_release_engineer(make_release, customer):
    with pytest.raises(services.ReleaseInvalid) as exc:
        make_release(owner=customer)
    assert "not a release engineer" in exc.value.errors["owner"]


def test_the_whole_lifecycle_writes_a_timeline_of_states(make_release, engineer):
    release = run_to(make_release(), "verified", engineer)
    trail = list(release.events.values_list("action", "from_state", "to_state"))
    assert trail == [
        ("scheduled", "", "planned"),
        ("announce", "planned", "announced"),
        ("start", "announced", "in_progress"),
        ("complete", "in_progress", "released"),
        ("verify", "released", "verified"),
    ]
    assert release.started_at == release.completed_at == IN_WED_WINDOW
    assert set(release.events.values_list("actor", flat=True)) == {engineer.pk}


def test_a_regular_release_starts_only_inside_the_window_of_its_scheduled_start(
    make_release, engineer
):
    release = services.release_announce(release=make_release(), by=engineer, at=NOW)
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_start(release=release, by=engineer, at=NOW)
    assert codes(exc) == ["window_closed"]
    assert (
        "next window opens at Wed 02 Dec 2026 00:00 PST (2026-12-02 08:00 UTC)"
        in exc.value.refusals[0].detail
    )
    # Thursday's window is open, but the release is scheduled into Wednesday's: a later window
    # is another promise, and the way to it is a reschedule, which runs every guard again.
    thursday = utc(2026, 12, 3, 8, 15)
    with pytest.raises(services.TransitionRefused) as later:
        services.release_start(release=release, by=engineer, at=thursday)
    assert codes(later) == ["not_its_window"]
    detail = later.value.refusals[0].detail
    assert (
        "scheduled into the window Wed 02 Dec 2026 00:00–03:00 PST (2026-12-02 08:00–11:00 UTC)"
        in detail
    )
    assert "Reschedule it into this window first" in detail
    assert services.release_start(release=release, by=engineer, at=IN_WED_WINDOW).state == (
        "in_progress"
    )


def test_starting_in_an_earlier_window_than_scheduled_is_refused(make_release, engineer):
    release = make_release(scheduled_start=utc(2026, 12, 4, 8, 30))  # Friday
    release = services.release_announce(release=release, by=engineer, at=NOW)
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_start(release=release, by=engineer, at=IN_WED_WINDOW)
    assert codes(exc) == ["not_its_window"]
    moved = services.release_update(
        release=release, by=engineer, at=NOW, scheduled_start=IN_WED_WINDOW
    )
    assert services.release_start(release=moved, by=engineer, at=IN_WED_WINDOW).state == (
        "in_progress"
    )


def test_a_start_too_late_to_finish_in_the_window_is_refused(make_release, engineer):
    release = services.release_announce(release=make_release(), by=engineer, at=NOW)
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_start(release=release, by=engineer, at=utc(2026, 12, 2, 10, 30))
    assert codes(exc) == ["does_not_fit"]


def test_a_refusal_names_every_failing_guard(make_release, engineer):
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_start(release=make_release(), by=engineer, at=NOW)  # planned, closed
    assert codes(exc) == ["invalid_state", "window_closed"]
    assert Release.objects.get().state == "planned"


def test_an_exceptional_release_schedules_any_time_but_never_starts_unauthorized(
    make_release, engineer
):
    release = make_release(kind="exceptional", scheduled_start=utc(2026, 12, 1, 15))
    release = services.release_announce(release=release, by=engineer, at=NOW)
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_start(release=release, by=engineer, at=utc(2026, 12, 1, 15))
    assert codes(exc) == ["not_authorized"]


@pytest.fixture
def authorize_everything():
    """Another app's facts provider, plugged in without touching releases' code."""
    slot = (utc(2026, 12, 1, 14), utc(2026, 12, 1, 16))

    def provider(release, at):
        return {"authorization": guards.Authorization("test-approval", *slot)}

    hooks.register_facts(provider)
    yield slot
    hooks.facts_providers.remove(provider)


def test_an_authorization_from_another_app_lets_an_exceptional_release_start_in_its_slot(
    make_release, engineer, authorize_everything
):
    release = make_release(kind="exceptional", scheduled_start=utc(2026, 12, 1, 15))
    release = services.release_announce(release=release, by=engineer, at=NOW)
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_start(release=release, by=engineer, at=utc(2026, 12, 1, 17))
    assert codes(exc) == ["outside_authorized_slot"]
    started = services.release_start(release=release, by=engineer, at=utc(2026, 12, 1, 15))
    assert started.state == "in_progress"


def test_complete_records_what_shipped_and_what_slipped(make_release, engineer):
    release = run_to(make_release(), "in_progress", engineer)
    searched, _typo = release.items.order_by("id")
    release = services.release_complete(
        release=release, by=engineer, at=IN_WED_WINDOW, shipped_item_ids=[searched.pk]
    )
    flags = dict(release.items.values_list("title", "shipped"))
    assert flags == {"Search is faster": True, "Typo in errors": False}
    event = release.events.get(action="complete")
    assert event.details == {"shipped": [searched.pk], "slipped": ["Typo in errors"]}


def test_completing_with_an_unknown_item_changes_nothing(make_release, engineer):
    release = run_to(make_release(), "in_progress", engineer)
    with pytest.raises(services.ReleaseInvalid):
        services.release_complete(
            release=release, by=engineer, at=IN_WED_WINDOW, shipped_item_ids=[999_999]
        )
    release.refresh_from_db()
    assert release.state == "in_progress"
    assert not release.items.filter(shipped=True).exists()


def test_items_added_after_the_announcement_are_not_planned(make_release, engineer):
    release = services.release_announce(release=make_release(), by=engineer, at=NOW)
    late = services.item_add(release=release, by=engineer, at=NOW, title="Late fix", type="fixed")
    assert late.planned is False
    assert release.events.filter(action="item_added").exists()


@pytest.mark.parametrize("state", ["in_progress", "released", "verified"])
def test_rollback_is_allowed_at_any_hour_and_restores_the_previous_live_version(
    make_release, engineer, state
):
    previous = run_to(make_release(version="1.0.0"), "verified", engineer)
    current = run_to(
        make_release(version="1.1.0", scheduled_start=utc(2026, 12, 3, 8)),
        state,
        engineer,
        at=utc(2026, 12, 3, 8, 30),
    )
    sunday_3am = utc(2026, 12, 6, 11)  # outside every window
    rolled = services.release_rollback(
        release=current, by=engineer, reason="Error rate doubled", at=sunday_3am
    )
    assert rolled.state == "rolled_back"
    assert rolled.rollback.restored == previous
    assert rolled.rollback.reason == "Error rate doubled"
    event = rolled.events.get(action="rollback")
    assert (event.from_state, event.details["restored_version"]) == (state, "1.0.0")
    assert Component.objects.with_current_version().get().current_version == "1.0.0"


def test_the_current_version_is_the_latest_live_release(make_release, engineer):
    component = Component.objects.with_current_version()
    assert component.get().current_version is None
    run_to(make_release(version="1.0.0"), "released", engineer)
    run_to(
        make_release(version="1.1.0", scheduled_start=utc(2026, 12, 3, 8)),
        "verified",
        engineer,
        at=utc(2026, 12, 3, 8, 30),
    )
    assert component.get().current_version == "1.1.0"


def test_a_rollback_needs_a_reason_and_the_first_release_restores_nothing(make_release, engineer):
    release = run_to(make_release(), "released", engineer)
    with pytest.raises(services.ReleaseInvalid) as exc:
        services.release_rollback(release=release, by=engineer, reason="  ", at=NOW)
    assert "reason" in exc.value.errors
    rolled = services.release_rollback(release=release, by=engineer, reason="broken", at=NOW)
    assert rolled.rollback.restored is None


def test_a_planned_release_cannot_be_rolled_back_and_a_started_one_cannot_be_cancelled(
    make_release, engineer
):
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_rollback(release=make_release(), by=engineer, reason="x", at=NOW)
    assert codes(exc) == ["invalid_state"]
    started = run_to(make_release(), "in_progress", engineer)
    with pytest.raises(services.TransitionRefused):
        services.release_cancel(release=started, by=engineer, at=NOW)
    cancelled = services.release_cancel(release=make_release(), by=engineer, reason="dup", at=NOW)
    assert cancelled.events.last().details == {"reason": "dup"}


def test_rescheduling_an_announced_release_is_on_the_timeline(make_release, engineer):
    release = services.release_announce(release=make_release(), by=engineer, at=NOW)
    thursday = utc(2026, 12, 3, 8, 30)
    release = services.release_update(
        release=release, by=engineer, at=NOW, scheduled_start=thursday
    )
    event = release.events.get(action="rescheduled")
    assert event.details["from"]["scheduled_start"] == WED_WINDOW.isoformat()
    assert event.details["to"]["scheduled_start"] == thursday.isoformat()


def test_an_invalid_reschedule_changes_nothing(make_release, engineer):
    release = make_release()
    with pytest.raises(services.ReleaseInvalid):
        services.release_update(
            release=release, by=engineer, at=NOW, scheduled_start=utc(2026, 12, 1, 9), title="moved"
        )
    release.refresh_from_db()
    assert (release.scheduled_start, release.title) == (WED_WINDOW, "Faster search")
    assert not release.events.filter(action="rescheduled").exists()


def test_a_stale_edit_is_refused(make_release, engineer):
    release = make_release()
    etag = release.etag
    services.release_update(release=release, by=engineer, at=NOW, title="First")
    with pytest.raises(services.StaleRelease):
        services.release_update(release=release, by=engineer, at=NOW, title="Second", if_match=etag)
    assert Release.objects.get().title == "First"


def test_the_timeline_is_append_only(make_release):
    event = make_release().events.get()
    event.action = "forged"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    assert ReleaseEvent.objects.get().action == "scheduled"


def test_listeners_run_only_after_commit_and_hooks_inside(
    make_release, engineer, django_capture_on_commit_callbacks
):
    seen_inside, seen_after = [], []
    hook = seen_inside.append
    listener = seen_after.append
    hooks.register_event_hook(hook)
    hooks.register_event_listener(listener)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            release = services.release_announce(release=make_release(), by=engineer, at=NOW)
        assert [e.action for e in seen_inside] == ["scheduled", "announce"]
        assert seen_after == []
        for callback in callbacks:
            callback()
        assert seen_after == list(release.events.values_list("pk", flat=True))
    finally:
        hooks.event_hooks.remove(hook)
        hooks.event_listeners.remove(listener)
