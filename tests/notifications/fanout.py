"""The fan-out harness shared by the crash test and bench/fanout.py.

A scratch Nightshift (its own SQLite file, or its own PostgreSQL database on the server the
suite uses), N webhook subscribers pointed at a local sink, a notice to publish to them all, and
a real ``manage.py qcluster`` to start, SIGKILL and start again.

Run as a module inside the scratch environment to seed and publish:
    python -m tests.notifications.fanout seed N SINK_URL PATH [CHANNELS]
    python -m tests.notifications.fanout publish
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Scratch:
    env: dict
    logs: Path

    def manage(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tests.notifications.fanout", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode:
            raise RuntimeError(f"fanout {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def status(self) -> dict:
        return json.loads(self.manage("outbox", "status", "--json"))

    def start_cluster(self) -> subprocess.Popen:
        """A qcluster in its own process group, so a SIGKILL takes every worker at once."""
        log = open(self.logs / f"qcluster-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @staticmethod
    def kill(cluster: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(10)

    @staticmethod
    def stop(cluster: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(15)
        except subprocess.TimeoutExpired:
            Scratch.kill(cluster)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.contextmanager
def scratch(broker: str, directory: Path, **settings: str) -> Iterator[Scratch]:
    """A migrated scratch Nightshift using ``broker`` ("orm" or "redis"); removed afterwards."""
    base = os.environ.get("DATABASE_URL", "")
    name = f"ns_fanout_{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "DEBUG": "1",
            "WEBHOOK_ALLOW_PRIVATE": "1",
            "NIGHTSHIFT_VAR_DIR": str(directory),
            "Q_CLUSTER_NAME": name,  # the Redis queue's key: separate from any other cluster
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO),
            **settings,
        }
    )
    if broker == "redis":
        env["REDIS_URL"] = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    postgres = base.startswith("postgres")
    if postgres:
        import psycopg

        with psycopg.connect(_with_database(base, "postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = _with_database(base, name)
    try:
        box = Scratch(env, directory)
        box.manage("migrate", "--noinput")
        yield box
    finally:
        if postgres:
            import psycopg

            with psycopg.connect(_with_database(base, "postgres"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if broker == "redis":
            import redis

            redis.Redis.from_url(env["REDIS_URL"]).delete(f"django_q:{name}:q", name)


# --- Run inside the scratch environment -------------------------------------------------------


def _seed(count: int, sink: str, path: str, channels: int = 0) -> None:
    """N webhook subscribers (and CHANNELS Apprise json:// channels) of notices on the sink."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from notes import services as notes
    from notifications.models import Subscriber
    from releases import selectors
    from releases import services as releases
    from releases.models import Component

    now = timezone.now()
    engineer = get_user_model().objects.create_user("fanout", email="fanout@example.com")
    engineer.groups.add(Group.objects.get(name="Release engineers"))
    component = Component.objects.create(slug="api", name="API", kind=Component.Kind.API)
    window = selectors.window_calendar().next_window(
        now + dt.timedelta(days=40), component.slug, min_length=dt.timedelta(hours=1)
    )
    release = releases.release_create(
        by=engineer,
        component=component,
        version="2.0.0",
        title="Keys",
        scheduled_start=window.start,
        impact="perceptible",
        at=now,
    )
    from tests.notes.test_notices import COMPLETE

    fields = {**COMPLETE, "tentative_start": window.start, "action_deadline": None}
    notes.notice_create(release=release, by=engineer, at=now, **fields)
    Subscriber.objects.bulk_create(
        [
            Subscriber(
                channel="webhook",
                url=f"{sink}/{path}/{i}",
                confirmed_at=now,
                on_items=False,
                on_released=False,
                on_rolled_back=False,
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
    from notifications.channels import channel_save
    from notifications.models import Channel

    for i in range(channels):
        host = sink.removeprefix("http://")
        channel_save(
            Channel(name=f"@channel-{i}"),
            url=f"json://{host}/{path}/channel-{i}",
            topics=["notices"],
        )


def _publish() -> None:
    from notes import services as notes
    from notes.models import AdvanceNotice

    notice = AdvanceNotice.objects.get()
    notes.notice_publish(notice=notice, by=notice.release.owner)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if sys.argv[1] == "seed":
        _seed(int(sys.argv[2]), sys.argv[3], sys.argv[4], *map(int, sys.argv[5:6]))
    elif sys.argv[1] == "publish":
        started = time.time()
        _publish()
        print(json.dumps({"published_at": started}))
