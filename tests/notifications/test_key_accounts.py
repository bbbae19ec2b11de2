"""Key accounts hear of every notice directly, acknowledge it, and are reminded until they do."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail

from notes import services as notes
from notes.models import AdvanceNotice
from notifications import acknowledgements, scheduled
from notifications.models import Acknowledgement, Contact, Delivery
from tests.helpers import NOW, utc
from tests.notes.test_notices import COMPLETE, FAR_WINDOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def perceptible(make_release):
    return make_release(version="10.0.0", impact="perceptible", scheduled_start=FAR_WINDOW)


@pytest.fixture
def publish(perceptible, engineer, django_capture_on_commit_callbacks):
    def run(at=NOW):
        notice = notes.notice_create(release=perceptible, by=engineer, at=at, **COMPLETE)
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            return notes.notice_publish(notice=notice, by=engineer, at=at)

    return run


def _to(address):
    return [m for m in mail.outbox if m.to == [address]]


def _ack_path(message) -> str:
    [url] = re.findall(r"http://\S+/acknowledge/\S+/", message.body)
    return url.replace("http://127.0.0.1:8000", "")


def test_a_published_notice_reaches_every_key_account_contact_whatever_they_subscribed(
    publish, key_account, standard_account, subscribe
):
    subscribe("hank@globex.example", topics=["released"])  # a key contact, subscribed to other news
    subscribe("reader@example.com", topics=["notices"])
    subscribe("quiet@example.com", topics=["released"])
    publish()
    assert sorted(m.to[0] for m in mail.outbox) == ["hank@globex.example", "reader@example.com"]
    [hank] = _to("hank@globex.example")
    assert "acknowledge" in hank.body and "revision 1" in hank.body
    assert "List-Unsubscribe" not in hank.extra_headers  # told as a key account, not a subscriber
    [reader] = _to("reader@example.com")
    assert "/acknowledge/" not in reader.body and "List-Unsubscribe" in reader.extra_headers
    for message in mail.outbox:
        assert "Create a key and send it in `Authorization`." in message.body  # the action


def test_following_the_link_shows_the_notice_and_the_button_records_the_acknowledgement(
    publish, key_account, client
):
    notice = publish()
    path = _ack_path(_to("hank@globex.example")[0])
    page = client.get(path).content.decode()
    assert COMPLETE["headline"] in page and "I have read this notice" in page
    assert not Acknowledgement.objects.exists()  # a GET (a mail scanner) records nothing

    with time_machine.travel(NOW + dt.timedelta(hours=3), tick=False):
        done = client.post(path).content.decode()
    ack = Acknowledgement.objects.get()
    assert (ack.contact.email, ack.notice, ack.revision) == ("hank@globex.example", notice, 1)
    assert ack.at == NOW + dt.timedelta(hours=3)
    assert "Thank you: acknowledged" in done
    assert "Already acknowledged" in client.post(path).content.decode()
    assert Acknowledgement.objects.count() == 1


def test_a_revision_asks_again_and_the_admin_shows_who_has_not_acknowledged(
    publish, key_account, engineer, client, django_capture_on_commit_callbacks, send_held
):
    Contact.objects.create(account=key_account, name="Iris", email="iris@globex.example")
    notice = publish()
    client.post(_ack_path(_to("hank@globex.example")[0]))
    with django_capture_on_commit_callbacks(execute=True):
        notes.notice_update(notice=notice, by=engineer, at=NOW, benefits="Also faster.")
    assert len(_to("hank@globex.example")) == 1  # held a few minutes, for edits that follow
    send_held()
    [_, revised] = _to("hank@globex.example")
    assert revised.subject.startswith("[Nightshift] Revised: ") and "revision 2" in revised.body
    assert "Benefits changed." in revised.body

    [globex] = acknowledgements.acknowledgement_status(AdvanceNotice.objects.get())
    rows = {row["contact"].name: row for row in globex.rows}
    assert set(rows) == {"Hank", "Iris"}  # the inactive contact is not listed
    assert (rows["Hank"]["acknowledged"], rows["Hank"]["older_revision"]) == (False, 1)
    assert rows["Hank"]["delivered_at"] is not None

    client.force_login(engineer)
    page = client.get(f"/admin/notes/advancenotice/{notice.pk}/change/").content.decode()
    assert "Globex" in page and "not yet (acknowledged revision 1)" in page
    client.logout()
    client.post(_ack_path(revised))
    client.force_login(engineer)
    page = client.get(f"/admin/notes/advancenotice/{notice.pk}/change/").content.decode()
    assert "<strong>acknowledged</strong>" in page


def test_reminders_go_at_t_14_7_1_to_those_who_have_not_acknowledged(
    publish, key_account, client, django_capture_on_commit_callbacks
):
    Contact.objects.create(account=key_account, name="Iris", email="iris@globex.example")
    publish()
    client.post(_ack_path(_to("hank@globex.example")[0]))
    mail.outbox.clear()

    def tick(at):
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            return scheduled.send_reminders()

    # FAR_WINDOW is Wed 6 Jan 2027 00:15 PST; T-14 is Wed 23 Dec 00:15 PST (08:15 UTC).
    assert tick(utc(2026, 12, 23, 8, 14)) == 0
    assert tick(utc(2026, 12, 23, 8, 16)) == 1
    assert tick(utc(2026, 12, 23, 9, 0)) == 0  # once per threshold
    [reminder] = mail.outbox
    assert reminder.to == ["iris@globex.example"]  # Hank acknowledged
    assert reminder.subject == f"[Nightshift] Reminder, 14 days to go: {COMPLETE['headline']}"
    assert "/acknowledge/" in reminder.body

    assert tick(utc(2026, 12, 30, 8, 16)) == 1
    client.post(_ack_path(mail.outbox[-1]))
    assert tick(utc(2027, 1, 5, 8, 16)) == 0  # everyone has acknowledged: reminders stop
    assert len(mail.outbox) == 2


def test_reminder_thresholds_are_local_wall_clock_days_across_dst():
    # 00:15 PDT on Wed 17 Mar 2027 is 07:15 UTC; seven local days earlier, before the spring
    # change, is 00:15 PST = 08:15 UTC — not 07:15 UTC, as subtracting 7×24 h would say.
    notice = AdvanceNotice(
        tentative_start=utc(2027, 3, 17, 7, 15),
        tentative_zone="America/Los_Angeles",
        published_at=utc(2027, 3, 5),  # inside T-14 (3 Mar): that one is never sent late
    )
    assert scheduled.reminder_due(notice, utc(2027, 3, 9)) is None
    assert scheduled.reminder_due(notice, utc(2027, 3, 10, 8, 14)) is None
    assert scheduled.reminder_due(notice, utc(2027, 3, 10, 8, 15)) == 7
    assert scheduled.reminder_due(notice, utc(2027, 3, 16, 7, 15)) == 1  # after the change
    # In London, whose clocks change on another day, the same rule holds in its zone.
    london = AdvanceNotice(
        tentative_start=utc(2027, 4, 1, 8),
        tentative_zone="Europe/London",  # 09:00 BST
        published_at=utc(2027, 3, 20),
    )
    assert scheduled.reminder_due(london, utc(2027, 3, 25, 8, 59)) is None
    assert scheduled.reminder_due(london, utc(2027, 3, 25, 9, 0)) == 7  # 09:00 GMT


def test_withdrawing_tells_everyone_who_was_told(
    publish, key_account, subscribe, engineer, django_capture_on_commit_callbacks
):
    subscribe("reader@example.com", topics=["notices"])
    notice = publish()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notes.notice_withdraw(notice=notice, by=engineer, at=NOW)
    assert sorted(m.to[0] for m in mail.outbox) == ["hank@globex.example", "reader@example.com"]
    assert all(m.subject.startswith("[Nightshift] Withdrawn: ") for m in mail.outbox)
    assert all("/acknowledge/" not in m.body for m in mail.outbox)
    assert Delivery.objects.filter(status="delivered").count() == 4


def test_a_link_to_a_withdrawn_notice_says_so_and_records_nothing(
    publish, key_account, engineer, client
):
    notice = publish()
    path = _ack_path(_to("hank@globex.example")[0])
    notes.notice_withdraw(notice=notice, by=engineer, at=NOW)
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 400
        assert "This notice is withdrawn; nothing to acknowledge." in response.content.decode()
    assert not Acknowledgement.objects.exists()
