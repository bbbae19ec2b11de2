"""Nothing is lost when workers die: SIGKILL a real qcluster in the middle of a fan-out.

A notice goes to 1,000 webhook subscribers and 20 channels (Apprise json://) on a local sink.
The cluster is killed (every process at once, SIGKILL) once about a third have been delivered,
then started again; the
sweeper — which the cluster's schedule runs every minute, run here at once — queues what the
dead cluster held. Every subscriber must receive the notice at least once, every delivery id
must be seen, and nothing may be left pending or dead. With both brokers: Redis loses the tasks
a killed cluster had taken; the ORM broker would redeliver them only after ``retry``.
"""

import os
from collections import defaultdict

import pytest

from tests.helpers import wait_until
from tests.notifications import fanout
from tests.notifications import sink as sinks

SUBSCRIBERS = 1000
CHANNELS = 20
pytestmark = pytest.mark.crash


@pytest.mark.parametrize(
    "broker",
    [
        "orm",
        pytest.param(
            "redis",
            marks=pytest.mark.skipif(
                not os.environ.get("REDIS_URL"),
                reason="REDIS_URL is not set (CI's second run has Redis)",
            ),
        ),
    ],
)
def test_a_killed_cluster_loses_no_delivery(broker, tmp_path):
    sink = sinks.start(record_bodies=False)
    settings = {
        # Short enough for a test: a dead worker's lease runs out in 6 s, and a task queued
        # 5 s ago and not yet taken is presumed lost.
        "DELIVERY_LEASE_SECONDS": "6",
        "DELIVERY_REQUEUE_SECONDS": "5",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "DELIVERY_BATCH_SIZE": "10",
        "Q_WORKERS": "2",
    }
    try:
        with fanout.scratch(broker, tmp_path, **settings) as box:
            box.run("seed", str(SUBSCRIBERS), sink.url, "slow/0.01", str(CHANNELS))
            cluster = box.start_cluster()
            box.run("publish")
            wait_until(lambda: len(sink.ok()) >= SUBSCRIBERS // 3, 120, "a third delivered")
            box.kill(cluster)
            at_kill = len(sink.ok())
            assert at_kill < SUBSCRIBERS, "the cluster finished before it was killed"

            cluster = box.start_cluster()
            try:

                def settled():
                    box.manage("outbox", "sweep")
                    status = box.status()
                    return status if status["counts"]["pending"] == 0 else None

                status = wait_until(settled, 180, "every delivery to settle")
            finally:
                box.stop(cluster)
    finally:
        sink.close()

    assert status["counts"] == {
        "pending": 0,
        "delivered": SUBSCRIBERS + CHANNELS,
        "dead": 0,
        "skipped": 0,
    }
    by_subscriber, by_channel = defaultdict(set), defaultdict(int)
    for received in sink.ok():
        if "/channel-" in received.path:  # Apprise's post: no headers of ours
            by_channel[received.path] += 1
        else:
            by_subscriber[received.path].add(received.headers["Nightshift-Delivery"])
    # Every channel got its post (at least once, as every delivery).
    assert len(by_channel) == CHANNELS
    # Every subscriber received the notice, under its one delivery id (retries reuse it).
    assert len(by_subscriber) == SUBSCRIBERS
    assert all(len(ids) == 1 for ids in by_subscriber.values())
    seen = set().union(*by_subscriber.values())
    delivered = set(status["ids"]["delivered"])
    assert seen <= delivered and len(delivered) == SUBSCRIBERS + CHANNELS
    # At-least-once, not exactly-once: a send cut short by the kill may have arrived twice.
    duplicates = len(sink.ok()) - SUBSCRIBERS - CHANNELS
    assert 0 <= duplicates <= 2 * 10  # at most the batches in flight (2 workers x 10)
