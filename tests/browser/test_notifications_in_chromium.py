"""Subscribing and acknowledging in a real browser: forms, CSRF, and links from the e-mails."""

from __future__ import annotations

import datetime as dt
import re

from django.core import mail

from notes import services as notices
from notifications.models import Acknowledgement, Contact, CustomerAccount, Subscriber
from releases.selectors import window_calendar
from tests.browser.test_public_site_in_chromium import BROWSER_DB, browser, page, shot
from tests.notes.test_notices import COMPLETE

__all__ = ["browser", "page"]  # fixtures


def _link(message, live_server, name: str) -> str:
    [url] = re.findall(rf"http://\S+/{name}/\S+/", message.body)
    return url.replace("http://127.0.0.1:8000", live_server.url)


@BROWSER_DB
def test_a_reader_subscribes_confirms_and_unsubscribes(page, live_server, api_component):
    page.goto(f"{live_server.url}/subscribe/")
    page.get_by_label("E-mail address").fill("reader@example.com")
    page.get_by_label("Items to be released").uncheck()
    page.get_by_label("Items API").check()
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your mailbox").wait_for()
    subscriber = Subscriber.objects.get()
    assert not subscriber.is_active

    [confirmation] = mail.outbox
    page.goto(_link(confirmation, live_server, "subscribe/confirm"))
    page.get_by_role("button", name="Yes, send me release news").click()
    page.get_by_role("heading", name="Subscription confirmed").wait_for()
    shot(page, "subscription-confirmed")
    subscriber.refresh_from_db()
    assert subscriber.is_active and "items" not in subscriber.topics
    assert list(subscriber.components.all()) == [api_component]

    page.get_by_role("link", name="unsubscribe now").click()
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="Unsubscribed").wait_for()
    subscriber.refresh_from_db()
    assert not subscriber.is_active
    assert page.dialogs == []


@BROWSER_DB
def test_a_key_account_contact_acknowledges_from_the_e_mail(
    page, live_server, make_release, engineer
):
    account = CustomerAccount.objects.create(name="Globex", tier="key")
    contact = Contact.objects.create(account=account, name="Hank", email="hank@globex.example")
    at = dt.datetime.now(dt.UTC)
    window = window_calendar().next_window(
        at + dt.timedelta(days=40), "items-api", min_length=dt.timedelta(hours=1)
    )
    release = make_release(
        version="10.0.0", impact="perceptible", scheduled_start=window.start, at=at
    )
    fields = {**COMPLETE, "tentative_start": window.start, "action_deadline": None}
    notice = notices.notice_create(release=release, by=engineer, at=at, **fields)
    notices.notice_publish(notice=notice, by=engineer, at=at)
    [message] = [m for m in mail.outbox if m.to == [contact.email]]

    page.goto(_link(message, live_server, "acknowledge"))
    assert "Create a key and send it in" in page.content()
    assert not Acknowledgement.objects.exists()
    page.get_by_role("button", name="I have read this notice (revision 1)").click()
    page.get_by_role("status").filter(has_text="Thank you: acknowledged").wait_for()
    shot(page, "notice-acknowledged")
    ack = Acknowledgement.objects.get()
    assert (ack.contact, ack.notice.pk, ack.revision) == (contact, notice.pk, 1)
