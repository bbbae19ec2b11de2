"""The outbox: deliveries written with their event, sent once, retried with backoff, never lost."""

import datetime as dt
import json
import threading

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction

from notifications import outbox, sending, subscriptions, webhooks
from notifications.messages import Content
from notifications.models import Delivery, Message
from releases import services as releases
from tests.helpers import NOW, WED_WINDOW, postgres_only, threaded_db

pytestmark = pytest.mark.django_db
START, DONE = WED_WINDOW + dt.timedelta(minutes=5), WED_WINDOW + dt.timedelta(minutes=40)


def test_a_completed_release_reaches_exactly_the_subscribers_who_asked(
    ship, subscribe, sink, client_component, api_component
):
    wanted = subscribe(f"{sink.url}/ok/all")
    scoped = subscribe(f"{sink.url}/ok/scoped", components=[api_component])
    subscribe(f"{sink.url}/ok/other-component", components=[client_component])
    subscribe(f"{sink.url}/ok/notices-only", topics=["notices"])
    unconfirmed = subscribe(f"{sink.url}/ok/unconfirmed")
    unconfirmed.confirmed_at = None
    unconfirmed.save()
    email = subscribe("reader@example.com", topics=["released"])

    release = ship()

    paths = sorted(r.path for r in sink.ok())
    assert paths == ["/ok/all", "/ok/scoped"]
    [message] = Message.objects.filter(kind="released")
    assert message.event.action == "complete" and message.release == release
    assert {d.subscriber for d in message.deliveries.all()} == {wanted, scoped, email}
    assert set(message.deliveries.values_list("status", flat=True)) == {"delivered"}
    [sent] = mail.outbox
    assert sent.to == ["reader@example.com"] and sent.subject.startswith("[Nightshift] Released")


def test_the_webhook_body_is_signed_and_names_its_delivery(ship, subscribe, sink, anon_api):
    subscriber = subscribe(f"{sink.url}/ok/signed")
    ship()
    [received] = sink.ok()
    delivery = Delivery.objects.get(subscriber=subscriber)
    headers = received.headers
    assert headers["Nightshift-Delivery"] == str(delivery.uuid)
    assert headers["Nightshift-Event"] == "released"
    assert webhooks.verify(
        subscriber.secret,
        headers["Nightshift-Timestamp"],
        received.body,
        headers["Nightshift-Signature"],
    )
    body = json.loads(received.body)
    assert body["type"] == "released" and body["id"] == str(delivery.message_id)
    assert body["delivery"] == str(delivery.uuid)
    release = body["data"]["release"]
    assert release["url"].endswith(f"/releases/items-api/{release['version']}/")
    # The release as the public notes API gives it: a receiver parses one documented shape,
    # and internal items never leave (only the public one is listed).
    with time_machine.travel(DONE, tick=False):  # shipped at DONE: public from its start
        [day] = anon_api.get("/api/v1/notes/").json()["results"]
    assert {k: v for k, v in release.items() if k != "url"} == day["releases"][0]
    assert [i["title"] for g in release["items"] for i in g["items"]] == ["Search is faster"]


def test_deliveries_are_written_in_the_events_transaction_or_not_at_all(
    make_release, engineer, subscribe
):
    subscribe("reader@example.com")
    release = releases.release_announce(release=make_release(), by=engineer, at=NOW)
    release = releases.release_start(release=release, by=engineer, at=START)
    with pytest.raises(RuntimeError), transaction.atomic():
        releases.release_complete(release=release, by=engineer, at=DONE)
        assert Delivery.objects.count() == 1  # queued with the event…
        raise RuntimeError("something later in the same request fails")
    assert Delivery.objects.count() == 0  # …and gone with it
    assert Message.objects.count() == 0


def test_one_cause_queues_one_message_and_one_delivery_per_address(
    db, django_capture_on_commit_callbacks
):
    content = Content("Hello", "Body", {})
    recipients = [
        outbox.Recipient("email", "a@example.com"),
        outbox.Recipient("email", "A@example.com"),  # the same mailbox
        outbox.Recipient("email", "b@example.com"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        first = outbox.queue(
            key="k", kind="released", content=content, recipients=recipients, at=NOW
        )
        again = outbox.queue(
            key="k", kind="released", content=content, recipients=recipients, at=NOW
        )
    assert first is not None and again is None
    assert Delivery.objects.count() == 2
    assert sorted(m.to[0].lower() for m in mail.outbox) == ["a@example.com", "b@example.com"]


def _sweep_until_settled(capture, limit=40):
    """Run the sweeper at each delivery's next attempt, as the schedule would, until done."""
    for _ in range(limit):
        waiting = Delivery.objects.filter(status="pending").order_by("next_attempt_at").first()
        if waiting is None:
            return
        with time_machine.travel(waiting.next_attempt_at, tick=False), capture(execute=True):
            outbox.sweep()
    raise AssertionError("deliveries never settled")


def test_a_failing_endpoint_that_recovers_is_delivered_once_and_a_dead_one_ends_dead(
    ship, subscribe, sink, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 5
    flaky = subscribe(f"{sink.url}/flaky/3/flaky")
    down = subscribe(f"{sink.url}/down/down")
    fine = [subscribe(f"{sink.url}/ok/{i}") for i in range(3)]
    ship()
    # The healthy subscribers were served at once, whatever the others do.
    assert sorted(r.path for r in sink.ok()) == [f"/ok/{i}" for i in range(3)]

    _sweep_until_settled(django_capture_on_commit_callbacks)

    flaky_delivery = Delivery.objects.get(subscriber=flaky)
    assert (flaky_delivery.status, flaky_delivery.attempts) == ("delivered", 4)
    flaky_hits = [r for r in sink.received if r.path == "/flaky/3/flaky"]
    assert [r.status for r in flaky_hits] == [503, 503, 503, 204]
    # Every attempt carried the same delivery id: the receiver's idempotency key.
    assert {r.headers["Nightshift-Delivery"] for r in flaky_hits} == {str(flaky_delivery.uuid)}

    dead = Delivery.objects.get(subscriber=down)
    assert (dead.status, dead.attempts) == ("dead", 5)
    assert "500" in dead.last_error
    assert len([r for r in sink.received if r.path == "/down/down"]) == 5
    for subscriber in fine:
        assert Delivery.objects.get(subscriber=subscriber).attempts == 1
    assert len(sink.ok()) == 4  # three healthy + one recovered; nothing twice


def test_retries_back_off_exponentially_with_jitter(settings):
    settings.DELIVERY_BACKOFF_SECONDS, settings.DELIVERY_BACKOFF_MAX_SECONDS = 30, 3600
    for attempts, ceiling in [(1, 30), (2, 60), (3, 120), (4, 240), (8, 3600), (20, 3600)]:
        delays = {outbox.backoff(attempts).total_seconds() for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered, not in lockstep


def test_the_sweeper_leaves_deliveries_in_flight_alone(
    db, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_LEASE_SECONDS, settings.DELIVERY_REQUEUE_SECONDS = 60, 300
    content = Content("Hello", "Body", {})
    with time_machine.travel(NOW, tick=False):
        outbox.queue(  # on_commit not run: as if the broker lost the task
            key="k",
            kind="released",
            content=content,
            recipients=[outbox.Recipient("email", "a@example.com")],
            at=NOW,
        )
    delivery = Delivery.objects.get()
    with time_machine.travel(NOW + dt.timedelta(seconds=60), tick=False):
        assert outbox.sweep() == 0  # queued a minute ago: maybe still in the broker
    Delivery.objects.update(lease_until=NOW + dt.timedelta(seconds=400))  # a worker holds it
    with time_machine.travel(NOW + dt.timedelta(seconds=301), tick=False):
        assert outbox.sweep() == 0
    with (
        time_machine.travel(NOW + dt.timedelta(seconds=401), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert outbox.sweep() == 1  # the lease ran out: the worker died
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(mail.outbox) == 1


def test_a_dead_delivery_can_be_retried(db, settings, django_capture_on_commit_callbacks):
    content = Content("Hello", "Body", {})
    with django_capture_on_commit_callbacks(execute=True):
        outbox.queue(
            key="k",
            kind="released",
            content=content,
            recipients=[outbox.Recipient("email", "a@example.com")],
            at=NOW,
        )
    Delivery.objects.update(status="dead", attempts=8, last_error="550 mailbox full")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.delivery_retry(ids=Delivery.objects.values_list("pk", flat=True)) == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 1, "")
    assert len(mail.outbox) == 1


def test_unsubscribing_skips_what_is_still_pending(ship, subscribe, sink, settings):
    settings.EMAIL_BACKEND = "tests.notifications.backends.DownBackend"
    subscriber = subscribe("reader@example.com")
    ship()
    assert Delivery.objects.get().status == "pending"
    subscriptions.subscriber_unsubscribe(subscriber=subscriber)
    assert Delivery.objects.get().status == "skipped"


def test_a_delivery_task_sends_nothing_already_delivered(ship, subscribe, sink):
    subscribe(f"{sink.url}/ok/once")
    ship()
    ids = list(Delivery.objects.values_list("pk", flat=True))
    # The ORM broker redelivers a task whose worker died after sending: nothing goes twice.
    assert sending.deliver(ids) == {"delivered": 0, "failed": 0, "skipped": 0}
    assert len(sink.received) == 1


def test_a_batch_out_of_time_gives_the_rest_back_without_using_their_attempts(
    db, settings, sink, subscribe, django_capture_on_commit_callbacks
):
    # A batch stops two webhook timeouts before its lease ends; here that is at once, so each
    # task sends one delivery and queues the others again.
    settings.DELIVERY_LEASE_SECONDS, settings.WEBHOOK_TIMEOUT_SECONDS = 1, 1
    for i in range(3):
        subscribe(f"{sink.url}/ok/{i}")
    content = Content("Released", "Body", {})
    with django_capture_on_commit_callbacks(execute=True):
        outbox.queue(
            key="k",
            kind="released",
            content=content,
            recipients=outbox.topic_recipients("released", None),
            at=NOW,
        )
    assert sorted(r.path for r in sink.ok()) == ["/ok/0", "/ok/1", "/ok/2"]
    assert set(Delivery.objects.values_list("status", "attempts")) == {("delivered", 1)}


@postgres_only
@threaded_db
def test_two_clusters_sweeping_at_once_queue_different_deliveries(monkeypatch):
    """SKIP LOCKED: the second sweep neither waits for the first nor queues what it holds."""
    message = Message.objects.create(
        key="k", kind="released", subject="s", text="t", created_at=NOW
    )
    Delivery.objects.bulk_create(
        Delivery(
            message=message,
            channel="email",
            address=f"r{i}@example.com",
            next_attempt_at=NOW,
            created_at=NOW,
        )
        for i in range(5)
    )
    queued: dict[str, list[int]] = {}
    first_holds, second_done = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            outbox.sweep(now=NOW + dt.timedelta(seconds=1), limit=3)
            first_holds.set()
            # Still inside its transaction, its three rows locked, until the second is done.
            queued["second_finished_meanwhile"] = second_done.wait(5)
        connection.close()

    def second():
        first_holds.wait(10)
        with transaction.atomic():
            ids = list(Delivery.objects.filter(queued_at__isnull=True).values_list("pk", flat=True))
            queued["second_sees"] = ids
            outbox.sweep(now=NOW + dt.timedelta(seconds=1))
        second_done.set()
        connection.close()

    # After each commit, in the committing thread: record which sweep queued what.
    monkeypatch.setattr(
        outbox, "enqueue", lambda ids: queued.__setitem__(threading.current_thread().name, ids)
    )
    threads = [threading.Thread(target=f, name=f.__name__) for f in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert queued["second_finished_meanwhile"], "the second sweep waited for the first's locks"
    assert len(queued["first"]) == 3 and len(queued["second"]) == 2
    assert set(queued["first"]).isdisjoint(queued["second"])
