"""Rate limits every worker shares, and the one answer to "who is this client?".

Counters are fixed windows (a client may burst up to twice the rate across a boundary), kept
where every process of the deployment sees them: Redis when ``REDIS_URL`` is set (INCR is
atomic), otherwise a small SQLite file beside the database whose upsert is atomic too. A
process-local counter would give each gunicorn worker its own allowance.

The client's address is REMOTE_ADDR, unless ``TRUSTED_PROXY_COUNT`` proxies stand in front:
then it is the address the outermost trusted proxy saw, read from the right of
X-Forwarded-For. Anything further left was written by the client and proves nothing.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


def client_address(request) -> str:
    """The address requests of this client come from, as far as trusted proxies tell."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    # Each trusted proxy appends what it saw; the last `proxies` entries are theirs.
    if len(forwarded) >= proxies:
        return forwarded[-proxies]
    return remote


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    retry_after: float  # seconds until the window ends


class _Redis:
    def __init__(self, url: str):
        import redis

        self._client = redis.Redis.from_url(url)

    def incr(self, key: str, ttl: int, by: int = 1) -> int:
        pipe = self._client.pipeline()
        pipe.incrby(key, by)
        pipe.expire(key, ttl, nx=True)
        return int(pipe.execute()[0])


class _SQLite:
    """Counters in a SQLite file of their own: an atomic upsert per hit, no lock held."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()
        self._last_prune = 0.0

    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # counters, not records: speed over fsync
            conn.execute(
                "CREATE TABLE IF NOT EXISTS hits (key TEXT PRIMARY KEY, n INTEGER NOT NULL, "
                "expires REAL NOT NULL)"
            )
            self._local.conn = conn
        return conn

    def incr(self, key: str, ttl: int, by: int = 1) -> int:
        now = time.time()
        db = self._db()
        (count,) = db.execute(
            "INSERT INTO hits (key, n, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET n = n + excluded.n RETURNING n",
            (key, by, now + ttl),
        ).fetchone()
        if now - self._last_prune > 60:
            self._last_prune = now
            db.execute("DELETE FROM hits WHERE expires < ?", (now,))
        return int(count)


class _Memory:
    """One process only: for tests, and a single-process server."""

    def __init__(self):
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def incr(self, key: str, ttl: int, by: int = 1) -> int:
        now = time.time()
        with self._lock:
            count, expires = self._counts.get(key, (0, now + ttl))
            if expires < now:
                count, expires = 0, now + ttl
            self._counts[key] = (count + by, expires)
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if v[1] >= now}
            return count + by


_store = None
_store_lock = threading.Lock()


def store():
    """The configured counter store (``RATE_LIMIT_STORE``), made once per process."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                kind, _, where = settings.RATE_LIMIT_STORE.partition(":")
                if kind == "redis":
                    _store = _Redis(where)
                elif kind == "sqlite":
                    _store = _SQLite(Path(where))
                else:
                    _store = _Memory()
    return _store


def reset_store() -> None:
    """Forget the store and the reservations taken from it (tests that change the store)."""
    global _store
    _store = None
    _leases.clear()


def _window(scope: str, ident: str, period: int) -> tuple[str, float]:
    """The counter of ``ident`` in ``scope`` for the current fixed window, and the seconds
    until that window ends."""
    now = time.time()
    window = int(now // period)
    key = f"{settings.RATE_LIMIT_PREFIX}:{scope}:{ident}:{window}"
    return key, period - (now - window * period)


def hit(scope: str, ident: str, *, limit: int, period: int) -> Verdict:
    """Count one request of ``ident`` in ``scope``; allowed while within ``limit`` per period."""
    key, retry_after = _window(scope, ident, period)
    count = store().incr(key, period + 1)
    return Verdict(count <= limit, count, retry_after)


# Per process: (window key, limit) -> (hits reserved in the shared count and not yet spent here,
# the shared count when last read).
_leases: dict[tuple[str, int], tuple[int, int]] = {}
_leases_lock = threading.Lock()
LEASE_SHARE = 16  # a reservation takes at most this fraction of what is left of the limit
MOST_LEASES = 10_000


def hit_leased(scope: str, ident: str, *, limit: int, period: int) -> Verdict:
    """``hit``, for the hottest limits: the shared count is taken in reservations of up to a
    sixteenth of what is left of the limit, spent here without asking the store again.

    Far from the limit (the gate under a generous one), most calls touch no store at all;
    near it a reservation shrinks to one hit, so the limit is counted exactly where it bites.
    Reserved hits count as made: a client may be refused up to a sixteenth of the remainder
    per process early, never allowed past the limit. Once a process has seen the limit
    reached, it refuses the rest of the window itself. ``Verdict.count`` is an estimate.
    """
    key, retry_after = _window(scope, ident, period)
    with _leases_lock:
        left, seen = _leases.get((key, limit), (0, 0))
        if left > 0:
            _leases[key, limit] = (left - 1, seen)
            return Verdict(True, seen - left + 1, retry_after)
        if seen >= limit:  # the window is spent for everyone: no need to ask again
            return Verdict(False, seen, retry_after)
    batch = max(1, (limit - seen) // LEASE_SHARE)
    count = store().incr(key, period + 1, by=batch)
    granted = min(batch, limit - (count - batch))  # the part of the batch within the limit
    with _leases_lock:
        if len(_leases) >= MOST_LEASES:
            _leases.clear()
        _leases[key, limit] = (max(0, granted - 1), count)
    if granted <= 0:
        return Verdict(False, count, retry_after)
    return Verdict(True, count - batch + 1, retry_after)


PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.lru_cache(maxsize=64)  # each gate call reads the anonymous rate
def parse_rate(rate: str) -> tuple[int, int]:
    """'300/minute' → (300, 60)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip()[0].lower()]
