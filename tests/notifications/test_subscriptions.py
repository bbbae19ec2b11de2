"""The public subscribe page: double opt-in, one-click unsubscribe, webhooks with a secret."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from notifications import services
from notifications.models import Subscriber
from tests.conftest import NOW

pytestmark = pytest.mark.django_db


def _link(message, name: str) -> str:
    [url] = re.findall(rf"http://\S+/{name}/\S+/", message.body)
    return url.replace("http://127.0.0.1:8000", "")


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    def run(url, data=None, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data or {}, **extra)

    return run


def test_the_page_offers_every_topic_and_component(client, api_component):
    page = client.get(reverse("subscribe")).content.decode()
    for label in ["Items to be released", "Released", "Rolled back", "Advance notices"]:
        assert label in page
    assert "Items API" in page and 'name="email"' in page and 'name="url"' in page


def test_an_email_subscription_sends_nothing_but_the_confirmation_until_confirmed(
    client, post, api_component
):
    response = post(
        reverse("subscribe"),
        {
            "email": "Reader@Example.com",
            "topics": ["released", "notices"],
            "components": [api_component.pk],
        },
    )
    assert response.status_code == 201 and "Check your mailbox" in response.content.decode()
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "reader@example.com" and not subscriber.is_active
    assert Subscriber.objects.for_topic("released", api_component.pk).count() == 0
    [confirmation] = mail.outbox
    assert confirmation.to == ["reader@example.com"]
    assert "List-Unsubscribe" not in confirmation.extra_headers

    link = _link(confirmation, "subscribe/confirm")
    page = client.get(link)  # a mail scanner following the link changes nothing
    assert "Yes, send me release news" in page.content.decode()
    subscriber.refresh_from_db()
    assert not subscriber.is_active

    confirmed = post(link)
    assert "Subscription confirmed" in confirmed.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.is_active
    assert subscriber.topics == ["released", "notices"]
    assert list(subscriber.components.all()) == [api_component]
    assert list(Subscriber.objects.for_topic("released", api_component.pk)) == [subscriber]


def test_new_preferences_for_a_known_address_wait_for_its_confirmation(client, post):
    with time_machine.travel(NOW, tick=False):
        post(reverse("subscribe"), {"email": "reader@example.com", "topics": ["released"]})
        post(_link(mail.outbox[0], "subscribe/confirm"))
    # Someone else asks, later, to change what this address receives:
    with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
        post(reverse("subscribe"), {"email": "reader@example.com", "topics": ["items"]})
    assert len(mail.outbox) == 2
    subscriber = Subscriber.objects.get()
    assert subscriber.topics == ["released"]
    post(_link(mail.outbox[-1], "subscribe/confirm"))
    subscriber.refresh_from_db()
    assert subscriber.topics == ["items"]


def test_the_form_cannot_flood_a_mailbox_with_confirmations(post):
    with time_machine.travel(NOW, tick=False) as traveller:
        for _ in range(5):
            response = post(
                reverse("subscribe"), {"email": "victim@example.com", "topics": ["released"]}
            )
            assert response.status_code == 201  # the same answer: nothing to learn from it
            traveller.shift(dt.timedelta(minutes=1))
        assert len(mail.outbox) == 1
        traveller.shift(dt.timedelta(minutes=10))
        post(reverse("subscribe"), {"email": "victim@example.com", "topics": ["released"]})
    assert len(mail.outbox) == 2


def test_every_email_carries_a_one_click_unsubscribe(
    client, post, subscribe, django_capture_on_commit_callbacks
):
    subscriber = subscribe("reader@example.com")
    content = services.messages.Content("Released: x", "Body", {})
    recipients = services._subscribers("released", None)
    with django_capture_on_commit_callbacks(execute=True):
        services.queue(
            key="k",
            kind="released",
            content=content,
            recipients=recipients,
            at=subscriber.created_at,
        )
    [sent] = mail.outbox
    link = _link(sent, "unsubscribe")
    assert sent.extra_headers["List-Unsubscribe"] == f"<http://127.0.0.1:8000{link}>"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # RFC 8058: the mail client POSTs, with no cookie and no CSRF token.
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(link, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "Unsubscribed" in response.content.decode()
    subscriber.refresh_from_db()
    assert not subscriber.is_active


def test_a_forged_or_broken_link_says_so(client):
    for name in ("unsubscribe", "acknowledge", "subscription-confirm"):
        response = client.get(reverse(name, args=["not-a-token"]))
        assert response.status_code == 400
        assert "not valid" in response.content.decode()


def test_a_token_of_one_kind_does_not_work_as_another(client, subscribe):
    subscriber = subscribe("reader@example.com")
    unsubscribe = services.unsubscribe_link(subscriber.pk).split("/unsubscribe/")[1]
    response = client.post(reverse("subscription-confirm", args=[unsubscribe.strip("/")]))
    assert response.status_code == 400


def test_a_webhook_subscription_shows_its_secret_once(client, post, sink):
    response = post(reverse("subscribe"), {"url": f"{sink.url}/ok/hook", "topics": ["released"]})
    assert response.status_code == 201
    subscriber = Subscriber.objects.get()
    page = response.content.decode()
    assert subscriber.is_active and subscriber.secret in page
    assert "Answer 2xx within 5 seconds" in page  # WEBHOOK_TIMEOUT_SECONDS
    assert client.get(reverse("subscribe")).content.decode().count(subscriber.secret) == 0


def test_a_webhook_to_a_private_address_is_refused_in_production(client, post, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = post(reverse("subscribe"), {"url": "https://10.0.0.5/hook", "topics": ["released"]})
    assert response.status_code == 400
    assert "not a public address" in response.content.decode()
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"topics": ["released"]}, "Give an e-mail address or a webhook URL"),
        (
            {"email": "a@example.com", "url": "https://93.184.216.34/", "topics": ["released"]},
            "one of them",
        ),
        ({"email": "a@example.com"}, "This field is required"),
        ({"email": "not-an-address", "topics": ["released"]}, "valid email"),
    ],
)
def test_bad_input_is_named_and_nothing_is_written(post, data, words):
    response = post(reverse("subscribe"), data)
    assert response.status_code == 400
    assert words.lower() in response.content.decode().lower()
    assert not Subscriber.objects.exists() and not mail.outbox
