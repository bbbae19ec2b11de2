"""Whoever edits the database behind Nightshift's back is caught: in the log (the chain) or in
the governed tables (reconciliation), and a recomputed chain by the anchors."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import ApiKey
from accounts.services import apikey_create
from approvals.models import ApprovalRequest
from audit import services as audit
from audit.models import Anchor, Entry, Head
from releases.models import ReleaseEvent
from tests.audit.conftest import last, problems
from tests.helpers import IN_SLOT, NOW, ask

pytestmark = pytest.mark.django_db


def sql(statement: str, params=()) -> None:
    """Raw SQL, as someone with database access would write it."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@pytest.fixture
def history(shipped, engineer):
    """A release's whole lifecycle and a few keys: some twenty entries."""
    for n in range(3):
        apikey_create(user=engineer, name=f"key {n}", by=engineer, at=NOW)
    assert problems() == []
    return shipped


def seqs() -> list[int]:
    return list(Entry.objects.order_by("seq").values_list("seq", flat=True))


# --- The log itself ------------------------------------------------------------------------------


def test_an_edited_entry_is_named(history):
    middle = seqs()[len(seqs()) // 2]
    Entry.objects.filter(seq=middle).update(actor_username="mallory")
    assert problems() == [f"entry #{middle}: its content does not match its hash (edited?)"]


def _delete_entries(first: int, last: int | None = None) -> list[str]:
    """Delete entries by raw SQL; returns the rows they vouched for, as verify names them."""
    gone = Entry.objects.filter(seq__gte=first, seq__lte=last or first)
    subjects = [f"{t} {i}: in the table, never in the log" for t, i in gone.values_list(
        "subject_type", "subject_id"
    )]  # fmt: skip
    sql(f"DELETE FROM {table(Entry)} WHERE seq BETWEEN %s AND %s", [first, last or first])  # noqa: S608
    return subjects


def test_an_entry_deleted_from_the_middle_is_named(history):
    middle = seqs()[len(seqs()) // 2]
    [orphan] = _delete_entries(middle)
    report = audit.verify()
    assert report.broken == [f"entry #{middle + 1}: #{middle} missing before it (deleted?)"]
    # Its subject's row has lost its entry too.
    assert [p.split(" (")[0] for p in report.unreconciled] == [orphan]


def test_entries_deleted_from_the_end_are_caught_by_the_head(history):
    end = seqs()[-1]
    _delete_entries(end - 1, end)
    assert audit.verify().broken == [
        f"the head says the log ends at #{end}, but its last entry is #{end - 2}: "
        "entries were removed from the end"
    ]


def test_entries_deleted_from_the_end_with_the_head_rewound_are_caught_by_an_anchor(history):
    anchor = audit.daily(at=NOW)
    end = anchor.seq
    _delete_entries(end)
    before = Entry.objects.get(seq=end - 1)
    Head.objects.filter(pk=1).update(seq=before.seq, hash=before.hash)
    assert audit.verify().broken == [
        f"the anchor of {anchor.day} (#{end}) is not on the chain: the log ends at #{end - 1}"
    ]
    # If the anchor rows go too, the e-mail's SEQ:HASH still tells.
    Anchor.objects.all().delete()
    assert audit.verify().broken == []
    assert audit.verify(expect=[(anchor.seq, anchor.hash)]).broken == [
        f"the expected {end}:{anchor.hash[:12]}… (#{end}) is not on the chain: "
        f"the log ends at #{end - 1}"
    ]


def _recompute_from(seq: int, key: bytes) -> None:
    """What someone with database access (and ``key``) does to hide an edit: rehash onwards."""
    prev = Entry.objects.get(seq=seq - 1).hash if seq > 1 else "0" * 64
    for entry in Entry.objects.filter(seq__gte=seq).order_by("seq"):
        content = {
            "seq": entry.seq,
            "at": audit.iso_utc(entry.at),
            "actor_id": entry.actor_id,
            "actor": entry.actor_username,
            "action": entry.action,
            "subject_type": entry.subject_type,
            "subject_id": entry.subject_id,
            "before": entry.before,
            "after": entry.after,
            "digest": entry.digest,
            "prev_hash": prev,
        }
        digest = audit.entry_hash(content)
        Entry.objects.filter(pk=entry.pk).update(
            prev_hash=prev, hash=digest, mac=audit.entry_mac(key, digest)
        )
        prev = digest
    Head.objects.filter(pk=1).update(hash=prev)


def test_a_chain_recomputed_without_the_key_fails_its_macs(history):
    middle = seqs()[len(seqs()) // 2]
    Entry.objects.filter(seq=middle).update(actor_username="mallory")
    _recompute_from(middle, key=b"a guess at the key")
    found = problems()
    assert found[0] == f"entry #{middle}: its MAC does not verify (written without AUDIT_KEY)"


def test_a_chain_recomputed_with_the_key_is_caught_by_the_anchor_sent_before(history):
    anchor = audit.daily(at=NOW)
    middle = seqs()[len(seqs()) // 2]
    Entry.objects.filter(seq=middle).update(actor_username="mallory")
    _recompute_from(middle, key=audit.mac_key())
    rewritten = Entry.objects.get(seq=anchor.seq).hash
    Anchor.objects.filter(pk=anchor.pk).update(hash=rewritten)  # thorough: the rows too
    assert problems() == []  # everything in the database agrees now
    # The e-mail does not.
    assert problems(expect=[(anchor.seq, anchor.hash)]) == [
        f"entry #{anchor.seq}: differs from the expected {anchor.seq}:{anchor.hash[:12]}… "
        f"({anchor.hash[:12]}…): rewritten since"
    ]


# --- The governed tables --------------------------------------------------------------------------


def test_a_release_event_changed_by_queryset_update_is_named(history):
    event = history.events.get(action="start")
    ReleaseEvent.objects.filter(pk=event.pk).update(at=NOW)  # the start moved, quietly
    entry = Entry.objects.get(subject_type="releases.releaseevent", subject_id=str(event.pk))
    assert problems() == [
        f"releases.releaseevent {event.pk}: differs from the log (entry #{entry.seq}): "
        "changed outside the log"
    ]


def test_a_row_changed_by_raw_sql_is_named(history, make_release, engineer):
    urgent = make_release(kind="exceptional", version="9.9.9", scheduled_start=IN_SLOT)
    request = ask(urgent, engineer)
    sql(f"UPDATE {table(ApprovalRequest)} SET status = 'approved' WHERE id = %s", [request.pk])  # noqa: S608
    entry = Entry.objects.get(action="approval_request.created")
    assert problems() == [
        f"approvals.approvalrequest {request.pk}: differs from the log (entry #{entry.seq}): "
        "changed outside the log"
    ]


def test_a_row_inserted_without_an_entry_is_named(history, engineer):
    sneaky = ApiKey(user=engineer, name="backdoor")
    sneaky.set_new_secret()
    sneaky.save()
    assert problems() == [
        f"accounts.apikey {sneaky.pk}: in the table, never in the log (inserted directly?)"
    ]


def test_a_row_deleted_without_an_entry_is_named(history):
    event = history.events.get(action="verify")
    sql(f"DELETE FROM {table(ReleaseEvent)} WHERE id = %s", [event.pk])  # noqa: S608
    entry = Entry.objects.get(subject_type="releases.releaseevent", subject_id=str(event.pk))
    assert problems() == [
        f"releases.releaseevent {event.pk}: in the log (entry #{entry.seq}), gone from the "
        "table without a deletion entry"
    ]


def test_a_row_the_log_says_was_deleted_may_not_come_back(history, engineer):
    key, _ = apikey_create(user=engineer, name="gone", at=NOW)
    ApiKey.objects.filter(pk=key.pk).delete()  # through the ORM: recorded
    assert problems() == []
    key.save(force_insert=True)
    assert problems() == [
        f"accounts.apikey {key.pk}: entry #{last().seq} says it was deleted, yet it is there"
    ]


# --- The command -------------------------------------------------------------------------------


def test_verify_says_one_line_and_exits_zero_when_all_is_well(history):
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    [line] = out.getvalue().splitlines()
    assert line.startswith(f"Audit log intact: {Entry.objects.count()} entries, head #")


def test_verify_exits_non_zero_naming_the_first_broken_entry_and_the_first_unreconciled_row(
    history,
):
    first, second = seqs()[3], seqs()[5]
    Entry.objects.filter(seq__in=[first, second]).update(action="release.nothing")
    event = history.events.get(action="verify")
    ReleaseEvent.objects.filter(pk=event.pk).update(details={"forged": True})
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("audit", "verify", stdout=out)
    message = str(failed.value)
    assert f"2 chain problem(s), first: entry #{first}:" in message
    assert f"1 unreconciled row(s), first: releases.releaseevent {event.pk}:" in message
    assert out.getvalue().splitlines()[0].startswith(f"BROKEN entry #{first}:")


def test_verify_checks_an_anchor_given_on_the_command_line(history):
    anchor = audit.daily(at=NOW)
    out = io.StringIO()
    call_command("audit", "verify", "--expect", f"{anchor.seq}:{anchor.hash}", stdout=out)
    assert "Audit log intact" in out.getvalue()
    wrong = "f" * 64
    with pytest.raises(CommandError, match="1 chain problem"):
        call_command("audit", "verify", "--expect", f"{anchor.seq}:{wrong}", stdout=io.StringIO())
    with pytest.raises(CommandError, match="is not an anchor"):
        call_command("audit", "verify", "--expect", "12:nothex", stdout=io.StringIO())


def test_the_daily_check_from_the_command_line_anchors_once(history, manager, time_machine):
    time_machine.move_to(NOW, tick=False)
    out = io.StringIO()
    call_command("audit", "daily", stdout=out)
    anchor = Anchor.objects.get()
    assert out.getvalue() == f"Anchored #{anchor.seq}:{anchor.hash}; sent to 1 people.\n"
    out = io.StringIO()
    call_command("audit", "daily", stdout=out)
    assert "done already" in out.getvalue()
