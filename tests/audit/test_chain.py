"""The chain itself: numbering, links, hashes, MACs, the head, and appends inside the caller's
transaction."""

import datetime as dt

import pytest
from django.db import connection, transaction

from accounts.services import apikey_create
from audit import services as audit
from audit.models import GENESIS, Entry, Head
from tests.audit.conftest import last, problems
from tests.helpers import NOW

pytestmark = pytest.mark.django_db


def _head():
    return Head.objects.filter(pk=1).values_list("seq", "hash").first() or (0, GENESIS)


def test_entries_are_numbered_without_gaps_and_each_links_to_the_one_before(engineer):
    start_seq, start_hash = _head()
    for n in range(3):
        audit.record(action="test.thing", subject=("test.thing", n), actor=engineer, at=NOW)
    entries = list(Entry.objects.filter(seq__gt=start_seq).order_by("seq"))
    assert [e.seq for e in entries] == [start_seq + 1, start_seq + 2, start_seq + 3]
    assert entries[0].prev_hash == start_hash
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert len({e.hash for e in entries}) == 3
    assert _head() == (entries[-1].seq, entries[-1].hash)
    assert problems() == []


def test_an_entry_keeps_who_when_what_and_its_hash_covers_all_of_it(engineer):
    before = {"status": "pending", "decided_at": None}
    after = {"status": "approved", "decided_at": dt.datetime(2026, 12, 1, 6, tzinfo=dt.UTC)}
    pacific = dt.timezone(dt.timedelta(hours=-8))
    audit.record(
        action="approval_request.approved",
        subject=("approvals.approvalrequest", 41),
        actor=engineer,
        at=dt.datetime(2026, 11, 30, 10, 0, tzinfo=pacific),
        before=before,
        after=after,
    )
    entry = last()
    assert (entry.actor_id, entry.actor_username) == (engineer.pk, "erin")
    assert (entry.subject_type, entry.subject_id) == ("approvals.approvalrequest", "41")
    assert entry.at == dt.datetime(2026, 11, 30, 18, 0, tzinfo=dt.UTC)
    # JSON-safe: instants as ISO 8601 UTC strings.
    assert entry.after == {"status": "approved", "decided_at": "2026-12-01T06:00:00+00:00"}
    assert entry.digest is None  # not a registered model: nothing to vouch for
    content = {
        "seq": entry.seq,
        "at": "2026-11-30T18:00:00+00:00",
        "actor_id": engineer.pk,
        "actor": "erin",
        "action": "approval_request.approved",
        "subject_type": "approvals.approvalrequest",
        "subject_id": "41",
        "before": before,
        "after": entry.after,
        "digest": None,
        "prev_hash": entry.prev_hash,
    }
    assert entry.hash == audit.entry_hash(content)
    assert entry.mac == audit.entry_mac(audit.mac_key(), entry.hash)


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError, match="no time zone"):
        audit.record(action="x", subject=("t", 1), at=dt.datetime(2026, 1, 1))


def test_the_canonical_form_ignores_key_order():
    one = {"b": 1, "a": {"d": [1, {"y": 2, "x": 3}], "c": None}}
    other = {"a": {"c": None, "d": [1, {"x": 3, "y": 2}]}, "b": 1}
    assert audit.canonical(one) == audit.canonical(other)
    assert audit.canonical(one) != audit.canonical({**one, "b": 2})


def test_an_entry_stored_with_its_keys_in_another_order_still_verifies(engineer):
    """PostgreSQL's jsonb reorders keys; on SQLite the text is rewritten here to the same end."""
    audit.record(
        action="test.thing",
        subject=("test.thing", 1),
        at=NOW,
        after={"zeta": 1, "alpha": {"y": 2, "b": 3}},
    )
    entry = last()
    table = connection.ops.quote_name(Entry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET after = %s WHERE seq = %s",  # noqa: S608
            ['{"alpha": {"b": 3, "y": 2}, "zeta": 1}', entry.seq],
        )
    assert problems() == []


def test_whole_floats_hash_as_integers_so_jsonb_cannot_change_them():
    assert audit.jsonable({"n": 1e20, "m": 2.0, "f": 0.5}) == {
        "n": 100000000000000000000,
        "m": 2,
        "f": 0.5,
    }


def test_a_rollback_takes_the_entry_with_the_change(engineer):
    start = _head()
    count = Entry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        apikey_create(user=engineer, name="doomed", by=engineer, at=NOW)
        assert Entry.objects.count() == count + 1
        raise RuntimeError("the caller's transaction fails after the change")
    assert Entry.objects.count() == count
    assert _head() == start
    # And the chain goes on from where it was.
    apikey_create(user=engineer, name="kept", by=engineer, at=NOW)
    assert last().prev_hash == start[1]
    assert problems() == []


def test_deferred_entries_are_appended_in_order_when_the_block_ends(engineer):
    count = Entry.objects.count()
    with transaction.atomic():
        with audit.deferred():
            audit.record(action="test.first", subject=("t", 1), at=NOW)
            with audit.deferred():  # nested: still held by the outer block
                audit.record(action="test.second", subject=("t", 2), at=NOW)
            assert Entry.objects.count() == count
        assert list(Entry.objects.order_by("seq").values_list("action", flat=True))[-2:] == [
            "test.first",
            "test.second",
        ]


def test_deferred_entries_are_dropped_when_the_block_raises():
    count = Entry.objects.count()
    with pytest.raises(RuntimeError), audit.deferred():
        audit.record(action="test.lost", subject=("t", 1), at=NOW)
        raise RuntimeError
    assert Entry.objects.count() == count


def test_the_digest_vouches_for_the_row_as_the_database_holds_it(engineer):
    key, _ = apikey_create(user=engineer, name="ci", by=engineer, at=NOW)
    entry = last()
    assert (entry.subject_type, entry.subject_id) == ("accounts.apikey", str(key.pk))
    assert entry.digest == audit.current_digest(type(key), key.pk)
    assert entry.after == {
        "user": engineer.pk,
        "name": "ci",
        "prefix": key.prefix,
        "created_at": "2026-11-30T18:00:00+00:00",
    }
    assert "digest" not in entry.after  # vouched for, not shown


def test_entries_written_under_another_key_fail_their_mac(engineer, settings):
    audit.record(action="test.thing", subject=("t", 1), at=NOW)
    settings.AUDIT_KEY = "another-key-" + "k" * 40
    found = problems()
    assert found and all("MAC does not verify" in p for p in found)


def test_the_first_entry_links_to_the_genesis_hash():
    from releases.models import WindowPolicy

    WindowPolicy.objects.all().delete()  # the migration's default policy is a governed row
    Entry.objects.all().delete()  # whatever the test database started with
    Head.objects.filter(pk=1).update(seq=0, hash=GENESIS)
    assert problems() == []
    audit.record(action="test.first", subject=("t", 1), at=NOW)
    assert (last().seq, last().prev_hash) == (1, GENESIS)
    assert problems() == []


def test_the_baseline_records_rows_the_log_never_saw_and_nothing_else(engineer):
    from accounts.models import ApiKey

    apikey_create(user=engineer, name="seen", by=engineer, at=NOW)
    unseen = ApiKey(user=engineer, name="predates the log")
    unseen.set_new_secret()
    unseen.save()
    tampered, _ = apikey_create(user=engineer, name="tampered", by=engineer, at=NOW)
    ApiKey.objects.filter(pk=tampered.pk).update(name="changed behind the log's back")
    assert audit.baseline(at=NOW) == 1
    entry = last()
    assert (entry.action, entry.subject_id, entry.actor_id) == (
        "accounts.apikey.baseline",
        str(unseen.pk),
        None,
    )
    assert audit.baseline(at=NOW) == 0
    # The changed row is still reported, not blessed.
    assert problems() == [
        f"accounts.apikey {tampered.pk}: differs from the log (entry #{entry.seq - 1}): "
        "changed outside the log"
    ]


def test_nothing_is_appended_once_the_head_is_gone_while_entries_remain():
    audit.record(action="test.first", subject=("t", 1), at=NOW)
    Head.objects.all().delete()
    with pytest.raises(audit.ChainUnusable), transaction.atomic():  # the caller's, failed
        audit.record(action="test.second", subject=("t", 2), at=NOW)
    assert "does not match the last entry" in problems()[0]


@pytest.mark.parametrize(
    ("actor_id", "digest", "before", "after"),
    [
        (None, None, None, None),
        (7, "ab" * 32, {"z": [1, {"b": None, "a": "é"}], "a": 'quote " and \\ and \n'}, {}),
        (2**40, None, {"emoji": "🚀", "ctrl": "\x01"}, {"n": 0.5, "t": True}),
    ],
)
def test_the_fast_form_of_an_entry_is_its_canonical_json(actor_id, digest, before, after):
    content = {
        "seq": 12,
        "at": "2026-11-30T18:00:00.123456+00:00",
        "actor_id": actor_id,
        "actor": "zoë",
        "action": "release.start",
        "subject_type": "releases.releaseevent",
        "subject_id": "41",
        "before": before,
        "after": after,
        "digest": digest,
        "prev_hash": "0" * 64,
    }
    fast = audit.entry_canonical(
        **{k: v for k, v in content.items() if k not in ("before", "after")},
        before=audit.canonical(before).decode(),
        after=audit.canonical(after).decode(),
    )
    assert fast == audit.canonical(content)


def test_an_entry_keeps_before_and_after_as_the_canonical_text_it_hashed(engineer):
    audit.record(action="test.thing", subject=("t", 1), at=NOW, after={"b": [2, 1], "a": "é"})
    table = connection.ops.quote_name(Entry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT after FROM {table} WHERE seq = %s", [last().seq])  # noqa: S608
        [stored] = cursor.fetchone()
    if connection.vendor == "sqlite":  # PostgreSQL's jsonb keeps its own form
        assert stored == '{"a":"\\u00e9","b":[2,1]}'
    assert last().after == {"a": "é", "b": [2, 1]}
