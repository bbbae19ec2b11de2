"""The public subscribe page: double opt-in, one-click unsubscribe, webhooks with a secret."""

import datetime as dt
import os
import re
import threading

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.urls import reverse

from notifications import links, messages, outbox, subscriptions
from notifications.models import Delivery, Subscriber
from tests.helpers import NOW, threaded_db

pytestmark = pytest.mark.django_db


def signed_link(message, name: str) -> str:
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

    link = signed_link(confirmation, "subscribe/confirm")
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
        post(signed_link(mail.outbox[0], "subscribe/confirm"))
    # Someone else asks, later, to change what this address receives:
    with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
        post(reverse("subscribe"), {"email": "reader@example.com", "topics": ["items"]})
    assert len(mail.outbox) == 2
    subscriber = Subscriber.objects.get()
    assert subscriber.topics == ["released"]
    post(signed_link(mail.outbox[-1], "subscribe/confirm"))
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
    content = messages.Content("Released: x", "Body", {})
    recipients = outbox.topic_recipients("released", None)
    with django_capture_on_commit_callbacks(execute=True):
        outbox.queue(
            key="k",
            kind="released",
            content=content,
            recipients=recipients,
            at=subscriber.created_at,
        )
    [sent] = mail.outbox
    link = signed_link(sent, "unsubscribe")
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
    unsubscribe = links.unsubscribe_link(subscriber.pk).split("/unsubscribe/")[1]
    response = client.post(reverse("subscription-confirm", args=[unsubscribe.strip("/")]))
    assert response.status_code == 400


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


# --- Nobody's mailbox is flooded, and the answer tells nothing ----------------------------------


def _subscribe_email(post, email, **extra):
    return post(reverse("subscribe"), {"email": email, "topics": ["released"]}, **extra)


def test_one_mailbox_gets_one_confirmation_however_its_address_is_dressed(post):
    dressed = [
        "victim@example.com",
        "Victim+1@Example.com",
        '"victim"@example.com',
        '"victim+x"@example.com',
        "victim+2@example.com",
        "VICTIM+3@EXAMPLE.COM",
    ]
    with time_machine.travel(NOW, tick=False) as traveller:
        for email in dressed:
            response = _subscribe_email(post, email)
            # The same answer each time: nothing to learn about the mailbox from it.
            assert response.status_code == 201
            assert "Check your mailbox" in response.content.decode()
            traveller.shift(dt.timedelta(seconds=1))
        assert [m.to for m in mail.outbox] == [["victim@example.com"]]
        # Only the address that was sent a confirmation is written; the others left no trace.
        assert list(Subscriber.objects.values_list("email", flat=True)) == ["victim@example.com"]
        traveller.shift(subscriptions.CONFIRM_EVERY)
        _subscribe_email(post, "victim+4@example.com")
    assert mail.outbox[-1].to == ["victim+4@example.com"] and len(mail.outbox) == 2


def test_a_mailbox_gets_a_few_confirmations_a_day_at_most(post):
    with time_machine.travel(NOW, tick=False) as traveller:
        for n in range(subscriptions.CONFIRM_DAILY + 2):
            _subscribe_email(post, f"victim+{n}@example.com")
            traveller.shift(subscriptions.CONFIRM_EVERY + dt.timedelta(minutes=1))
        assert len(mail.outbox) == subscriptions.CONFIRM_DAILY
        traveller.shift(dt.timedelta(days=1))
        _subscribe_email(post, "victim@example.com")
    assert len(mail.outbox) == subscriptions.CONFIRM_DAILY + 1


def test_a_client_that_subscribes_too_often_is_told_to_wait_and_nothing_is_written(post, settings):
    settings.SUBSCRIBE_RATE = "10/hour"
    with time_machine.travel(NOW, tick=False):
        # 40 submissions in a few seconds, each to a different mailbox (the worst case).
        answers = [
            _subscribe_email(post, f"reader{n}@example.com", REMOTE_ADDR="203.0.113.7")
            for n in range(40)
        ]
        other_client = _subscribe_email(post, "someone@example.com", REMOTE_ADDR="203.0.113.8")
    assert [a.status_code for a in answers] == [201] * 10 + [429] * 30
    refused = answers[10]
    assert int(refused["Retry-After"]) > 0
    assert "Too many subscriptions from your address" in refused.content.decode()
    assert 'name="email"' in refused.content.decode()  # the form again, with its error
    assert Subscriber.objects.count() == 11 and len(mail.outbox) == 11
    assert not Subscriber.objects.filter(email="reader10@example.com").exists()
    assert other_client.status_code == 201


def test_the_client_is_the_address_the_trusted_proxy_saw(post, settings):
    settings.SUBSCRIBE_RATE = "1/hour"
    settings.TRUSTED_PROXY_COUNT = 1
    # X-Forwarded-For is the client's to write; only the proxy's entry (the last) counts.
    first = _subscribe_email(
        post, "a@example.com", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.4"
    )
    again = _subscribe_email(
        post, "b@example.com", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="2.2.2.2, 198.51.100.4"
    )
    assert (first.status_code, again.status_code) == (201, 429)


@pytest.mark.parametrize("email", ["victim@[127.0.0.1]", "victim@[::1]"])
def test_an_address_at_an_ip_literal_is_refused(post, email):
    response = _subscribe_email(post, email)
    assert response.status_code == 400
    assert "an IP address in brackets is not accepted" in response.content.decode()
    assert not Subscriber.objects.exists() and not mail.outbox


def test_the_answer_does_not_tell_whether_an_address_is_subscribed(client, post):
    with time_machine.travel(NOW, tick=False):
        _subscribe_email(post, "known@example.com")
        post(signed_link(mail.outbox[0], "subscribe/confirm"))
    with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
        known = _subscribe_email(post, "known@example.com")
        new = _subscribe_email(post, "fresh@example.com")
        # Within the ten minutes, nothing more is sent; the answer is the same still.
        known_again = _subscribe_email(post, "known@example.com")
        new_again = _subscribe_email(post, "fresh@example.com")
    pages = [
        (r.status_code, r.content.decode().replace(address, "ADDRESS"))
        for r, address in [
            (known, "known@example.com"),
            (new, "fresh@example.com"),
            (known_again, "known@example.com"),
            (new_again, "fresh@example.com"),
        ]
    ]
    assert pages[0][0] == 201 and all(page == pages[0] for page in pages)
    assert Subscriber.objects.get(email="known@example.com").is_active  # unchanged until confirmed
    assert [m.to for m in mail.outbox[1:]] == [["known@example.com"], ["fresh@example.com"]]


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="two transactions at once: SQLite's test database locks the whole table",
)
@threaded_db
def test_confirmations_asked_at_the_same_moment_reach_the_mailbox_once(monkeypatch):
    """The first submission holds its transaction open, its confirmation not yet committed; a
    second, for another dressing of the same mailbox, finds none in the database."""
    holding, second_done = threading.Event(), threading.Event()
    queue = outbox.queue

    def slow_queue(**kwargs):
        message = queue(**kwargs)
        if threading.current_thread().name == "first":
            holding.set()
            second_done.wait(10)
        return message

    monkeypatch.setattr(subscriptions, "queue", slow_queue)
    monkeypatch.setattr(outbox, "enqueue", lambda ids: None)

    def run(email):
        try:
            subscriptions.subscribe(email=email, topics=["released"], client="")
        finally:
            connection.close()

    first = threading.Thread(target=run, args=["victim@example.com"], name="first")
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=run, args=["victim+1@example.com"], name="second")
    second.start()
    second.join(10)
    second_done.set()
    first.join(10)
    assert list(Delivery.objects.values_list("address", flat=True)) == ["victim@example.com"]


def test_the_migration_gives_existing_subscribers_their_mailbox_and_host(subscribe):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("notifications.migrations.0004_public_form_limits")
    subscribe('"Reader+news"@Example.com')
    subscribe("https://Hooks.Example.com:8443/in?x=1")
    Subscriber.objects.update(mailbox="", host="")  # as they were before the migration
    migration.fill(apps, None)
    assert set(Subscriber.objects.values_list("mailbox", "host")) == {
        ("reader@example.com", ""),
        ("", "hooks.example.com"),
    }
