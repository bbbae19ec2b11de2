"""People who want SMS: a number subscribed on /subscribe/, confirmed by a texted code, sent the
short form through the SMS gateway channel (real Apprise, a local sink), stopped by a link or by
replying STOP."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from notifications import outbox, sending, sms
from notifications.models import Channel, Delivery, Subscriber
from tests.helpers import NOW
from tests.notifications.conftest import posted

pytestmark = pytest.mark.django_db
NUMBER, READABLE = "+14155550100", "+1 415-555-0100"


@pytest.fixture
def gateway(channel):
    return channel("SMS gateway", "ok/sms", purpose="sms", topics=[])


def _texts(sink, number=NUMBER) -> list[str]:
    return [posted(r)["message"] for r in sink.ok() if r.path == f"/ok/sms/{number}"]


@pytest.fixture
def subscribe_phone(client, django_capture_on_commit_callbacks):
    def run(number=" +1 (415) 555-0100 ", topics=("released", "status"), **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                reverse("subscribe"), {"phone": number, "topics": list(topics), **extra}
            )

    return run


def _token(page) -> str:
    return re.search(r'name="token" value="([^"]+)"', page.content.decode())[1]


def _code(text: str) -> str:
    return re.search(r"your code is (\d{6})", text)[1]


def test_a_number_is_confirmed_by_the_code_texted_to_it_then_hears_in_short_form(
    gateway, sink, subscribe_phone, client, ship
):
    page = subscribe_phone()
    assert page.status_code == 201
    assert "Check your phone" in page.content.decode() and READABLE in page.content.decode()
    subscriber = Subscriber.objects.get()
    assert (subscriber.channel, subscriber.phone, subscriber.confirmed_at) == ("sms", NUMBER, None)
    [text] = _texts(sink)  # through the gateway, the number appended as its target
    assert "Reply STOP" in text and sms.segments(text) == 1
    code = _code(text)
    assert code not in str(Delivery.objects.values_list("message__text", "message__data"))

    wrong = client.post(
        reverse("subscription-confirm-phone"),
        {"token": _token(page), "code": f"{(int(code) + 1) % 1_000_000:06d}"},
    )
    assert wrong.status_code == 400 and "not the code we sent" in wrong.content.decode()
    assert Subscriber.objects.get().confirmed_at is None
    done = client.post(
        reverse("subscription-confirm-phone"), {"token": _token(page), "code": f" {code} "}
    )
    assert done.status_code == 200 and "Subscription confirmed" in done.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.is_active and subscriber.topics == ["released", "status"]

    release = ship()
    [_, news] = _texts(sink)
    assert news.startswith(f"Released: {release.component.name} {release.version}")
    assert sms.segments(news) <= 2
    [stop] = re.findall(r"Stop: (\S+)$", news)
    # The stop link works as any unsubscribe link: a page, then one POST.
    path = stop.removeprefix("http://127.0.0.1:8000")
    assert "Unsubscribe" in client.get(path).content.decode()
    assert client.post(path).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at is not None
    forged = path.replace(path.split(".")[-1].rstrip("/"), "AAAAAAAAAA")
    assert client.get(forged).status_code == 400


def test_replying_stop_to_the_gateway_unsubscribes_the_number(gateway, client):
    subscriber = Subscriber.objects.create(channel="sms", phone=NUMBER, confirmed_at=NOW)
    inbound = reverse("sms-inbound", args=[gateway.inbound_token])
    # Anything else is not a stop; a forged gateway address is a 404.
    assert client.post(inbound, {"From": NUMBER, "Body": "thanks"}).status_code == 200
    assert (
        client.post(
            reverse("sms-inbound", args=["forged"]), {"From": NUMBER, "Body": "STOP"}
        ).status_code
        == 404
    )
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at is None
    # Vonage's fields (a number without its +), then Twilio's: both stop it.
    answer = client.post(inbound, {"msisdn": NUMBER[1:], "text": " stop please"})
    assert answer.status_code == 200 and answer["Content-Type"] == "text/xml"
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at is not None


def test_codes_are_limited_per_number_and_tries_per_code(gateway, sink, subscribe_phone, client):
    first = subscribe_phone()
    again = subscribe_phone()  # within 10 minutes: the same page, and no second SMS
    assert again.status_code == 201 and "Check your phone" in again.content.decode()
    assert len(_texts(sink)) == 1
    for _ in range(5):
        client.post(
            reverse("subscription-confirm-phone"), {"token": _token(first), "code": "000000"}
        )
    code = _code(_texts(sink)[0])
    blocked = client.post(
        reverse("subscription-confirm-phone"), {"token": _token(first), "code": code}
    )
    assert blocked.status_code == 429 and "Retry-After" in blocked
    assert Subscriber.objects.get().confirmed_at is None
    # The second page carries the same code (the one texted): its tries are spent as well.
    later = client.post(
        reverse("subscription-confirm-phone"), {"token": _token(again), "code": code}
    )
    assert later.status_code == 429


def test_a_second_page_takes_the_code_already_texted(gateway, sink, subscribe_phone, client):
    """Someone closes the tab and subscribes again within 10 minutes: no new SMS, and the code
    they have confirms from the new page (with the topics asked for last)."""
    subscribe_phone(topics=("released",))
    again = subscribe_phone(topics=("status",))
    assert len(_texts(sink)) == 1
    done = client.post(
        reverse("subscription-confirm-phone"),
        {"token": _token(again), "code": _code(_texts(sink)[0])},
    )
    assert done.status_code == 200
    assert Subscriber.objects.get().topics == ["status"]


def test_an_expired_code_asks_for_a_new_subscription(gateway, sink, subscribe_phone, client):
    page = subscribe_phone()
    code = _code(_texts(sink)[0])
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31)):
        late = client.post(
            reverse("subscription-confirm-phone"), {"token": _token(page), "code": code}
        )
    assert late.status_code == 400 and "expired" in late.content.decode()


@pytest.mark.parametrize(
    ("number", "says"),
    [
        ("+44 20 7946 0000", "Give a mobile number"),  # a fixed line
        ("+1 900 555 0100", "Give a mobile number"),  # premium rate: SMS-pumping fraud
        ("+1 800 555 0199", "Give a mobile number"),  # toll free
        ("12345", "with its country code"),
        ("+1 415 555 01000000", "not a valid phone number"),
        ("+49 1512 3456789", "numbers in US only"),
    ],
)
def test_numbers_nobody_should_text_are_refused(gateway, subscribe_phone, settings, number, says):
    settings.SMS_REGIONS = ["US"]
    page = subscribe_phone(number)
    assert page.status_code == 400 and says in page.content.decode()
    assert not Subscriber.objects.exists() and not Delivery.objects.exists()


def test_without_a_gateway_the_form_offers_no_phone(client, subscribe_phone):
    assert 'name="phone"' not in client.get(reverse("subscribe")).content.decode()
    Channel.objects.create(name="off", purpose="sms", url="json://127.0.0.1:9/", is_active=False)
    assert 'name="phone"' not in client.get(reverse("subscribe")).content.decode()
    page = subscribe_phone(email="reader@example.com")
    assert page.status_code == 201 and not Subscriber.objects.filter(channel="sms").exists()


def test_sms_go_to_the_gateway_of_the_moment_and_fail_without_one(gateway, sink, ship, channel):
    Subscriber.objects.create(channel="sms", phone=NUMBER, confirmed_at=NOW, on_released=True)
    Channel.objects.filter(pk=gateway.pk).update(is_active=False)
    ship()
    [delivery] = Delivery.objects.filter(channel="sms")
    assert delivery.status == "pending" and "No SMS gateway" in delivery.last_error
    replacement = channel("New gateway", "ok/sms", purpose="sms", topics=[])
    outbox.delivery_retry(ids=[delivery.pk])  # its task is sent after the commit: not here
    sending.deliver([delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.via == replacement
    assert len(_texts(sink)) == 1
