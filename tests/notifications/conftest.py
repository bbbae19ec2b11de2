import pytest

from notifications.models import Contact, CustomerAccount, Subscriber
from tests.conftest import NOW
from tests.notifications import sink as sinks


@pytest.fixture
def sink():
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
