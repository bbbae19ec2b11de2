"""Channels and SMS under attack: a hostile client (codes, numbers, the inbound address) and a
careless desk (URLs typed wrong, URLs that reach nobody or the wrong phone)."""

import datetime as dt
import json
import logging

import pytest
import time_machine
from django.core import signing
from django.urls import reverse

from notifications import sms
from notifications.links import sms_code
from notifications.models import Channel, Subscriber
from tests.helpers import NOW
from tests.notifications.test_phones import NUMBER, _code, _texts, _token

pytestmark = pytest.mark.django_db
CONFIRM = "subscription-confirm-phone"


@pytest.fixture
def gateway(channel):
    return channel("SMS gateway", "ok/sms", purpose="sms", topics=[])


@pytest.fixture
def subscribe_phone(client, django_capture_on_commit_callbacks):
    def run(number=NUMBER):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("subscribe"), {"phone": number, "topics": ["released"]})

    return run


# --- Codes -------------------------------------------------------------------------------------


def test_a_code_never_texted_confirms_nothing(gateway, sink, subscribe_phone, client):
    """A number at its daily limit, its last code expired, gets a token whose code was never
    sent: guessing it, five tries a token, a token for each submission, must not confirm a
    number its owner never agreed to."""
    start = dt.datetime.now(dt.UTC)
    for minutes in (0, 11, 22):  # three codes: the day's limit
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            first = subscribe_phone()
    assert len(_texts(sink)) == 3
    with time_machine.travel(start + dt.timedelta(minutes=60), tick=False):
        again = subscribe_phone()  # at its limit, the last code 38 minutes old: none texted
        assert len(_texts(sink)) == 3
        nonce = signing.loads(_token(again), salt="nightshift.sms-confirm")["x"]
        guessed = client.post(
            reverse(CONFIRM), {"token": _token(again), "code": sms_code(NUMBER, nonce)}
        )
    assert guessed.status_code == 400 and "not the code we sent" in guessed.content.decode()
    assert Subscriber.objects.get().confirmed_at is None
    # The last code texted confirmed, in its time, with its own token.
    with time_machine.travel(start + dt.timedelta(minutes=23), tick=False):
        done = client.post(
            reverse(CONFIRM), {"token": _token(first), "code": _code(_texts(sink)[2])}
        )
    assert done.status_code == 200 and Subscriber.objects.get().is_active


# --- The inbound address ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("[1, 2]", "application/json", 400),
        ('"STOP"', "application/json", 400),
        ("{not json", "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        ('{"from": null, "text": ["STOP"]}', "application/json", 200),
        ('{"from": 14155550100, "text": "STOP"}', "application/json", 200),
        ("", "text/plain", 200),
    ],
)
def test_junk_at_the_inbound_address_stops_nobody_else(gateway, client, body, content_type, status):
    Subscriber.objects.create(channel="sms", phone="+14155550199", confirmed_at=NOW)
    inbound = reverse("sms-inbound", args=[gateway.inbound_token])
    assert client.post(inbound, body, content_type=content_type).status_code == status
    assert Subscriber.objects.get().unsubscribed_at is None


@pytest.mark.parametrize("text", ["STOP", "Stop.", " stop! "])
def test_stop_from_a_number_no_longer_texted_still_stops_it(gateway, client, settings, text):
    """STOP must always work: a number subscribed before SMS_REGIONS left its country out."""
    subscriber = Subscriber.objects.create(channel="sms", phone="+4915123456789", confirmed_at=NOW)
    settings.SMS_REGIONS = ["US"]
    inbound = reverse("sms-inbound", args=[gateway.inbound_token])
    assert client.post(inbound, {"From": subscriber.phone, "Body": text}).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at is not None


# --- SMS segments --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["€" * 400, "[x] " * 200, "😀" * 300, "Déjà vu ж " * 40])
def test_a_text_fits_two_segments_whatever_its_characters(text):
    """GSM-7's extension characters (€, [, ]) cost two, an emoji two UTF-16 units."""
    tail = "Stop: http://127.0.0.1:8000/unsubscribe/12345.AAAAAAAAAA/"
    fitted = sms.fit_segments(text, tail)
    assert sms.segments(fitted) <= 2 and fitted.endswith(tail)


# --- A careless desk ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "tgram//123456789:AAsecretTOKEN/123",  # "://" mistyped
        "hooks.slack.com/services/T0/B0/XXsecretTOKEN",  # no scheme at all
        "slack://XXsecretTOKEN",  # a token short
        "nosuchservice://user:XXsecretTOKEN@host/",
    ],
)
def test_a_mistyped_url_is_repeated_nowhere(engineer_api, url):
    """Neither in the answer nor in the server's log (what reaches the root logger)."""
    logged = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: logged.append(record.getMessage())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        answer = engineer_api.post(
            "/api/v1/channels/", {"name": "@x", "url": url, "topics": ["released"]}, format="json"
        )
    finally:
        root.removeHandler(handler)
    assert answer.status_code == 400
    assert "secret" not in (json.dumps(answer.json()) + " ".join(logged)).lower()
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("syslog://", "reaches no reader"),  # the server's own log
        ("SysLog://local5", "reaches no reader"),
        ("rsyslog://localhost", "reaches no reader"),
        ("mailto://u:p@example.com?pgppub=/etc/passwd", "names a file on the server"),
        ("mailto://u:p@example.com?PGPPRV=/etc/shadow", "names a file on the server"),
    ],
)
def test_a_url_that_acts_on_the_server_itself_is_refused(engineer_api, url, says):
    answer = engineer_api.post(
        "/api/v1/channels/", {"name": "@x", "url": url, "topics": ["released"]}, format="json"
    )
    assert answer.status_code == 400 and says in json.dumps(answer.json())
    assert not Channel.objects.exists()


TWILIO = "twilio://AC1234567890abcdef1234567890abcd:tokentokentokentokentokentoken12@15551234567"


def test_an_sms_gateway_url_names_no_recipient_of_its_own(engineer_api):
    """Otherwise every code and stop link texted to a subscriber reaches that number too."""
    new = {"name": "SMS", "purpose": "sms", "url": f"{TWILIO}/15557654321"}
    answer = engineer_api.post("/api/v1/channels/", new, format="json")
    assert answer.status_code == 400 and "names no recipient" in json.dumps(answer.json())
    created = engineer_api.post("/api/v1/channels/", {**new, "url": TWILIO}, format="json")
    assert created.status_code == 201, created.content
    # A broadcast channel with its recipients cannot become the gateway either.
    chat = engineer_api.post(
        "/api/v1/channels/",
        {"name": "Ops phone", "url": f"{TWILIO}/15557654321", "topics": ["status"]},
        format="json",
    )
    assert chat.status_code == 201
    moved = engineer_api.patch(
        f"/api/v1/channels/{chat.json()['id']}/", {"purpose": "sms"}, format="json"
    )
    assert moved.status_code == 400 and "names no recipient" in json.dumps(moved.json())


def test_codes_in_all_are_capped_whoever_asks(gateway, sink, subscribe_phone, settings):
    """Many numbers from many clients (SMS pumping) meet one budget shared by every worker."""
    settings.SMS_CODES_PER_HOUR = 2
    assert subscribe_phone("+1 415 555 0101").status_code == 201
    assert subscribe_phone("+1 415 555 0102").status_code == 201
    refused = subscribe_phone("+1 415 555 0103")
    assert refused.status_code == 429 and "subscribe by e-mail" in refused.content.decode()
    assert not Subscriber.objects.filter(phone="+14155550103").exists()
    assert len([r for r in sink.ok() if r.path.startswith("/ok/sms/")]) == 2


def test_the_inbound_address_is_shown_only_to_those_who_may_change_the_gateway(
    gateway, engineer_api, manager_api, engineer, manager, client
):
    path = f"/api/v1/channels/{gateway.pk}/"
    assert gateway.inbound_token in engineer_api.get(path).json()["inbound_url"]
    assert manager_api.get(path).json()["inbound_url"] is None  # reads channels, changes none
    page = reverse("admin:notifications_channel_change", args=[gateway.pk])
    client.force_login(manager)
    assert gateway.inbound_token not in client.get(page).content.decode()
    client.force_login(engineer)
    assert gateway.inbound_token in client.get(page).content.decode()
