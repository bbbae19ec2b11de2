import datetime as dt
import uuid
from urllib.parse import parse_qs

import pytest
import time_machine
from django.utils import timezone

from notifications import channels
from notifications.models import Channel, Contact, CustomerAccount, Subscriber
from releases import services as releases
from tests.helpers import NOW, WED_WINDOW
from tests.notifications import sink as sinks


@pytest.fixture(autouse=True)
def _own_rate_limits(settings):
    """Each test counts its rate limits from zero: the store outlives a test (it is the
    process's memory, or CI's Redis), and every test client comes from 127.0.0.1."""
    settings.RATE_LIMIT_PREFIX = f"test-{uuid.uuid4().hex}"


@pytest.fixture
def sink(settings):
    """A webhook receiver on 127.0.0.1, which only WEBHOOK_ALLOW_PRIVATE lets Nightshift reach."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = sinks.start()
    yield receiver
    receiver.close()


@pytest.fixture
def subscribe(db):
    """An active subscriber (as if confirmed) with the given topics and components."""

    def make(
        address: str, *, topics=("items", "released", "rolled_back", "notices"), components=()
    ):
        webhook = address.startswith("http")
        subscriber = Subscriber.objects.create(
            channel="webhook" if webhook else "email",
            url=address if webhook else "",
            email="" if webhook else address,
            confirmed_at=NOW,
            all_components=not components,
            **{f"on_{t}": t in topics for t in ("items", "released", "rolled_back", "notices")},
        )
        subscriber.components.set(components)
        return subscriber

    return make


@pytest.fixture
def key_account(db):
    account = CustomerAccount.objects.create(name="Globex", tier="key")
    Contact.objects.create(account=account, name="Hank", email="hank@globex.example")
    Contact.objects.create(
        account=account, name="Gone", email="gone@globex.example", is_active=False
    )
    return account


@pytest.fixture
def standard_account(db):
    account = CustomerAccount.objects.create(name="Initech", tier="standard")
    Contact.objects.create(account=account, name="Peter", email="peter@initech.example")
    return account


@pytest.fixture
def send_held(django_capture_on_commit_callbacks):
    """Move the clock past the notice-revision hold and sweep, as the schedule would."""
    from notifications import causes, outbox

    def run():
        later = timezone.now() + causes.revision_hold() + dt.timedelta(minutes=1)
        with (
            time_machine.travel(later, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return outbox.sweep()

    return run


START, DONE = WED_WINDOW + dt.timedelta(minutes=5), WED_WINDOW + dt.timedelta(minutes=40)


@pytest.fixture
def ship(make_release, engineer, django_capture_on_commit_callbacks):
    """Announce, start and complete a release in Wednesday's window, at the clock of each step."""

    def run(release=None):
        release = release or make_release()
        with time_machine.travel(NOW, tick=False):
            release = releases.release_announce(release=release, by=engineer, at=NOW)
        with time_machine.travel(START, tick=False):
            release = releases.release_start(release=release, by=engineer, at=START)
        with (
            time_machine.travel(DONE, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return releases.release_complete(release=release, by=engineer, at=DONE)

    return run


EVERY_TOPIC = ["items", "released", "rolled_back", "notices", "status"]


def posted(received) -> dict:
    """What Apprise posted: json:// sends JSON, form:// a form; both carry title and message."""
    if received.headers.get("Content-Type", "").startswith("application/json"):
        return received.json
    return {k: v[0] for k, v in parse_qs(received.body.decode(), keep_blank_values=True).items()}


@pytest.fixture
def channel(sink):
    port = sink.server.server_address[1]

    def make(name, path, *, scheme="json", topics=EVERY_TOPIC, components=None, **fields):
        return channels.channel_save(
            Channel(name=name, **fields),
            url=f"{scheme}://127.0.0.1:{port}/{path}",
            topics=topics,
            components=components,
        )

    return make
