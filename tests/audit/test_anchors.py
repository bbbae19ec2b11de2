"""Once a day the head goes to senior management (an anchor), or the break found instead."""

import datetime as dt
import pydoc

import pytest
from django.core import mail
from django_q.models import Schedule
from django_q.tasks import async_task

from audit import services as audit
from audit.models import Anchor, Entry
from notifications.models import Delivery, Message
from releases.models import ReleaseEvent
from tests.helpers import NOW, utc

pytestmark = pytest.mark.django_db


def test_the_daily_anchor_goes_to_senior_management_through_the_outbox(
    shipped, manager, manager2, engineer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        anchor = audit.daily(at=NOW)
    head = Entry.objects.order_by("-seq").first()
    assert (anchor.seq, anchor.hash, anchor.problem) == (head.seq, head.hash, "")
    assert anchor.day == dt.date(2026, 11, 30)
    assert anchor.recipients == ["max@example.com", "morgan@example.com"]
    message = Message.objects.get(kind="audit.anchor")
    assert sorted(Delivery.objects.filter(message=message).values_list("address", flat=True)) == [
        "max@example.com",
        "morgan@example.com",
    ]
    [sent, _] = mail.outbox
    assert sent.subject == f"[Nightshift] Audit log anchor 2026-11-30: #{head.seq}"
    assert f"audit verify --expect {head.seq}:{head.hash}" in sent.body
    # What the e-mail gives is what verify takes.
    assert audit.verify(expect=[audit.parse_anchor(f"{head.seq}:{head.hash}")]).ok


def test_once_a_day_by_the_local_calendar(shipped, manager):
    # 23:30 and 00:30 Pacific time on either side of midnight: two days, two anchors.
    assert audit.daily(at=utc(2026, 12, 1, 7, 30)).day == dt.date(2026, 11, 30)
    assert audit.daily(at=utc(2026, 12, 1, 7, 50)) is None  # the same local day
    assert audit.daily(at=utc(2026, 12, 1, 8, 30)).day == dt.date(2026, 12, 1)
    assert Message.objects.filter(kind="audit.anchor").count() == 2
    assert Anchor.objects.count() == 2


def test_a_break_is_sent_instead_of_an_anchor(shipped, manager, django_capture_on_commit_callbacks):
    event = shipped.events.get(action="complete")
    ReleaseEvent.objects.filter(pk=event.pk).update(details={"shipped": []})
    with django_capture_on_commit_callbacks(execute=True):
        anchor = audit.daily(at=NOW)
    assert anchor.seq is None and anchor.hash == ""
    assert f"releases.releaseevent {event.pk}: differs from the log" in anchor.problem
    [sent] = mail.outbox
    assert sent.subject == "[Nightshift] Audit log verification FAILED on 2026-11-30"
    assert sent.to == ["morgan@example.com"]
    assert f"releases.releaseevent {event.pk}" in sent.body
    assert audit.daily(at=NOW) is None  # told once that day; tomorrow's run checks again
    assert not audit.daily(at=NOW + dt.timedelta(days=1)).hash


def test_the_schedule_runs_the_task_at_a_fixed_interval():
    schedule = Schedule.objects.get(name="audit: verify and anchor, daily")
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 10)
    assert callable(pydoc.locate(schedule.func))  # as django-q2 resolves it


def test_the_task_runs_through_django_q(shipped, manager, time_machine):
    time_machine.move_to(NOW, tick=False)
    async_task("audit.tasks.daily")  # synchronous in tests
    assert Anchor.objects.get().day == dt.date(2026, 11, 30)
    assert Message.objects.filter(kind="audit.anchor").count() == 1
