"""Time-driven notifications: items before the window, missed windows, rollbacks, schedules."""

import datetime as dt
import json

import pytest
import time_machine
from django.core import mail
from django_q.models import Schedule

from notifications import outbox, tasks
from notifications.models import Message
from releases import services as releases
from releases import tasks as release_tasks
from releases.models import ReleaseEvent
from tests.helpers import NOW, WED_WINDOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def at(instant, work=tasks.scheduled_work):
        with (
            time_machine.travel(instant, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return work()

    return at


def test_items_are_announced_a_set_time_before_the_window(
    make_release, engineer, subscribe, run, settings
):
    settings.ITEMS_ANNOUNCE_HOURS = 24
    subscribe("items@example.com", topics=["items"])
    subscribe("released@example.com", topics=["released"])
    # Scheduled 30 minutes into Wednesday's window, which opens 08:00 UTC.
    release = make_release(scheduled_start=WED_WINDOW + dt.timedelta(minutes=30))
    releases.release_announce(release=release, by=engineer, at=NOW)
    lead = WED_WINDOW - dt.timedelta(hours=24)  # from the window's opening, not the release's

    assert run(lead - dt.timedelta(minutes=1))["items_announced"] == 0
    assert run(lead)["items_announced"] == 1
    assert run(lead + dt.timedelta(minutes=1))["items_announced"] == 0  # once
    [sent] = mail.outbox
    assert sent.to == ["items@example.com"]
    assert sent.subject == "[Nightshift] To be released: Items API 1.1.0"
    assert "Search is faster" in sent.body and "Typo in errors" not in sent.body  # public only
    assert "Wed 02 Dec 2026 00:00 PST (08:00 UTC)" in sent.body


def test_a_planned_release_is_not_announced_to_subscribers(make_release, subscribe, run):
    subscribe("items@example.com", topics=["items"])
    make_release()
    assert run(WED_WINDOW - dt.timedelta(hours=1))["items_announced"] == 0
    assert mail.outbox == []


def test_a_release_whose_window_passes_without_starting_is_flagged_once_to_its_owner(
    make_release, engineer, run
):
    release = make_release()
    releases.release_announce(release=release, by=engineer, at=NOW)
    window_end = WED_WINDOW + dt.timedelta(hours=3)
    missed = release_tasks.flag_missed_windows
    assert run(window_end - dt.timedelta(minutes=1), missed) == 0
    assert run(window_end, missed) == 1
    assert run(window_end + dt.timedelta(hours=1), missed) == 0
    [event] = ReleaseEvent.objects.filter(action="missed_window")
    assert event.release == release and event.actor is None
    assert event.details["window_end"] == window_end.isoformat()
    [sent] = mail.outbox
    assert sent.to == [engineer.email] and sent.subject == f"[Nightshift] Missed window: {release}"
    assert "reschedule or cancel" in sent.body


def test_a_rescheduled_release_that_misses_again_is_flagged_again(make_release, engineer, run):
    release = make_release()
    run(WED_WINDOW + dt.timedelta(hours=3), release_tasks.flag_missed_windows)
    thursday = WED_WINDOW + dt.timedelta(days=1)
    releases.release_update(
        release=release,
        by=engineer,
        at=WED_WINDOW + dt.timedelta(hours=4),
        scheduled_start=thursday,
    )
    assert run(thursday + dt.timedelta(hours=3), release_tasks.flag_missed_windows) == 1
    assert ReleaseEvent.objects.filter(action="missed_window").count() == 2


def test_a_rollback_is_announced_at_once_without_its_internal_reason(
    make_release, engineer, subscribe, django_capture_on_commit_callbacks
):
    subscribe("rollbacks@example.com", topics=["rolled_back"])
    release = releases.release_announce(release=make_release(), by=engineer, at=NOW)
    release = releases.release_start(release=release, by=engineer, at=WED_WINDOW)
    release = releases.release_complete(
        release=release, by=engineer, at=WED_WINDOW + dt.timedelta(minutes=30)
    )
    with django_capture_on_commit_callbacks(execute=True):
        releases.release_rollback(
            release=release,
            by=engineer,
            reason="db migration 42 locks orders",
            at=WED_WINDOW + dt.timedelta(hours=1),
        )
    [sent] = mail.outbox
    assert sent.subject == "[Nightshift] Rolled back: Items API 1.1.0"
    assert "migration 42" not in sent.body
    data = Message.objects.get(kind="rolled_back").data
    assert data["release"]["state"] == "rolled_back"
    assert data["release"]["restored_version"] is None  # nothing shipped before it
    assert "migration 42" not in json.dumps(data)


def test_the_cluster_runs_the_sweeper_and_the_scheduled_work_every_minute():
    schedules = dict(Schedule.objects.values_list("func", "minutes"))
    assert schedules["notifications.tasks.sweep"] == 1
    assert schedules["notifications.tasks.scheduled_work"] == 1
    assert Schedule.objects.get(func="notifications.tasks.sweep").schedule_type == Schedule.MINUTES


def test_approval_requests_reach_managers_through_the_outbox(
    make_release, engineer, manager, django_capture_on_commit_callbacks
):
    from approvals import services as approvals

    release = make_release(kind="exceptional", scheduled_start=NOW + dt.timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        approvals.request_create(
            release=release,
            by=engineer,
            urgency="high",
            justification="Customers cannot log in.",
            slot_start=NOW + dt.timedelta(hours=2),
            slot_end=NOW + dt.timedelta(hours=3),
            at=NOW,
        )
    message = Message.objects.get(kind="approval.needed")
    assert [d.address for d in message.deliveries.all()] == [manager.email]
    assert message.deliveries.get().status == "delivered"
    assert outbox.sweep() == 0
