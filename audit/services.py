"""The audit log: every governed fact is appended here, in the transaction that makes the change.

- ``record(action=, subject=, actor=, at=, before=, after=)`` appends one entry.
- ``register(model, fields)`` names a model whose rows are governed, and which of their fields
  an entry's digest covers (``audit verify`` reconciles the rows with the log).
- ``deferred()`` holds the entries recorded inside it and appends them when the outermost such
  block ends, still inside the caller's transaction: the chain's lock is then the last lock the
  transaction takes, whatever the code in between locks.
- ``verify()`` walks the chain and reconciles the governed tables; ``daily()`` verifies and
  sends the head (an anchor) to senior management through whatever ``register_notifier`` plugged
  in; ``export()`` reads entries back.

This is the lowest app: it imports nothing from the project but ``lib``. Other apps plug in
(governed models, who may read the log, who is told of anchors and breaks) from their
AppConfig.ready.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import decimal
import hashlib
import hmac
import json
import logging
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models.signals import post_delete
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import Promise

from audit.models import GENESIS, Anchor, CanonicalJSONEncoder, Entry, Head

log = logging.getLogger(__name__)

_registry: dict[type, list[str]] = {}

# An entry's columns, in the order verify reads them and append writes them.
ENTRY_COLUMNS = (
    "seq", "at", "actor_id", "actor_username", "action", "subject_type", "subject_id",
    "before", "after", "digest", "prev_hash", "hash", "mac",
)  # fmt: skip


class ChainUnusable(Exception):
    """The chain's head row is gone while entries exist: nothing is appended to a chain whose
    end is unknown (``audit verify`` says more)."""


# --- Registration points (called from other apps' AppConfig.ready) ------------------------------


def register(model: type, fields: list[str]) -> None:
    """Declare a governed model and the fields whose values the log vouches for.

    Deleting a row through the ORM (the admin, a cascade) records a deletion entry by itself;
    a row deleted any other way is reported by ``audit verify``.
    """
    for name in fields:
        model._meta.get_field(name)  # a typo fails at start-up, not at the first verify
    _registry[model] = list(fields)
    post_delete.connect(_on_delete, sender=model, dispatch_uid=f"audit-delete-{label_of(model)}")


Notifier = Callable[..., Iterable[str]]
_notifiers: list[Notifier] = []
_readers: list[Callable[[Any], bool]] = []


def register_notifier(notifier: Notifier) -> None:
    """``notifier(kind=, key=, subject=, text=, data=, at=)`` tells people of an anchor
    (kind "anchor") or a break ("broken"), in the caller's transaction; it returns the addresses
    it queued for. Notifications plugs its outbox in here."""
    if notifier not in _notifiers:
        _notifiers.append(notifier)


def register_reader(predicate: Callable[[Any], bool]) -> None:
    """``predicate(user)`` says whether the user may read the log (accounts plugs its roles in).
    With no reader registered, nobody may."""
    if predicate not in _readers:
        _readers.append(predicate)


def may_read(user) -> bool:
    return bool(user and user.is_authenticated) and any(reader(user) for reader in _readers)


# --- Canonical forms ---------------------------------------------------------------------------


def label_of(model) -> str:
    return model._meta.label_lower


def iso_utc(value: dt.datetime) -> str:
    if timezone.is_naive(value):
        raise ValueError(f"{value!r} has no time zone: the log keeps instants, not wall times.")
    return value.astimezone(dt.UTC).isoformat()


def jsonable(value):
    """``value`` as JSON keeps it, exactly as the database will give it back.

    Instants become ISO 8601 UTC strings, model instances their primary key, tuples and sets
    lists, dict keys strings. A float that is a whole number becomes an int: PostgreSQL's jsonb
    gives ``1e20`` back as ``100000000000000000000``, and the hash must not change with it.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return str(value)  # a TextChoices member is a str subclass: its plain value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinities have no JSON form.")
        return int(decimal.Decimal(repr(value))) if value.is_integer() else value
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal | uuid.UUID | Promise):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, models.Model):
        return jsonable(value.pk)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    raise TypeError(f"The audit log cannot keep a {type(value).__name__}: {value!r}")


# One encoder, built once: json.dumps with options builds a new one per call. Sorted keys make
# the form independent of key order (jsonb reorders keys); ASCII escapes make it bytes-stable.
_canonical = CanonicalJSONEncoder().encode
_string = json.encoder.encode_basestring_ascii  # what the encoder does to a str, in C


def canonical(value) -> bytes:
    """The one byte string a JSON value hashes as, whatever its key order."""
    return _canonical(value).encode("ascii")


def entry_canonical(
    *, seq: int, at: str, actor_id: int | None, actor: str, action: str, subject_type: str,
    subject_id: str, before: str, after: str, digest: str | None, prev_hash: str,
) -> bytes:  # fmt: skip
    """``canonical`` of an entry's content (Pending.content), written out directly: the keys
    in their sorted order, ``before`` and ``after`` given as canonical JSON texts already. The
    same bytes as canonical(content) (a test keeps it so), at a fraction of the cost: verify
    builds it a million times."""
    return (
        f'{{"action":{_string(action)},"actor":{_string(actor)},'
        f'"actor_id":{"null" if actor_id is None else int(actor_id)},"after":{after},'
        f'"at":{_string(at)},"before":{before},'
        f'"digest":{"null" if digest is None else _string(digest)},'
        f'"prev_hash":{_string(prev_hash)},"seq":{int(seq)},'
        f'"subject_id":{_string(subject_id)},"subject_type":{_string(subject_type)}}}'
    ).encode("ascii")


def _iso_from_db(value) -> str:
    """An instant as the driver returns it (SQLite: naive, in UTC; PostgreSQL: aware) as
    iso_utc writes it."""
    if isinstance(value, str):  # a driver that leaves it as text
        value = parse_datetime(value)
    if value.tzinfo is None:
        return value.isoformat() + "+00:00"
    return value.astimezone(dt.UTC).isoformat()


def _scalar(value):
    """What JSON has no form for, as a row's digest writes it (instants as ISO 8601 UTC)."""
    if isinstance(value, dt.datetime):
        return _iso_from_db(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    raise TypeError(f"The audit log cannot keep a {type(value).__name__}: {value!r}")


# A row's values come straight from the driver, read the same way when an entry is recorded
# and when verify reconciles (so with the same types): instants are converted as the encoder
# meets them, and JSON columns stay the text the database gives (a fingerprint of what it
# holds). No ORM converters: they took half of verify's time at a million rows.
_row_canonical = CanonicalJSONEncoder(default=_scalar).encode


def digest_of(names: list[str], values: Iterable) -> str:
    """SHA-256 of a row's governed fields, as the driver returns them (see governed_rows)."""
    content = dict(zip(names, values, strict=True))
    return hashlib.sha256(_row_canonical(content).encode("ascii")).hexdigest()


# Every governed write reads its row back and every write appends: these run on every release
# transition, so they are plain SQL prepared once (the ORM compiles a query per call, which
# cost the transitions a quarter of their throughput; see bench/audit.py).
_sql_cache: dict[tuple, Any] = {}


def _select(model, where: str = "") -> str:
    """SELECT of the id and governed columns of ``model``'s rows (``where``: a condition)."""
    key = ("rows", model, where, connection.alias)
    if key not in _sql_cache:
        quote = connection.ops.quote_name
        names = _registry[model]
        columns = [model._meta.pk.column] + [model._meta.get_field(n).column for n in names]
        _sql_cache[key] = (
            f"SELECT {', '.join(quote(c) for c in columns)} "  # noqa: S608 - the model's names
            f"FROM {quote(model._meta.db_table)} "
            + (where.format(pk=quote(model._meta.pk.column)) if where else "")
        )
    return _sql_cache[key]


def current_digest(model, pk) -> str | None:
    """The digest of a governed row as the database holds it now; None when there is none."""
    pk_field = model._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(
            _select(model, "WHERE {pk} = %s"),
            [pk_field.get_db_prep_value(pk_field.to_python(pk), connection)],
        )
        row = cursor.fetchone()
    return None if row is None else digest_of(_registry[model], row[1:])


def _chunks(sql: str, chunk_size: int, params=()) -> Iterator[tuple]:
    """Rows of ``sql`` as the driver gives them, fetched in chunks: a server-side cursor on
    PostgreSQL (unless DISABLE_SERVER_SIDE_CURSORS), so a million rows never sit in memory."""
    server_side = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    with connection.chunked_cursor() if server_side else connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield from rows


def governed_rows(
    model, *, after: Any = None, chunk_size: int = 5000
) -> Iterator[tuple[Any, list, str]]:
    """(id, governed values as the driver gives them, digest) of a governed model's rows, in
    id order (only those with an id above ``after``, if given)."""
    names = _registry[model]
    if after is None:
        rows = _chunks(_select(model, "ORDER BY {pk}"), chunk_size)
    else:
        rows = _chunks(_select(model, "WHERE {pk} > %s ORDER BY {pk}"), chunk_size, [after])
    for pk, *values in rows:
        yield pk, values, digest_of(names, values)


def shown(model, values: list) -> dict:
    """A row's governed values, as the driver gives them, as an entry shows them (after)."""
    content = {}
    for name, value in zip(_registry[model], values, strict=True):
        field = model._meta.get_field(name)
        if isinstance(value, str | bytes) and field.get_internal_type() == "JSONField":
            value = json.loads(value)
        elif isinstance(value, dt.datetime):
            value = _iso_from_db(value)
        content[name] = jsonable(value)
    return content


def snapshot(instance, fields: Iterable[str] | None = None) -> dict:
    """The governed fields of ``instance`` (or ``fields`` of it), JSON-safe: for before/after."""
    names = fields if fields is not None else _registry[type(instance)]
    return {
        name: jsonable(getattr(instance, instance._meta.get_field(name).attname)) for name in names
    }


def entry_hash(fields: dict) -> str:
    """SHA-256 of an entry's canonical JSON (every field but its hash and MAC): ``fields`` as
    Pending.content gives them."""
    return hashlib.sha256(canonical(fields)).hexdigest()


def mac_key() -> bytes:
    """AUDIT_KEY, or a key derived from SECRET_KEY. Never stored in the database: whoever can
    write to the database cannot forge an entry."""
    if settings.AUDIT_KEY:
        return settings.AUDIT_KEY.encode()
    return hmac.digest(settings.SECRET_KEY.encode(), b"nightshift.audit.mac", "sha256")


def entry_mac(key: bytes, entry_hash_hex: str) -> str:
    return hmac.digest(key, entry_hash_hex.encode("ascii"), "sha256").hex()


# --- Appending ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pending:
    """An entry without its place in the chain (seq, prev_hash, hash, mac) yet."""

    at: dt.datetime
    actor_id: int | None
    actor_username: str
    action: str
    subject_type: str
    subject_id: str
    before: Any
    after: Any
    digest: str | None

    def content(self, seq: int, prev_hash: str) -> dict:
        """What the hash covers: everything the entry says. The same dict verify rebuilds."""
        return {
            "seq": seq,
            "at": iso_utc(self.at),
            "actor_id": self.actor_id,
            "actor": self.actor_username,
            "action": self.action,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "before": self.before,
            "after": self.after,
            "digest": self.digest,
            "prev_hash": prev_hash,
        }

    def hash(self, seq: int, prev_hash: str) -> str:
        """entry_hash(self.content(seq, prev_hash)), the fast way (entry_canonical)."""
        content = entry_canonical(
            seq=seq,
            at=iso_utc(self.at),
            actor_id=self.actor_id,
            actor=self.actor_username,
            action=self.action,
            subject_type=self.subject_type,
            subject_id=self.subject_id,
            before=_canonical(self.before),
            after=_canonical(self.after),
            digest=self.digest,
            prev_hash=prev_hash,
        )
        return hashlib.sha256(content).hexdigest()


_deferred: contextvars.ContextVar[list[Pending] | None] = contextvars.ContextVar(
    "audit_deferred", default=None
)
# The request being served (set by audit.middleware): its user is the actor of deletions the
# ORM makes (the admin's delete, a cascade), where no service says who acted.
current_request: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "audit_current_request", default=None
)


@contextlib.contextmanager
def deferred():
    """Append what is recorded inside when the outermost block ends (not if it raises).

    Use it inside the transaction, around code that takes row locks after recording: every
    append locks the chain's head until the commit, so a row lock taken after it could
    deadlock with a transaction that holds that row and waits for the head. Do not catch,
    inside it, an error whose savepoint rolled back a recorded change: its entry would stay.
    """
    if _deferred.get() is not None:
        yield
        return
    pending: list[Pending] = []
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
    if pending:
        append(pending)


def _subject(subject) -> tuple[str, str, type | None]:
    if isinstance(subject, models.Model):
        if subject.pk is None:
            raise ValueError("Record a subject once it is saved: it needs its id.")
        model = type(subject)._meta.concrete_model
        return label_of(model), str(subject.pk), model if model in _registry else None
    kind, pk = subject
    model = next((m for m in _registry if label_of(m) == kind), None)
    return str(kind), str(pk), model


def _actor(actor) -> tuple[int | None, str]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None, ""
    return actor.pk, actor.get_username()


def _millis(at: dt.datetime) -> dt.datetime:
    """Entries keep milliseconds, as Django's serializers do: a dumpdata/loaddata copy of the
    log (or a test's serialized rollback) still verifies."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def pending_entry(
    *, action: str, subject, actor=None, at: dt.datetime, before=None, after=None
) -> Pending:
    """An entry for ``record`` (or a bulk append), the subject's digest read now."""
    subject_type, subject_id, model = _subject(subject)
    iso_utc(at)  # refuses a naive instant
    actor_id, username = _actor(actor)
    return Pending(
        at=_millis(at),
        actor_id=actor_id,
        actor_username=username,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        before=jsonable(before),
        after=jsonable(after),
        # Read back from the database, as verify will: the stored form, not the object's.
        digest=current_digest(model, subject_id) if model is not None else None,
    )


def record(
    *,
    action: str,
    subject: Any,
    actor=None,
    at: dt.datetime,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    """Append one entry for ``subject`` (a model instance, or a ("type", id) pair).

    Inside the caller's transaction: a rollback takes the entry with the change. ``before`` and
    ``after`` say what changed (JSON-safe here); the digest covers the subject's governed
    fields as the database holds them now (None once deleted).
    """
    entry = pending_entry(
        action=action, subject=subject, actor=actor, at=at, before=before, after=after
    )
    held = _deferred.get()
    if held is not None:
        held.append(entry)
    else:
        append([entry])


def _head_sql() -> tuple[str, str, str, list[tuple]]:
    """The head's SELECT (FOR UPDATE where the database has it) and UPDATE, the entry's INSERT,
    and which of its values the database needs adapted (instants and JSON; the rest as is)."""
    key = ("head", connection.alias)
    if key not in _sql_cache:
        quote = connection.ops.quote_name
        head, entry = quote(Head._meta.db_table), quote(Entry._meta.db_table)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        fields = [Entry._meta.get_field(name) for name in ENTRY_COLUMNS]
        adapted = [
            (i, f)
            for i, f in enumerate(fields)
            if f.get_internal_type() in ("DateTimeField", "JSONField")
        ]
        _sql_cache[key] = (
            f"SELECT seq, hash FROM {head} WHERE id = 1{lock}",  # noqa: S608 - our own tables
            f"UPDATE {head} SET seq = %s, hash = %s WHERE id = 1",  # noqa: S608
            f"INSERT INTO {entry} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(fields))})",
            adapted,
        )
    return _sql_cache[key]


def _locked_head(cursor, select: str) -> tuple[int, str]:
    cursor.execute(select)
    row = cursor.fetchone()
    if row is not None:
        return row
    # The migration makes the head; a database flushed since (tests) has none, nor entries.
    # Create it: a writer doing the same at once waits for our commit, then takes ours.
    try:
        with transaction.atomic():
            Head.objects.create(pk=1, seq=0, hash=GENESIS)
    except IntegrityError:
        cursor.execute(select)
        return cursor.fetchone()
    if Entry.objects.exists():  # a fresh head on an old chain would fork it
        raise ChainUnusable(
            "The audit log's head is missing while entries exist; run `manage.py audit verify`."
        )
    cursor.execute(select)
    return cursor.fetchone()


def append(pending: list[Pending], *, batch_size: int = 1000) -> int:
    """Chain and insert entries under the head's lock (held until the caller commits).

    On PostgreSQL a second writer waits here for the first to commit and then reads its new
    head, so the chain never forks; SQLite writers take turns anyway. Returns the last seq.
    No savepoint of its own: inside the caller's transaction, a failure here fails it.
    """
    key = mac_key()
    select, update, insert, adapted = _head_sql()
    db = transaction.get_connection()
    with transaction.atomic(savepoint=False), db.cursor() as cursor:
        seq, prev = _locked_head(cursor, select)
        rows = []
        for item in pending:
            seq += 1
            digest = item.hash(seq, prev)
            row = [
                seq, item.at, item.actor_id, item.actor_username, item.action,
                item.subject_type, item.subject_id, item.before, item.after, item.digest,
                prev, digest, entry_mac(key, digest),
            ]  # fmt: skip
            for i, field in adapted:
                row[i] = field.get_db_prep_save(row[i], db)
            rows.append(row)
            prev = digest
            if len(rows) >= batch_size:
                cursor.executemany(insert, rows)
                rows = []
        if rows:
            cursor.executemany(insert, rows)
        cursor.execute(update, [seq, prev])
    return seq


def _on_delete(sender, instance, **kwargs):
    """A governed row deleted through the ORM (the admin, a cascade): a deletion entry."""
    request = current_request.get()
    record(
        action=f"{label_of(sender)}.deleted",
        subject=(label_of(sender), instance.pk),
        actor=getattr(request, "user", None),
        at=timezone.now(),
        before=snapshot(instance),
    )


def baseline(*, at: dt.datetime | None = None) -> int:
    """An entry for every governed row the log has never seen (rows that predate the log, or a
    model newly registered); returns how many. Rows that differ from the log are left alone:
    that is tampering for ``verify`` to report, not something to bless."""
    at = _millis(at or timezone.now())
    pending = []
    with transaction.atomic():
        for model in _registry:
            label = label_of(model)
            seen = set(
                Entry.objects.filter(subject_type=label)
                .values_list("subject_id", flat=True)
                .distinct()
            )
            for pk, values, digest in governed_rows(model):
                if str(pk) in seen:
                    continue
                pending.append(
                    Pending(
                        at=at,
                        actor_id=None,
                        actor_username="",
                        action=f"{label}.baseline",
                        subject_type=label,
                        subject_id=str(pk),
                        before=None,
                        after=shown(model, values),
                        digest=digest,
                    )
                )
        if pending:
            append(pending)
    return len(pending)


# --- Verifying ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    """What ``verify`` found. ``broken`` and ``unreconciled`` keep the first few problems."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    rows: int = 0
    anchors: int = 0
    broken: list[str] = dataclasses.field(default_factory=list)
    broken_count: int = 0
    unreconciled: list[str] = dataclasses.field(default_factory=list)
    unreconciled_count: int = 0

    KEEP = 20

    @property
    def ok(self) -> bool:
        return not (self.broken_count or self.unreconciled_count)

    def chain_problem(self, text: str) -> None:
        self.broken_count += 1
        if len(self.broken) < self.KEEP:
            self.broken.append(text)

    def row_problem(self, text: str) -> None:
        self.unreconciled_count += 1
        if len(self.unreconciled) < self.KEEP:
            self.unreconciled.append(text)

    def summary(self) -> str:
        if self.ok:
            return (
                f"Audit log intact: {self.entries:,} entries, head #{self.head_seq} "
                f"{self.head_hash[:16]}…; {self.rows:,} governed rows match the log; "
                f"{self.anchors:,} anchor(s) on the chain."
            )
        parts = []
        if self.broken_count:
            parts.append(f"{self.broken_count:,} chain problem(s), first: {self.broken[0]}")
        if self.unreconciled_count:
            parts.append(
                f"{self.unreconciled_count:,} unreconciled row(s), first: {self.unreconciled[0]}"
            )
        return "Audit log BROKEN: " + " | ".join(parts)


def parse_anchor(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` (as the anchor e-mail gives it) → (seq, hash)."""
    seq, sep, digest = text.strip().partition(":")
    digest = digest.strip().lower()
    if not (sep and seq.isdigit() and len(digest) == 64) or set(digest) - set("0123456789abcdef"):
        raise ValueError(f"'{text}' is not an anchor: give SEQ:HASH, e.g. 1234:9f86d0…(64 hex).")
    return int(seq), digest


def verify(*, expect: Iterable[tuple[int, str]] = (), chunk_size: int = 5000) -> Report:
    """Walk the chain (contiguous numbers, links, hashes, MACs, the head, every anchor and each
    ``expect``ed SEQ:HASH), then reconcile every governed table with the log's digests.

    Reads values, not model instances, in chunks (a server-side cursor on PostgreSQL), and
    keeps only the latest digest per governed subject in memory.
    """
    report = Report()
    key = mac_key()
    types = {label_of(model): model for model in _registry}
    latest: dict[str, dict[str, tuple[str | None, int]]] = {label: {} for label in types}
    anchors = [
        (seq, digest, f"the anchor of {day}")
        for day, seq, digest in Anchor.objects.filter(seq__isnull=False)
        .order_by("day")
        .values_list("day", "seq", "hash")
    ]
    expected = anchors + [
        (seq, digest, f"the expected {seq}:{digest[:12]}…") for seq, digest in expect
    ]
    wanted = {seq for seq, _, _ in expected}
    found: dict[int, str] = {0: GENESIS}

    # SQLite keeps the canonical text append wrote, which is hashed as it is; PostgreSQL's jsonb
    # rewrites it, so it is parsed and written canonically again (as is any text that does not
    # match at first: another key order still verifies).
    as_stored = connection.vendor == "sqlite"
    prev_seq, prev_hash = 0, GENESIS
    for (seq, at, actor_id, actor, action, stype, sid, before, after, digest, prev, own,
         mac) in _entry_rows(chunk_size):  # fmt: skip
        report.entries += 1
        if seq != prev_seq + 1:
            missing = f"#{prev_seq + 1}" if seq == prev_seq + 2 else f"#{prev_seq + 1}–#{seq - 1}"
            report.chain_problem(
                f"entry #{seq}: {missing} missing before it (deleted?)"
                if seq > prev_seq
                else f"entry #{seq}: out of order after #{prev_seq}"
            )
        elif prev != prev_hash:
            report.chain_problem(f"entry #{seq}: its link does not match entry #{prev_seq}'s hash")
        fields = {
            "seq": seq, "at": _iso_from_db(at), "actor_id": actor_id, "actor": actor,
            "action": action, "subject_type": stype, "subject_id": sid, "digest": digest,
            "prev_hash": prev,
        }  # fmt: skip
        matches = False
        if as_stored and isinstance(before or "", str) and isinstance(after or "", str):
            content = entry_canonical(before=before or "null", after=after or "null", **fields)
            matches = hashlib.sha256(content).hexdigest() == own
        if not matches:
            content = entry_canonical(before=_json_text(before), after=_json_text(after), **fields)
            matches = hashlib.sha256(content).hexdigest() == own
        if not matches:
            report.chain_problem(f"entry #{seq}: its content does not match its hash (edited?)")
        elif not hmac.compare_digest(mac, entry_mac(key, own)):
            report.chain_problem(
                f"entry #{seq}: its MAC does not verify (written without AUDIT_KEY)"
            )
        if seq in wanted:
            found[seq] = own
        subjects = latest.get(stype)
        if subjects is not None:
            subjects[sid] = (digest, seq)
        prev_seq, prev_hash = seq, own
    report.head_seq, report.head_hash = prev_seq, prev_hash

    head = Head.objects.filter(pk=1).values_list("seq", "hash").first() or (0, GENESIS)
    if head[0] > prev_seq:
        report.chain_problem(
            f"the head says the log ends at #{head[0]}, but its last entry is #{prev_seq}: "
            "entries were removed from the end"
        )
    elif head != (prev_seq, prev_hash):
        report.chain_problem(
            f"the head (#{head[0]} {head[1][:12]}…) does not match the last entry "
            f"(#{prev_seq} {prev_hash[:12]}…)"
        )
    for seq, digest, name in expected:
        if seq not in found:
            report.chain_problem(
                f"{name} (#{seq}) is not on the chain: the log ends at #{prev_seq}"
            )
        elif found[seq] != digest:
            report.chain_problem(
                f"entry #{seq}: differs from {name} ({digest[:12]}…): rewritten since"
            )
        elif name.startswith("the anchor"):
            report.anchors += 1

    for label, model in types.items():
        _reconcile(model, latest[label], report, chunk_size)
    return report


def _entry_rows(chunk_size: int) -> Iterator[tuple]:
    """Every entry in chain order, as the driver gives it (see _chunks)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(Entry._meta.get_field(name).column) for name in ENTRY_COLUMNS)
    sql = f"SELECT {columns} FROM {quote(Entry._meta.db_table)} ORDER BY seq"  # noqa: S608
    return _chunks(sql, chunk_size)


def _json_text(value) -> str:
    """A JSON column's value as canonical JSON text (SQL NULL as null)."""
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return _canonical(value)


def _reconcile(model, logged: dict, report: Report, chunk_size: int) -> None:
    label = label_of(model)
    for pk, _, digest_now in governed_rows(model, chunk_size=chunk_size):
        report.rows += 1
        digest, seq = logged.pop(str(pk), (False, 0))
        if digest is False:
            report.row_problem(f"{label} {pk}: in the table, never in the log (inserted directly?)")
        elif digest is None:
            report.row_problem(f"{label} {pk}: entry #{seq} says it was deleted, yet it is there")
        elif digest != digest_now:
            report.row_problem(
                f"{label} {pk}: differs from the log (entry #{seq}): changed outside the log"
            )
    for pk, (digest, seq) in logged.items():
        if digest is not None:
            report.row_problem(
                f"{label} {pk}: in the log (entry #{seq}), gone from the table without a "
                "deletion entry"
            )


# --- Anchors: the head, sent daily to people outside the database -------------------------------


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(zoneinfo.ZoneInfo(settings.DISPLAY_TIME_ZONE)).date()


def _notify(kind: str, *, key: str, subject: str, text: str, data: dict, at) -> list[str]:
    sent: list[str] = []
    for notifier in _notifiers:
        sent.extend(notifier(kind=kind, key=key, subject=subject, text=text, data=data, at=at))
    return sorted(set(sent))


def daily(*, at: dt.datetime | None = None) -> Anchor | None:
    """Today's check, once a day (the schedule runs it often; the clock says if it is due).

    Verifies the whole log; if intact, records and sends the head as today's anchor, else sends
    the first problems instead. Either way senior management hears once that day. Returns the
    day's record, or None when it was done already.
    """
    at = at or timezone.now()
    day = local_day(at)
    if Anchor.objects.filter(day=day).exists():
        return None
    report = verify()
    if report.ok:
        anchor = Anchor(day=day, at=at, seq=report.head_seq, hash=report.head_hash)
        kind, message = "anchor", _anchor_message(anchor, report)
    else:
        anchor = Anchor(day=day, at=at, problem="\n".join(report.broken + report.unreconciled))
        kind, message = "broken", _broken_message(anchor, report)
    with transaction.atomic():
        try:
            with transaction.atomic():
                anchor.save()
        except IntegrityError:
            return None  # another cluster did today's meanwhile
        anchor.recipients = _notify(kind, **message)
        anchor.save(update_fields=["recipients"])
    if not report.ok:
        log.error("audit: %s", report.summary())
    return anchor


def _anchor_message(anchor: Anchor, report: Report) -> dict:
    text = (
        f"The audit log's head on {anchor.day}: entry #{anchor.seq}, hash\n\n"
        f"    {anchor.seq}:{anchor.hash}\n\n"
        "Please keep this e-mail. Anyone who later doubts the log checks that this point is "
        "still on it:\n\n"
        f"    manage.py audit verify --expect {anchor.seq}:{anchor.hash}\n\n"
        "Whoever rewrote history before this point would have to change this e-mail too.\n\n"
        f"Today's verification: {report.summary()}\n"
    )
    return {
        "key": f"audit:anchor:{anchor.day.isoformat()}",
        "subject": f"Audit log anchor {anchor.day}: #{anchor.seq}",
        "text": text,
        "data": {"day": anchor.day.isoformat(), "seq": anchor.seq, "hash": anchor.hash},
        "at": anchor.at,
    }


def _broken_message(anchor: Anchor, report: Report) -> dict:
    problems = "\n".join(f"  - {p}" for p in report.broken + report.unreconciled)
    text = (
        f"Verifying the audit log on {anchor.day} failed, so no anchor was sent today.\n\n"
        f"{report.summary()}\n\nFirst problems:\n{problems}\n\n"
        "Someone changed governed data or the log outside Nightshift. Run "
        "`manage.py audit verify` for the details, and compare with your last anchor e-mail.\n"
    )
    return {
        "key": f"audit:broken:{anchor.day.isoformat()}",
        "subject": f"Audit log verification FAILED on {anchor.day}",
        "text": text,
        "data": {
            "day": anchor.day.isoformat(),
            "broken": report.broken_count,
            "unreconciled": report.unreconciled_count,
        },
        "at": anchor.at,
    }


# --- Reading back --------------------------------------------------------------------------------

# The instants Nightshift accepts anywhere (README, "What input is accepted"), for filters.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def parse_instant(raw: str) -> dt.datetime:
    """ISO 8601 with an offset, within 1970–2199; a naive instant is refused, never guessed."""
    text = str(raw).strip()
    quoted = text if len(text) <= 40 else text[:40] + "…"
    try:
        parsed = parse_datetime(text) if len(text) <= 64 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"'{quoted}' is not an ISO 8601 date-time, e.g. 2026-11-26T08:00:00Z.")
    if parsed.tzinfo is None:
        raise ValueError(f"'{quoted}' has no UTC offset; add one, e.g. …T08:00:00-08:00 or …Z.")
    try:
        parsed = parsed.astimezone(dt.UTC)
    except OverflowError:
        parsed = None
    if parsed is None or not EARLIEST <= parsed < LATEST:
        raise ValueError(f"'{quoted}' is outside the supported range (1970–2199).")
    return parsed


def entries(
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    actor: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    action: str | None = None,
):
    """Entries in chain order, filtered (``until`` excluded)."""
    queryset = Entry.objects.order_by("seq")
    if since is not None:
        queryset = queryset.filter(at__gte=since)
    if until is not None:
        queryset = queryset.filter(at__lt=until)
    if actor:
        queryset = queryset.filter(actor_username=actor)
    if subject_type:
        queryset = queryset.filter(subject_type=subject_type)
    if subject_id:
        queryset = queryset.filter(subject_id=subject_id)
    if action:
        queryset = queryset.filter(action=action)
    return queryset


EXPORT_FIELDS = [
    "seq", "at", "actor_id", "actor", "action", "subject_type", "subject_id",
    "before", "after", "digest", "prev_hash", "hash", "mac",
]  # fmt: skip


def export(**filters) -> Iterator[dict]:
    """Entries as plain dicts (EXPORT_FIELDS), streamed: for the command's JSON Lines and CSV."""
    rows = entries(**filters).values_list(*ENTRY_COLUMNS)
    for row in rows.iterator(chunk_size=2000):
        values = dict(zip(EXPORT_FIELDS, row, strict=True))
        values["at"] = iso_utc(values["at"])
        yield values
