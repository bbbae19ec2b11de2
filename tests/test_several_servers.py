"""Several servers on one PostgreSQL and one Redis, as production scales out: two gunicorn
servers and two task clusters, real processes, driven at once through both.

Exactly one outcome per decision (two managers deciding one request at the same moment, eight
pipelines starting one release), one delivery per subscriber from a fan-out both clusters
work on, a freeze declared on one server stopping the next deploy asked of the other, and
anonymous gate calls throttled as one count across both. Runs when DATABASE_URL is PostgreSQL
and REDIS_URL is set (CI's second run); SQLite is one machine's database by design.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.notifications import fanout
from tests.notifications import sink as sinks

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(
        not (
            os.environ.get("DATABASE_URL", "").startswith("postgres")
            and os.environ.get("REDIS_URL")
        ),
        reason="several servers share PostgreSQL and Redis (CI's second run)",
    ),
]
SUBSCRIBERS = 40
THROTTLE = 10


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _server(box: fanout.Scratch, logs: Path):
    port = _free_port()
    log = open(logs / f"gunicorn-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2", "--bind",
         f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=fanout.REPO, env=box.env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                _call(port, "GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        fanout.Scratch.stop(process)


def _call(port: int, method: str, path: str, *, key: str = "", body: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, (json.loads(data) if data.startswith((b"{", b"[")) else data)


def _at_once(calls):
    """Run the calls in threads released together; their (status, body) in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_servers_and_two_clusters_agree_on_every_outcome(tmp_path):
    sink = sinks.start()
    settings = {
        "PUBLIC_THROTTLE_RATE": f"{THROTTLE}/minute",
        "DELIVERY_BATCH_SIZE": "5",
        "Q_WORKERS": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    try:
        with fanout.scratch("redis", tmp_path, **settings) as box:
            # Its own rate-limit counters: nothing else on this Redis counts with them.
            box.env["RATE_LIMIT_PREFIX"] = box.env["Q_CLUSTER_NAME"]
            seeded = json.loads(
                subprocess.run(
                    [sys.executable, "-m", "tests.several", "seed", sink.url, str(SUBSCRIBERS)],
                    cwd=fanout.REPO, env=box.env, capture_output=True, text=True, check=True,
                ).stdout
            )  # fmt: skip
            keys = seeded["keys"]
            clusters = [box.start_cluster(), box.start_cluster()]
            try:
                with _server(box, tmp_path) as a, _server(box, tmp_path) as b:
                    _drive(a, b, seeded, keys, box, sink)
            finally:
                for cluster in clusters:
                    box.stop(cluster)
    finally:
        sink.close()


def _drive(a, b, seeded, keys, box, sink):
    # 1. Two managers decide one request at the same moment, on different servers: one
    # decision stands (quorum 1), the other is told it came too late.
    request = f"/api/v1/approval-requests/{seeded['request']}/"
    decided = _at_once([
        lambda: _call(a, "POST", f"{request}approve/", key=keys["morgan"], body={"comment": "Go"}),
        lambda: _call(b, "POST", f"{request}reject/", key=keys["mira"], body={"comment": "No"}),
    ])  # fmt: skip
    statuses = sorted(status for status, _ in decided)
    assert statuses == [200, 409], decided
    winner = next(body for status, body in decided if status == 200)
    status, final = _call(a, "GET", request, key=keys["erin"])
    assert final["status"] == winner["status"] in ("approved", "rejected")
    assert len(final["decisions"]) == 1

    # 2. Eight pipelines start the same release through both servers: one starts it.
    start = f"/api/v1/releases/{seeded['regular']}/start/"
    started = _at_once([
        (lambda port=port: _call(port, "POST", start, key=keys["erin"], body={}))
        for port in (a, b) * 4
    ])  # fmt: skip
    assert Counter(status for status, _ in started) == {200: 1, 409: 7}, started
    status, events = _call(b, "GET", f"/api/v1/releases/{seeded['regular']}/events/",
                           key=keys["erin"])  # fmt: skip
    events = events["results"] if isinstance(events, dict) else events
    assert [e["action"] for e in events if e["action"] == "start"] == ["start"]

    # 3. Completing it fans out to every subscriber once, whichever cluster sends.
    complete = f"/api/v1/releases/{seeded['regular']}/complete/"
    assert _call(a, "POST", complete, key=keys["erin"], body={})[0] == 200
    wait_until(lambda: len(sink.ok()) >= SUBSCRIBERS, 120, "every subscriber to be told")
    wait_until(lambda: box.status()["counts"]["pending"] == 0, 60, "the outbox to settle")
    by_subscriber = defaultdict(set)
    for received in sink.ok():
        by_subscriber[received.path].add(received.headers["Nightshift-Delivery"])
    twice = {p: n for p, n in Counter(r.path for r in sink.ok()).items() if n > 1}
    assert len(by_subscriber) == SUBSCRIBERS and not twice, twice
    assert all(len(ids) == 1 for ids in by_subscriber.values())
    status = box.status()  # the webhooks, and the e-mails the approval and the release caused
    assert set().union(*by_subscriber.values()) <= set(status["ids"]["delivered"])
    assert status["counts"]["dead"] == status["counts"]["pending"] == 0

    # 4. Pipelines ask both servers at once: the same answer from each.
    gate = "/api/v1/gate/?component=api"
    asked = _at_once([(lambda port=port: _call(port, "GET", gate, key=keys["erin"]))
                      for port in (a, b) * 5])  # fmt: skip
    assert {(status, body["decision"]) for status, body in asked} == {(200, "allow")}

    # 5. A freeze declared on one server stops the next deploy asked of the other.
    now = dt.datetime.now(dt.UTC)
    freeze = {
        "reason": "Incident review", "starts_at": now.isoformat(),
        "ends_at": (now + dt.timedelta(hours=1)).isoformat(), "applies_to_all": False,
        "components": ["api"],
    }  # fmt: skip
    status, body = _call(a, "POST", "/api/v1/freezes/", key=keys["erin"], body=freeze)
    assert status == 201, body
    status, answer = _call(b, "GET", gate, key=keys["erin"])
    assert (status, answer["decision"], answer["reason"]) == (200, "deny", "frozen")

    # 6. Anonymous callers are throttled as one count across both servers.
    if dt.datetime.now().second > 40:  # the counter's minute should not turn meanwhile
        time.sleep(61 - dt.datetime.now().second)
    anonymous = _at_once([(lambda port=port: _call(port, "GET", gate)) for port in (a, b) * 8])
    assert Counter(status for status, _ in anonymous) == {200: THROTTLE, 429: 16 - THROTTLE}
