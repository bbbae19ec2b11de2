"""The release team's view of the outbox: history per subscriber, dead deliveries retried."""

import pytest
from django.core import mail

from notifications import acknowledgements, outbox
from notifications.messages import Content
from notifications.models import Delivery
from tests.helpers import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead(subscribe, django_capture_on_commit_callbacks, settings):
    """A subscriber whose delivery died (the mail server refused it every time)."""
    settings.EMAIL_BACKEND = "tests.notifications.backends.DownBackend"
    subscriber = subscribe("reader@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        outbox.queue(
            key="k",
            kind="released",
            content=Content("Released: Items API 1.2.0", "Body", {}),
            recipients=outbox.topic_recipients("released", None),
            at=NOW,
        )
    Delivery.objects.update(status="dead", attempts=8)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return subscriber


def test_a_subscribers_page_shows_its_delivery_history(client, engineer, dead):
    client.force_login(engineer)
    page = client.get(f"/admin/notifications/subscriber/{dead.pk}/change/").content.decode()
    assert "Released: Items API 1.2.0" in page and "Dead" in page and "SMTP is down" in page
    assert f"/admin/notifications/delivery/?subscriber={dead.pk}" in page


def test_the_release_team_retries_dead_deliveries_from_the_admin(
    client, engineer, dead, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    client.force_login(engineer)
    # The list, its filters (the channels among them) and the unhealthy channels named above it.
    with django_assert_max_num_queries(13):
        listing = client.get("/admin/notifications/delivery/?status__exact=dead")
    assert "reader@example.com" in listing.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/notifications/delivery/",
            {
                "action": "retry",
                "_selected_action": list(Delivery.objects.values_list("pk", flat=True)),
            },
            follow=True,
        )
    assert "1 deliveries queued again." in response.content.decode()
    assert Delivery.objects.get().status == "delivered"
    assert [m.to for m in mail.outbox] == [["reader@example.com"]]


def test_managers_see_the_outbox_but_do_not_retry(client, manager, dead):
    client.force_login(manager)
    listing = client.get("/admin/notifications/delivery/")
    assert listing.status_code == 200 and "reader@example.com" in listing.content.decode()
    assert 'value="retry"' not in listing.content.decode()
    response = client.post(
        "/admin/notifications/delivery/",
        {"action": "retry", "_selected_action": [Delivery.objects.get().pk]},
    )
    assert Delivery.objects.get().status == "dead"
    assert response.status_code in (200, 302)


def test_key_account_status_takes_constant_queries(key_account, django_assert_num_queries):
    from notes.models import AdvanceNotice
    from notifications.models import Contact, CustomerAccount

    for n in range(5):
        account = CustomerAccount.objects.create(name=f"Key {n}", tier="key")
        Contact.objects.create(account=account, name=f"C{n}", email=f"c{n}@example.com")
    notice = AdvanceNotice(pk=1, revision=1)
    with django_assert_num_queries(4):
        accounts = acknowledgements.acknowledgement_status(notice)
    assert len(accounts) == 6


def test_a_webhooks_secret_is_never_shown_again_only_rotated(client, engineer, subscribe, sink):
    hook = subscribe(f"{sink.url}/ok/hook")
    old = hook.secret
    client.force_login(engineer)
    page = client.get(f"/admin/notifications/subscriber/{hook.pk}/change/").content.decode()
    assert old not in page and sink.url in page
    rotated = client.post(
        "/admin/notifications/subscriber/",
        {"action": "rotate_secret", "_selected_action": [hook.pk]},
    )
    assert "no-store" in rotated["Cache-Control"]
    hook.refresh_from_db()
    assert hook.secret != old and hook.secret in rotated.content.decode()
    assert old not in rotated.content.decode()
    again = client.get(f"/admin/notifications/subscriber/{hook.pk}/change/").content.decode()
    assert hook.secret not in again
