"""The gate and API keys skip their query while nothing was committed (SQLite's data_version
and total_changes, lib.freshness), and never answer from a stale read: a commit by another
connection (another thread, another process, a plain sqlite3 client that knows nothing of
Nightshift) or by the same thread is seen by the very next request, and a rolled-back write is
forgotten."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import uuid

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.services import apikey_create, apikey_revoke
from lib import freshness
from releases.models import Component, Freeze, RulesRevision
from tests.accounts.test_api_keys import bearer
from tests.helpers import WED_WINDOW, utc

pytestmark = [
    pytest.mark.django_db(transaction=True),  # memos are kept only outside transactions
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="PostgreSQL has no data_version: it always asks"
    ),
]
GATE = "/api/v1/gate/?component=items-api"
OPEN = WED_WINDOW + dt.timedelta(minutes=30)


@pytest.fixture
def items_api(db):
    return Component.objects.create(slug="items-api", name="Items API", kind="api")


def elsewhere(work) -> None:
    """``work()`` in another thread: its own connection, committed when it returns."""
    failures = []

    def run():
        try:
            work()
        except Exception as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert not failures, failures


def decision(client) -> str:
    with time_machine.travel(OPEN, tick=False):
        return client.get(GATE).json()["decision"]


def test_an_unchanged_database_answers_the_gate_without_a_query(items_api):
    client = APIClient()
    assert decision(client) == "allow"
    with time_machine.travel(OPEN, tick=False), CaptureQueriesContext(connection) as queries:
        assert client.get(GATE).json()["decision"] == "allow"
    assert [q["sql"] for q in queries] == []


def test_a_freeze_committed_by_another_thread_stops_the_next_call(items_api):
    client = APIClient()
    assert decision(client) == "allow"
    elsewhere(lambda: Freeze.objects.create(reason="Incident", starts_at=utc(2026, 12, 1),
                                            ends_at=utc(2026, 12, 3)))  # fmt: skip
    assert decision(client) == "deny"


def test_a_token_moved_by_a_client_that_is_not_django_is_seen(items_api):
    """Another process writing the database file directly: no Django, no signal."""
    client = APIClient()
    assert decision(client) == "allow"
    Freeze.objects.create(reason="Incident", starts_at=utc(2026, 12, 1), ends_at=utc(2026, 12, 3))
    assert decision(client) == "deny"
    # Put the freeze back out of reach of this process's signals: delete it on a raw sqlite3
    # connection to the same database, and move the token there.
    name = str(connection.settings_dict["NAME"])  # the test database's
    raw = sqlite3.connect(name, uri=name.startswith("file:"))
    raw.execute(f"DELETE FROM {Freeze._meta.db_table}")  # noqa: S608
    raw.execute(
        f"UPDATE {RulesRevision._meta.db_table} SET token = ? WHERE id = 1",  # noqa: S608
        [uuid.uuid4().hex],
    )
    raw.commit()
    raw.close()
    assert decision(client) == "allow"


def test_a_component_made_elsewhere_is_known_at_once(items_api):
    client = APIClient()
    with time_machine.travel(OPEN, tick=False):
        assert client.get("/api/v1/gate/?component=search").status_code == 400
    elsewhere(lambda: Component.objects.create(slug="search", name="Search", kind="api"))
    with time_machine.travel(OPEN, tick=False):
        assert client.get("/api/v1/gate/?component=search").status_code == 200


def test_the_same_threads_write_is_seen_and_a_rolled_back_one_forgotten(items_api):
    client = APIClient()
    assert decision(client) == "allow"
    with transaction.atomic():
        freeze = Freeze.objects.create(
            reason="Maybe", starts_at=utc(2026, 12, 1), ends_at=utc(2026, 12, 3)
        )
        assert decision(client) == "deny"  # the transaction's own view
        transaction.set_rollback(True)
    assert not Freeze.objects.filter(pk=freeze.pk).exists()
    assert decision(client) == "allow"
    Freeze.objects.create(reason="Now", starts_at=utc(2026, 12, 1), ends_at=utc(2026, 12, 3))
    assert decision(client) == "deny"  # same connection: its total_changes says so


def test_a_key_revoked_by_another_thread_fails_on_the_next_request(items_api, engineer):
    key, plaintext = apikey_create(user=engineer, name="pipeline")
    client = bearer(plaintext)
    assert client.get(GATE).status_code == 200  # writes last_used_at: a change, read again
    assert client.get(GATE).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(GATE).status_code == 200
    assert not any("credentials" in q["sql"].lower() for q in queries.captured_queries)
    elsewhere(lambda: apikey_revoke(key=key))
    assert client.get(GATE).status_code == 401


def test_what_clients_name_cannot_grow_the_memo_without_bound(items_api):
    client = APIClient()
    with time_machine.travel(OPEN, tick=False):
        for n in range(freshness.MOST_KEYS + 50):
            client.get(f"/api/v1/gate/?component=made-up-{n}")
    assert len(freshness._local.memo[2]) == freshness.MOST_KEYS


def test_one_look_asks_once_and_still_sees_its_own_writes(items_api):
    """Within one_look, others' commits after the first look wait for the next block (as if
    the block had run at once); the thread's own writes are seen at once."""
    loads = []

    def load():
        loads.append(1)
        return Component.objects.filter(slug__startswith="late-").count()

    assert freshness.remembered("late", load) == 0
    with freshness.one_look():
        assert freshness.remembered("late", load) == 0  # the look: nothing new
        elsewhere(lambda: Component.objects.create(slug="late-a", name="A", kind="api"))
        assert freshness.remembered("late", load) == 0  # as of the look
        Component.objects.create(slug="late-b", name="B", kind="api")  # its own write
        assert freshness.remembered("late", load) == 2
    assert len(loads) == 2  # before the block, and after its own write
    assert freshness.remembered("late", load) == 2  # after it: the other's commit is news
    elsewhere(lambda: Component.objects.create(slug="late-c", name="C", kind="api"))
    assert freshness.remembered("late", load) == 3  # outside a block every call looks
    assert len(loads) == 4
