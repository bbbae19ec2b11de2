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


@BROWSER_DB
def test_the_team_adds_its_channels_and_a_reader_subscribes_a_phone(
    browser, page, live_server, engineer, operator
):
    """Erin adds "@releases" and the SMS gateway, Opal "@status" (whose service is down); a
    reader subscribes a phone and types back the code; the outbox names the failing channel."""
    from notifications.models import Channel, Delivery
    from tests.browser.test_desk_in_chromium import desk, messages, save
    from tests.notifications import sink as sinks
    from tests.notifications.conftest import posted

    sink = sinks.start()
    json_at = sink.url.replace("http://", "json://")
    try:
        erin = desk(browser, live_server, "erin")
        erin.goto(f"{erin.base}/admin/notifications/channel/add/")
        erin.fill("#id_name", "@releases")
        erin.fill("#id_new_url", f"{json_at}/ok/releases?+X-Token=s3cret")
        for topic in ("released", "rolled_back", "notices"):  # none is ticked for a new one
            erin.check(f"input[name=topics][value={topic}]")
        save(erin)
        assert "was added successfully" in messages(erin)
        releases_channel = Channel.objects.get(name="@releases")
        assert releases_channel.topics == ["released", "rolled_back", "notices"]
        erin.goto(f"{erin.base}/admin/notifications/channel/{releases_channel.pk}/change/")
        assert "s3cret" not in erin.content() and "json://127.0.0.1" in erin.content()
        shot(erin, "channel-releases")
        erin.goto(f"{erin.base}/admin/notifications/channel/add/")
        erin.fill("#id_name", "SMS gateway")
        erin.select_option("#id_purpose", "sms")
        erin.fill("#id_new_url", f"{json_at}/ok/sms")
        save(erin)

        opal = desk(browser, live_server, "opal")
        opal.goto(f"{opal.base}/admin/notifications/channel/add/")
        opal.fill("#id_name", "@status")
        opal.fill("#id_new_url", "bogus://nowhere")
        for topic in ("released", "rolled_back"):
            opal.uncheck(f"input[name=topics][value={topic}]")
        opal.check("input[name=topics][value=status]")
        save(opal)
        assert "Apprise does not understand" in opal.content()  # refused on its field
        opal.fill("#id_new_url", f"{json_at}/down/status")
        save(opal)
        status_channel = Channel.objects.get(name="@status")
        opal.goto(f"{opal.base}/admin/notifications/channel/")
        for _ in range(Channel.UNHEALTHY_AFTER):  # three test posts, each refused by the service
            opal.check(f"input[name=_selected_action][value='{status_channel.pk}']")
            opal.select_option("select[name=action]", "send_test")
            opal.click("button[name=index]")
            opal.wait_for_load_state("load")
        opal.goto(f"{opal.base}/admin/notifications/delivery/")
        banner = opal.locator("#unhealthy-channels")
        assert "@status" in banner.inner_text() and "500" in banner.inner_text()
        shot(opal, "outbox-unhealthy-channel")

        page.goto(f"{live_server.url}/subscribe/")
        page.get_by_label("or a mobile number, for SMS").fill("+1 415 555 0100")
        page.get_by_label("Items to be released").uncheck()
        page.get_by_role("button", name="Subscribe").click()
        page.get_by_role("heading", name="Check your phone").wait_for()
        [text] = [posted(r)["message"] for r in sink.ok() if r.path == "/ok/sms/+14155550100"]
        code = re.search(r"your code is (\d{6})", text)[1]
        page.get_by_label("The code we texted you").fill(code)
        page.get_by_role("button", name="Confirm").click()
        page.get_by_role("heading", name="Subscription confirmed").wait_for()
        assert "+1 415-555-0100" in page.content()
        shot(page, "phone-subscription-confirmed")
        subscriber = Subscriber.objects.get(phone="+14155550100")
        assert subscriber.is_active and "items" not in subscriber.topics
        sms = Delivery.objects.get(channel="sms")
        assert sms.status == "delivered" and sms.via.name == "SMS gateway"
        assert page.dialogs == []
    finally:
        sink.close()
