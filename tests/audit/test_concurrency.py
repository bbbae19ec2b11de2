"""Writers at once never fork the chain: real threads, each with its own PostgreSQL connection."""

import threading
import time

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from accounts.services import apikey_create
from audit import services as audit
from audit.models import Entry
from tests.helpers import NOW, postgres_only, threaded_db

pytestmark = [postgres_only, threaded_db]


def _in_threads(count: int, work) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` threads released together; returns what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i):
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_many_governed_writes_at_once_make_one_unbroken_chain():
    users = [
        get_user_model().objects.create_user(f"writer{i}", f"w{i}@example.com", "pw")
        for i in range(8)
    ]
    start = Entry.objects.count()

    def work(i):
        for n in range(5):
            apikey_create(user=users[i], name=f"key {n}", by=users[i], at=NOW)

    assert _in_threads(8, work) == []
    entries = list(Entry.objects.order_by("seq").values_list("seq", "prev_hash", "hash"))
    assert len(entries) == start + 40
    assert [seq for seq, _, _ in entries] == list(range(1, len(entries) + 1))
    # No two entries extend the same one: the chain did not fork.
    assert len({prev for _, prev, _ in entries}) == len(entries)
    report = audit.verify()
    assert report.ok, report.summary()


def test_a_second_writer_waits_for_the_first_to_commit_and_extends_its_entry():
    appended, go = threading.Event(), threading.Event()
    second_pid: list[int] = []
    errors: list[BaseException] = []

    def first():
        try:
            with transaction.atomic():
                audit.record(action="test.first", subject=("t", 1), at=NOW)
                appended.set()
                go.wait(timeout=30)  # holding the head's lock until the second one waits
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def second():
        try:
            appended.wait(timeout=30)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                second_pid.append(cursor.fetchone()[0])
            audit.record(action="test.second", subject=("t", 2), at=NOW)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    # Release the first writer only once PostgreSQL says the second is waiting for a lock.
    waiting = False
    for _ in range(300):
        if second_pid:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", second_pid
                )
                row = cursor.fetchone()
            if row and row[0] == "Lock":
                waiting = True
                break
        time.sleep(0.05)
    go.set()
    for thread in threads:
        thread.join()
    assert waiting, "the second writer never waited for the first"
    assert errors == []
    one, two = Entry.objects.order_by("-seq")[:2][::-1]
    assert (one.action, two.action) == ("test.first", "test.second")
    assert (two.seq, two.prev_hash) == (one.seq + 1, one.hash)
    assert audit.verify().ok
