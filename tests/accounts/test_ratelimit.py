"""Rate limits hold whatever a client writes in its headers, and count across processes."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from accounts import ratelimit
from accounts.permissions import PublicThrottle

GATE = "/api/v1/gate/"


def _request(remote="203.0.113.7", forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


def test_without_trusted_proxies_the_client_is_the_socket_address(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert ratelimit.client_address(_request(forwarded="198.51.100.1")) == "203.0.113.7"


def test_behind_one_proxy_the_client_is_what_that_proxy_saw_not_what_the_client_wrote(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client forged the first entry; our proxy appended the address it saw.
    request = _request(remote="10.0.0.2", forwarded="192.0.2.66, 198.51.100.23")
    assert ratelimit.client_address(request) == "198.51.100.23"
    assert ratelimit.client_address(_request(remote="10.0.0.2")) == "10.0.0.2"


@pytest.mark.django_db
def test_a_fresh_forwarded_for_per_request_does_not_escape_the_throttle(
    monkeypatch, api_component, settings
):
    settings.RATE_LIMIT_PREFIX = f"xff-{os.getpid()}"
    monkeypatch.setattr(PublicThrottle, "THROTTLE_RATES", {"public": "3/minute"})
    client = APIClient(REMOTE_ADDR="203.0.113.50")
    codes = [
        client.get(
            GATE, {"component": "items-api"}, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}"
        ).status_code
        for n in range(6)
    ]
    assert codes == [200, 200, 200, 429, 429, 429]


def _count_in_child(path: str, key: str, hits: int, queue) -> None:
    store = ratelimit._SQLite(path)
    queue.put([store.incr(key, 60) for _ in range(hits)][-1])


def test_the_sqlite_store_is_one_count_for_every_process(tmp_path):
    path = tmp_path / "ratelimit.sqlite3"
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_count_in_child, args=(path, "k", 50, queue)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    finals = sorted(queue.get(timeout=5) for _ in workers)
    assert finals[-1] == 200  # 4 × 50, no hit lost between processes
    assert ratelimit._SQLite(path).incr("k", 60) == 201


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_the_redis_store_counts_atomically(settings):
    store = ratelimit._Redis(os.environ["REDIS_URL"])
    key = f"test-{os.getpid()}-{id(store)}"
    assert [store.incr(key, 5) for _ in range(3)] == [1, 2, 3]
    assert 0 < store._client.ttl(key) <= 5


class CountingStore(ratelimit._Memory):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def incr(self, key, ttl, by=1):
        self.calls += 1
        return super().incr(key, ttl, by)


@pytest.fixture
def counting(monkeypatch, settings):
    settings.RATE_LIMIT_PREFIX = f"lease-{os.getpid()}-{id(settings)}"
    store = CountingStore()
    monkeypatch.setattr(ratelimit, "_store", store)
    monkeypatch.setattr(ratelimit, "_leases", {})
    return store


def test_far_from_the_limit_a_hit_rarely_touches_the_shared_store(counting):
    verdicts = [
        ratelimit.hit_leased("public", "198.51.100.9", limit=100_000, period=3600)
        for _ in range(500)
    ]
    assert all(v.allowed for v in verdicts)
    assert counting.calls == 1  # one reservation of 6,250 covers them all
    key = next(iter(counting._counts))
    assert counting._counts[key][0] >= 500  # reserved hits count as made: never under-counted


def test_processes_reserving_together_never_pass_the_limit_and_near_it_count_exactly(
    counting, monkeypatch
):
    """Three processes (each its own reservations) hammer one client's count: together they
    allow at most the limit, and lose at most a sixteenth of it to reservations unspent."""
    processes = [{}, {}, {}]
    allowed = 0
    for n in range(3000):
        monkeypatch.setattr(ratelimit, "_leases", processes[n % 3])
        allowed += ratelimit.hit_leased("public", "198.51.100.10", limit=1000, period=3600).allowed
    assert 1000 - 3 * (1000 // 16) <= allowed <= 1000
    assert counting.calls < 3000 // 2  # most hits were spent from reservations
    monkeypatch.setattr(ratelimit, "_leases", {})
    small = [
        ratelimit.hit_leased("public", "198.51.100.11", limit=10, period=3600) for _ in range(16)
    ]
    assert [v.allowed for v in small] == [True] * 10 + [False] * 6  # one at a time: exact
