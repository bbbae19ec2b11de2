"""Channels: release and status news posted through real Apprise to accounts (here, json:// and
form:// URLs pointing at a local sink), through the outbox: once each, retried, health kept."""

import datetime as dt
import json
import re

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from notes import services as notes
from notifications import channels, outbox, sending
from notifications.models import Channel, Delivery, Message
from releases import services as releases
from status import services as incidents
from tests.helpers import NOW, utc
from tests.notes.test_notices import COMPLETE, FAR_WINDOW
from tests.notifications.conftest import DONE, posted

pytestmark = pytest.mark.django_db


@pytest.fixture
def publish(make_release, engineer, django_capture_on_commit_callbacks):
    def run(at=NOW):
        release = make_release(version="10.0.0", impact="perceptible", scheduled_start=FAR_WINDOW)
        notice = notes.notice_create(release=release, by=engineer, at=at, **COMPLETE)
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            return notes.notice_publish(notice=notice, by=engineer, at=at)

    return run


def _deliveries(channel):
    return Delivery.objects.filter(via=channel).select_related("message").order_by("pk")


def test_a_release_a_rollback_a_notice_and_a_status_change_reach_their_channels_once_each(
    channel, sink, ship, publish, engineer, operator, api_component, client_component,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """The guide's two handles: "@releases" posts release news, "@status" the service's."""
    at_releases = channel("@releases", "ok/releases", topics=["released", "rolled_back", "notices"])
    at_status = channel("@status", "ok/status", scheme="form", topics=["status"])
    elsewhere = channel("@client", "ok/client", components=[client_component])

    release = ship()
    with time_machine.travel(DONE, tick=False), django_capture_on_commit_callbacks(execute=True):
        releases.release_rollback(release=release, by=engineer, reason="Errors up", at=DONE)
    publish()
    with time_machine.travel(DONE, tick=False), django_capture_on_commit_callbacks(execute=True):
        incidents.incident_open(
            title="Search is slow", impact="degraded_performance", components=[api_component],
            body="We are looking into it.", by=operator, at=DONE,
        )  # fmt: skip

    posts = {path: [posted(r) for r in sink.ok() if r.path == path] for path in
             ("/ok/releases", "/ok/status", "/ok/client")}  # fmt: skip
    assert [p["title"] for p in posts["/ok/releases"]] == [
        f"Released: {release.component.name} {release.version}",
        f"Rolled back: {release.component.name} {release.version}",
        f"Advance notice: {COMPLETE['headline']}",
    ]
    assert [p["title"] for p in posts["/ok/status"]] == ["Degraded performance: Search is slow"]
    assert posts["/ok/client"] == []  # its component had no news
    # Long form (these services take 32 KB): the subject and the e-mail's text.
    released = Message.objects.get(kind="released")
    assert posts["/ok/releases"][0]["message"] == released.text.strip()
    # Once each: one delivery per channel and message, delivered, through the channel.
    for target, kinds in [
        (at_releases, ["released", "rolled_back", "notice.published"]),
        (at_status, ["status.update"]),
    ]:
        sent = _deliveries(target)
        assert [d.message.kind for d in sent] == kinds
        assert {(d.status, d.attempts, d.channel, d.address) for d in sent} == {
            ("delivered", 1, "channel", target.name)
        }
        target.refresh_from_db()
        assert target.healthy and target.last_success_at is not None
    assert not _deliveries(elsewhere).exists()
    # A second sweep sends nothing again.
    assert outbox.sweep(now=DONE + dt.timedelta(hours=1)) == 0


def test_a_short_channel_posts_the_short_form_with_the_public_link_and_nothing_internal(
    channel, sink, ship, client, settings, engineer
):
    channel("@releases", "ok/short", topics=["released"], form="short")
    release = ship()

    [post] = [posted(r) for r in sink.ok()]
    message = Message.objects.get(kind="released")
    assert post["message"] == message.short and post["title"] == ""
    assert len(message.short) <= 280
    # The link is the release's public page, which anyone may read.
    link = message.short.rsplit(" ", 1)[1]
    assert link == message.data["release"]["url"]
    with time_machine.travel(DONE, tick=False):
        page = client.get(link.removeprefix(settings.SITE_URL))
    assert page.status_code == 200 and "Search is faster" in page.content.decode()
    assert "Search is faster" in message.short  # the public item
    for internal in ("Typo in errors", engineer.username, engineer.email, release.title):
        assert internal not in message.short and internal not in message.text


def test_a_channel_that_fails_is_retried_with_backoff_then_marked_unhealthy(
    channel, sink, ship, settings, engineer, client, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 4
    flaky = channel("@flaky", "flaky/1/x", topics=["released"])
    down = channel("@down", "down/y", topics=["released"])
    ship()

    assert [d.status for d in _deliveries(flaky)] == ["pending"]
    assert [d.attempts for d in _deliveries(down)] == [1]
    later = DONE
    for _ in range(3):  # the sweeper queues each again once its backoff has passed
        later += dt.timedelta(hours=7)
        with (
            time_machine.travel(later, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            outbox.sweep(now=later)
    [sent] = _deliveries(flaky)
    assert (sent.status, sent.attempts) == ("delivered", 2)
    [dead] = _deliveries(down)
    assert (dead.status, dead.attempts) == ("dead", 4)
    assert "500" in dead.last_error or "error" in dead.last_error.lower()
    flaky.refresh_from_db()
    down.refresh_from_db()
    assert flaky.healthy and flaky.consecutive_failures == 0
    assert not down.healthy and down.consecutive_failures == 4

    # The outbox page names the unhealthy channel, and only it.
    engineer.is_staff = True
    engineer.save()
    client.force_login(engineer)
    page = client.get(reverse("admin:notifications_delivery_changelist")).content.decode()
    assert (
        "Unhealthy channel" in page
        and "@down" in page
        and "@flaky" not in page.split('id="unhealthy-channels"')[1].split("</div>")[0]
    )
    # Fixed, and retried from the outbox: the retry goes, the channel is healthy again.
    Channel.objects.filter(pk=down.pk).update(url=flaky.url)
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.delivery_retry(ids=[dead.pk]) == 1
    dead.refresh_from_db()
    down.refresh_from_db()
    assert dead.status == "delivered" and down.healthy


def test_a_slow_channel_fails_within_the_timeout_and_keeps_its_attempt(
    channel, sink, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    slow = channel("@slow", "slow/3/z", topics=["released"])
    with django_capture_on_commit_callbacks(execute=True):
        assert channels.channel_test([slow]) == 1
    [delivery] = _deliveries(slow)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_error  # Apprise's own words: a read timeout
    slow.refresh_from_db()
    assert slow.consecutive_failures == 1 and slow.last_error == delivery.last_error


def test_an_inactive_or_deleted_channel_is_sent_nothing_queued_for_it(channel, sink):
    off = channel("@off", "ok/off", topics=["released"])
    gone = channel("@gone", "ok/gone", topics=["released"])
    queued = outbox.queue(
        key="t", kind="released", content=channels.messages.channel_test(off),
        recipients=outbox.topic_recipients("released", None), at=NOW,
    )  # fmt: skip
    assert sorted(queued.deliveries.values_list("address", flat=True)) == ["@gone", "@off"]
    Channel.objects.filter(pk=off.pk).update(is_active=False)
    gone.delete()
    outcome = sending.deliver(queued.deliveries.values_list("pk", flat=True))
    assert outcome == {"delivered": 0, "failed": 0, "skipped": 2}
    assert sink.count() == 0
    # An inactive channel is not queued for at all.
    assert outbox.topic_recipients("released", None) == []


def test_the_channel_url_is_a_secret_written_once_and_replaced_whole(engineer_api, sink):
    secret_url = "mastodons://s3cr3t-t0ken-value@mastodon.example/"
    created = engineer_api.post(
        "/api/v1/channels/",
        {"name": "@releases", "url": secret_url, "topics": ["released", "notices"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert "url" not in body and "s3cr3t" not in created.content.decode()
    assert body["service"] == "Mastodon" and body["masked_url"] == "mastodons://mastodon.example/…"
    assert body["form"] == "auto" and body["body_limit"] == 500  # Mastodon: the short form
    assert Channel.objects.get().short
    assert body["topics"] == ["released", "notices"] and body["all_components"] is True
    # Changing something else keeps the URL; a new URL replaces it whole.
    path = f"/api/v1/channels/{body['id']}/"
    assert engineer_api.patch(path, {"is_active": False}, format="json").status_code == 200
    assert Channel.objects.get().url == secret_url
    replaced = engineer_api.patch(path, {"url": "json://127.0.0.1:9/hook"}, format="json")
    assert replaced.status_code == 200 and replaced.json()["service"] == "JSON"
    stored = Channel.objects.get()
    assert stored.url == "json://127.0.0.1:9/hook" and stored.url_replaced_at is not None
    assert "s3cr3t" not in engineer_api.get(path).content.decode()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nosuchservice://abc", "Apprise does not understand"),
        ("json://example.com/\x01", "control characters"),
        ("", "Give the Apprise URL"),
    ],
)
def test_a_url_apprise_cannot_read_is_refused_without_repeating_it(engineer_api, url, says):
    answer = engineer_api.post(
        "/api/v1/channels/", {"name": "@x", "url": url, "topics": ["released"]}, format="json"
    )
    assert answer.status_code == 400
    assert says in json.dumps(answer.json())
    assert not Channel.objects.exists()


def test_channels_are_for_the_release_team_and_operations(
    engineer_api, operator_api, customer_api, anon_api, manager_api
):
    new = {"name": "@status", "url": "json://127.0.0.1:9/s", "topics": ["status"]}
    assert operator_api.post("/api/v1/channels/", new, format="json").status_code == 201
    assert manager_api.get("/api/v1/channels/").json()["count"] == 1  # managers read
    assert manager_api.post("/api/v1/channels/", new, format="json").status_code == 403
    assert customer_api.get("/api/v1/channels/").status_code == 403
    assert anon_api.get("/api/v1/channels/").status_code in (401, 403)
    assert engineer_api.delete(f"/api/v1/channels/{Channel.objects.get().pk}/").status_code == 204


def test_the_admin_takes_the_url_once_and_never_shows_it(engineer, api_component):
    engineer.is_staff = True
    engineer.save()
    desk = Client()
    desk.force_login(engineer)
    add = reverse("admin:notifications_channel_add")
    secret = "json://127.0.0.1:9/hook?+X-Token=very-secret-value"
    answer = desk.post(
        add,
        {"name": "@releases", "purpose": "broadcast", "new_url": secret, "form": "auto",
         "topics": ["released", "rolled_back"], "components": [api_component.pk],
         "is_active": "on"},
    )  # fmt: skip
    assert answer.status_code == 302, answer.content.decode()[:3000]
    saved = Channel.objects.get()
    assert saved.url == secret and saved.topics == ["released", "rolled_back"]
    assert not saved.all_components and list(saved.components.all()) == [api_component]
    page = desk.get(reverse("admin:notifications_channel_change", args=[saved.pk]))
    assert "very-secret-value" not in page.content.decode()
    # Its deliveries are one link away, filtered to it (an unknown lookup would redirect).
    [link] = re.findall(
        r'href="([^"]+)">All deliveries through this channel', page.content.decode()
    )
    listed = desk.get(link.replace("&amp;", "&"))
    assert listed.status_code == 200 and "0 deliveries" in listed.content.decode()
    # Saving again without a URL keeps it; a bad one is refused on its field.
    bad = desk.post(
        reverse("admin:notifications_channel_change", args=[saved.pk]),
        {"name": "@releases", "purpose": "broadcast", "new_url": "bogus://x", "form": "auto",
         "topics": ["released"], "is_active": "on"},
    )  # fmt: skip
    assert bad.status_code == 200 and "Apprise does not understand" in bad.content.decode()
    assert Channel.objects.get().url == secret


def test_the_test_action_posts_through_the_outbox(
    channel, sink, engineer_api, django_capture_on_commit_callbacks
):
    at_releases = channel("@releases", "ok/test", topics=["released"])
    with django_capture_on_commit_callbacks(execute=True):
        answer = engineer_api.post(f"/api/v1/channels/{at_releases.pk}/test/")
    assert answer.status_code == 202
    [post] = [posted(r) for r in sink.ok()]
    assert post["title"] == "Test of the channel @releases"
    [delivery] = _deliveries(at_releases)
    assert delivery.message.kind == "channel.test" and delivery.status == "delivered"


def test_status_news_for_an_internal_incident_reaches_no_channel(
    channel, sink, operator, api_component
):
    channel("@status", "ok/status", topics=["status"])
    with time_machine.travel(utc(2026, 11, 25, 12), tick=False):
        incidents.incident_open(
            title="Internal only", impact="major_outage", components=[api_component],
            body="Ops are on it.", by=operator, public=False,
        )  # fmt: skip
    assert sink.count() == 0
    assert not Delivery.objects.filter(channel="channel").exists()


def test_the_channel_list_costs_the_same_queries_for_2_channels_or_8(
    engineer_api, api_component, client_component
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add(n):
        for i in range(n):
            channel = channels.channel_save(
                Channel(name=f"@c{Channel.objects.count()}"),
                url="json://127.0.0.1:9/x",
                topics=["released"],
                components=[api_component, client_component] if i % 2 else None,
            )
            assert channel.pk

    def cost():
        with CaptureQueriesContext(connection) as queries:
            answer = engineer_api.get("/api/v1/channels/")
        assert answer.status_code == 200
        return len(queries), answer.json()["count"]

    add(2)
    engineer_api.get("/api/v1/channels/")  # the key and the user's permissions, once
    few, two = cost()
    add(6)
    many, eight = cost()
    assert (two, eight) == (2, 8) and many == few
