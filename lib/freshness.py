"""What a thread read from the database, remembered until anything is committed to it.

The gate and API-key authentication read a revision token at every request, so that a freeze
declared on one server stops the next deploy asked of another, and a revoked key fails at
once. On SQLite, ``PRAGMA data_version`` tells without reading a table whether any *other*
connection (another process, another thread) has committed since this connection last asked,
and the connection's ``total_changes`` counts the rows it wrote itself. Together they say when
a value read earlier is still the database's, and ``remembered`` skips the query then.

Nothing is remembered inside a transaction, atomic() or manual (a rollback would leave behind
what was never committed), nor on PostgreSQL, which has no such counter: there the query runs
every time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, connections

T = TypeVar("T")

_local = threading.local()
MOST_KEYS = 256  # per thread: keys made of what clients send (a component's slug) stay bounded


def remembered(key, load: Callable[[], T], still: Callable[[T], bool] | None = None) -> T:
    """``load()``, or what it returned for ``key`` in this thread, if nothing was committed to
    the database since (SQLite, outside a transaction) and ``still(value)`` holds (a value that
    also depends on the clock says until when); ``load()`` every time otherwise."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the proxy looks it up again
    if db.vendor != "sqlite" or db.in_atomic_block:
        return load()
    if (raw := db.connection) is None:
        db.ensure_connection()
        raw = db.connection
    if raw.in_transaction:  # a transaction outside atomic() (set_autocommit(False)) too
        return load()
    look = getattr(_local, "look", None)
    if look is not None and look[0] is raw:  # one_look(): already asked in this block
        version = look[1]
    else:
        (version,) = raw.execute("PRAGMA data_version").fetchone()
        if look is not None:
            _local.look = (raw, version)
    stamp = (version, raw.total_changes)  # others' commits, and this connection's own writes
    memo = getattr(_local, "memo", None)
    # The connection itself is kept and compared (not its id, which a new one could reuse;
    # a new connection's counters start again).
    if memo is None or memo[0] is not raw or memo[1] != stamp:
        memo = _local.memo = (raw, stamp, {})
    values = memo[2]
    if key in values and (still is None or still(values[key])):
        return values[key]
    value = load()  # read after the stamp: a commit in between shows next time
    if key in values or len(values) < MOST_KEYS:
        values[key] = value
    return value


@contextmanager
def one_look() -> Iterator[None]:
    """Within the block, ``remembered`` asks whether others have committed only once (a request
    that reads several remembered values: a key's and the rules' revisions): what it reads is
    the database as of that look, as if the block had run at once. Its own writes are still
    seen at once (``total_changes`` is read every time, and costs no query)."""
    outer = getattr(_local, "look", None)
    _local.look = (None, None)  # no connection is None: the first call looks
    try:
        yield
    finally:
        _local.look = outer
