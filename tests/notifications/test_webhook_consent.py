"""A webhook subscription is active only once its endpoint consents, and the subscribe form
cannot be used to make Nightshift hammer a host, nor to learn which URLs are subscribed."""

import datetime as dt
import json
import re
import socket

import pytest
import time_machine
from django.urls import reverse

from notifications import outbox, subscriptions, tasks, webhooks
from notifications.messages import Content
from notifications.models import Delivery, Message, Subscriber
from tests.helpers import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    def run(url, **extra):
        data = {"url": url, "topics": ["released", "notices"]}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("subscribe"), data, **extra)

    return run


@pytest.fixture
def later(django_capture_on_commit_callbacks):
    """Run the schedule's work (sweep, scheduled work) at a later instant."""

    def run(instant, work):
        with (
            time_machine.travel(instant, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return work()

    return run


def _secret(response) -> str:
    return re.search(r'<code id="secret">([^<]+)</code>', response.content.decode())[1]


def test_a_webhook_is_active_only_once_its_endpoint_echoes_the_signed_challenge(client, post, sink):
    response = post(f"{sink.url}/echo/hook")
    assert response.status_code == 201
    page = response.content.decode()
    assert "Verify your endpoint" in page and "subscription.verify" in page
    assert '2xx within 5 seconds with the JSON body <code>{"challenge": "…"}</code>' in page
    secret = _secret(response)
    assert client.get(reverse("subscribe")).content.decode().count(secret) == 0  # shown once

    [request] = sink.received
    headers, body = request.headers, request.json
    assert headers["Nightshift-Event"] == "subscription.verify" == body["type"]
    assert webhooks.verify(
        secret, headers["Nightshift-Timestamp"], request.body, headers["Nightshift-Signature"]
    )
    assert len(body["data"]["challenge"]) >= 32 and body["data"]["topics"] == [
        "notices",
        "released",
    ]
    assert request.status == 200  # the sink echoed the challenge…
    subscriber = Subscriber.objects.get()
    assert subscriber.is_active and subscriber.secret == secret  # …so it is active
    delivery = Delivery.objects.get()
    assert delivery.message.kind == "subscription.verify" and delivery.status == "delivered"
    assert headers["Nightshift-Delivery"] == str(delivery.uuid)

    # The verification carries the endpoint's own unsubscribe link, and it works.
    unsubscribe = body["data"]["unsubscribe"].replace("http://127.0.0.1:8000", "")
    client.post(unsubscribe)
    subscriber.refresh_from_db()
    assert not subscriber.is_active


def test_an_endpoint_that_does_not_echo_the_challenge_hears_nothing_else(
    post, sink, later, django_capture_on_commit_callbacks
):
    with time_machine.travel(NOW, tick=False):
        post(f"{sink.url}/ok/hook")  # answers 204 to anything: not consent
    subscriber = Subscriber.objects.get()
    assert not subscriber.is_active and subscriber.confirmed_at is None
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "challenge" in delivery.last_error

    # News goes to active subscribers only: this URL is not one.
    with django_capture_on_commit_callbacks(execute=True):
        outbox.queue(
            key="k",
            kind="released",
            content=Content("Released: x", "Body", {}),
            recipients=outbox.topic_recipients("released", None),
            at=NOW,
        )
    assert sink.count() == 1

    # The verification is retried with backoff (the same delivery), and stays unanswered.
    later(NOW + dt.timedelta(minutes=5), outbox.sweep)
    assert [r.json["type"] for r in sink.received] == ["subscription.verify"] * 2
    assert len({r.headers["Nightshift-Delivery"] for r in sink.received}) == 1
    subscriber.refresh_from_db()
    assert not subscriber.is_active


def test_a_verification_lost_by_the_broker_is_sent_by_the_sweeper(post, sink, later, monkeypatch):
    with time_machine.travel(NOW, tick=False), monkeypatch.context() as lost:
        lost.setattr(outbox, "enqueue", lambda ids: None)
        post(f"{sink.url}/echo/hook")
    assert sink.count() == 0 and not Subscriber.objects.get().is_active
    later(NOW + dt.timedelta(minutes=6), outbox.sweep)  # DELIVERY_REQUEUE_SECONDS later
    assert sink.count() == 1 and Subscriber.objects.get().is_active


def test_a_subscription_withdrawn_before_it_is_verified_gets_no_verification(
    post, sink, later, monkeypatch
):
    with time_machine.travel(NOW, tick=False), monkeypatch.context() as lost:
        lost.setattr(outbox, "enqueue", lambda ids: None)
        post(f"{sink.url}/echo/hook")
    subscriptions.subscriber_unsubscribe(subscriber=Subscriber.objects.get())
    later(NOW + dt.timedelta(minutes=6), outbox.sweep)
    assert sink.count() == 0 and Delivery.objects.get().status == "skipped"


def test_unverified_webhooks_expire_after_a_day_and_the_url_may_be_subscribed_again(
    post, sink, later
):
    with time_machine.travel(NOW, tick=False):
        post(f"{sink.url}/ok/hook")
    assert (
        later(NOW + dt.timedelta(hours=23), tasks.scheduled_work)["unverified_webhooks_expired"]
        == 0
    )
    assert Subscriber.objects.count() == 1

    done = later(NOW + subscriptions.VERIFY_WITHIN + dt.timedelta(minutes=1), tasks.scheduled_work)
    assert done["unverified_webhooks_expired"] == 1
    assert not Subscriber.objects.exists() and not Delivery.objects.exists()
    assert not Message.objects.filter(kind="subscription.verify").exists()
    later(NOW + dt.timedelta(days=2), outbox.sweep)
    assert sink.count() == 1  # nothing but the first verification ever went there

    with time_machine.travel(NOW + dt.timedelta(days=2), tick=False):
        again = post(f"{sink.url}/echo/hook")
    assert again.status_code == 201 and Subscriber.objects.get().is_active
    assert sink.count() == 2


def test_the_form_cannot_make_nightshift_hammer_one_host(post, sink, later):
    # 40 URLs on one host, each from its own client (so the limit per client does not apply).
    with time_machine.travel(NOW, tick=False):
        answers = [
            post(f"{sink.url}/ok/hook?n={n}", REMOTE_ADDR=f"203.0.113.{n}") for n in range(40)
        ]
    per_host = subscriptions.UNVERIFIED_PER_HOST
    assert [a.status_code for a in answers] == [201] * per_host + [429] * (40 - per_host)
    refused = answers[per_host]
    assert "waiting for their endpoint to answer" in refused.content.decode()
    assert 23 * 3600 < int(refused["Retry-After"]) <= 24 * 3600
    assert sink.count() == per_host and Subscriber.objects.count() == per_host

    # At a time: once the waiting ones expire, the host may be asked again.
    later(NOW + subscriptions.VERIFY_WITHIN + dt.timedelta(minutes=1), tasks.scheduled_work)
    with time_machine.travel(NOW + dt.timedelta(days=1, hours=1), tick=False):
        assert post(f"{sink.url}/echo/hook", REMOTE_ADDR="198.51.100.1").status_code == 201
    assert sink.count() == per_host + 1


def test_names_that_point_at_one_address_share_its_verification_requests(post, sink, monkeypatch):
    monkeypatch.setattr(subscriptions, "VERIFY_PER_ADDRESS", 2)
    port = sink.server.server_address[1]

    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):  # a wildcard DNS record: every name, one machine
        return real("127.0.0.1" if host.endswith(".example.com") else host, *args, **kwargs)

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", resolve)
    answers = [
        post(f"http://n{n}.example.com:{port}/ok/hook", REMOTE_ADDR=f"203.0.113.{n}")
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [201, 201, 429, 429]
    assert "Too many verification requests" in answers[2].content.decode()
    assert sink.count() == 2


def test_the_answer_does_not_tell_whether_a_url_is_subscribed(post, sink):
    known, waiting = f"{sink.url}/echo/known", f"{sink.url}/ok/waiting"
    first = post(known)
    post(waiting)
    original = Subscriber.objects.get(url=known)
    assert original.is_active and _secret(first) == original.secret

    answers = {
        url: post(url, REMOTE_ADDR="203.0.113.9")
        for url in (known, waiting, f"{sink.url}/echo/fresh")
    }
    pages = {
        (a.status_code, a.content.decode().replace(url, "URL").replace(_secret(a), "SECRET"))
        for url, a in answers.items()
    }
    assert len(pages) == 1 and next(iter(pages))[0] == 201  # one answer for all three
    assert original.secret not in answers[known].content.decode()  # never shown again
    # Nothing new for the known URLs, nothing sent to them; the fresh one is verified.
    assert [r.path for r in sink.received] == ["/echo/known", "/ok/waiting", "/echo/fresh"]
    assert Subscriber.objects.count() == 3
    unchanged = Subscriber.objects.get(url=known)
    assert unchanged.secret == original.secret and unchanged.is_active
    assert json.loads(sink.received[-1].body)["type"] == "subscription.verify"


def test_a_url_that_unsubscribed_may_subscribe_again_and_consents_again(client, post, sink):
    first = post(f"{sink.url}/echo/hook")
    unsubscribe = sink.received[0].json["data"]["unsubscribe"].replace("http://127.0.0.1:8000", "")
    client.post(unsubscribe)
    assert not Subscriber.objects.get().is_active

    again = post(f"{sink.url}/echo/hook")
    subscriber = Subscriber.objects.get()  # the same subscriber, its history kept
    assert subscriber.is_active and subscriber.secret == _secret(again) != _secret(first)
    request = sink.received[-1]
    assert request.json["type"] == "subscription.verify" and webhooks.verify(
        subscriber.secret,
        request.headers["Nightshift-Timestamp"],
        request.body,
        request.headers["Nightshift-Signature"],
    )
    assert subscriber.deliveries.count() == 2
