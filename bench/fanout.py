#!/usr/bin/env python
"""Benchmark of the notification fan-out: one notice to 10,000 webhook subscribers.

    .venv/bin/python bench/fanout.py [--subscribers 10000] [--brokers orm,redis] [--workers 2]

The ceiling: a plain loop posting the same signed body with the same HTTP client
(notifications.webhooks) to the same local sink, in this process. Then, per broker, a scratch
Nightshift (SQLite, or PostgreSQL when DATABASE_URL is set) with a running qcluster: publish the
notice (writing 10,000 deliveries in its transaction) and time until the sink has seen every
delivery id. Prints deliveries per second and each broker's share of the ceiling
(target: Redis >= 25 %).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from notifications import webhooks
from tests.notifications import fanout
from tests.notifications import sink as sinks


def ceiling(sink: sinks.Sink, count: int) -> float:
    """Deliveries per second of a plain loop: sign, POST, check the answer."""
    body = json.dumps({"id": "1", "type": "notice.published", "data": {"x": "y" * 600}}).encode()
    started = time.perf_counter()
    for i in range(count):
        stamp = str(int(time.time()))
        webhooks.post(
            f"{sink.url}/ok/{i}",
            body,
            {
                "Nightshift-Delivery": str(i),
                "Nightshift-Timestamp": stamp,
                "Nightshift-Signature": webhooks.signature("secret", stamp, body),
            },
            timeout=5,
            allow_private=True,
        )
    return count / (time.perf_counter() - started)


def through_cluster(broker: str, sink: sinks.Sink, count: int, workers: int) -> tuple[float, float]:
    """Deliveries per second: end to end from the publish, and from the first to the last."""
    with (
        tempfile.TemporaryDirectory(prefix="nightshift-fanout-") as tmp,
        fanout.scratch(broker, Path(tmp), Q_WORKERS=str(workers)) as box,
    ):
        box.run("seed", str(count), sink.url, "ok")
        cluster = box.start_cluster()
        try:
            time.sleep(3)  # let the cluster's workers start
            before = len(sink.ok())
            published_at = json.loads(box.run("publish"))["published_at"]
            while len(sink.ok()) == before:
                time.sleep(0.01)
            first = time.time()
            while len(sink.ok()) - before < count:
                time.sleep(0.05)
                if time.time() - published_at > 900:
                    raise SystemExit(f"{broker}: not done after 15 minutes")
            done = time.time()
        finally:
            box.stop(cluster)
        counts = box.status()["counts"]
        if counts["delivered"] != count:
            raise SystemExit(f"{broker}: expected {count} delivered, the outbox says {counts}")
    return count / (done - published_at), count / (done - first)


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--brokers", default="orm,redis")
    parser.add_argument("--workers", type=int, default=2, help="qcluster workers (Q_WORKERS)")
    args = parser.parse_args()
    database = (
        "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    )
    print(f"{args.subscribers} webhook subscribers, local sink, {database}, {args.workers} workers")
    sink = sinks.start(record_bodies=False)
    try:
        top = ceiling(sink, args.subscribers)
        print(f"  plain loop (ceiling)  {top:8.0f} deliveries/s")
        for broker in args.brokers.split(","):
            if broker == "redis" and not redis_reachable():
                print("  redis: skipped, nothing listens on 127.0.0.1:6379")
                continue
            rate, sending = through_cluster(broker, sink, args.subscribers, args.workers)
            print(
                f"  {broker:<5} broker          {rate:8.0f} deliveries/s  "
                f"{rate / top:6.1%} of the ceiling   (sending alone: {sending:.0f}/s, "
                f"{sending / top:.1%}; the rest is the publish writing the outbox)"
            )
    finally:
        sink.close()


if __name__ == "__main__":
    main()
