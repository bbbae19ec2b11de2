#!/usr/bin/env python
"""Benchmark of the release lists: 100,000 releases x 5 items, latency over HTTP.

    .venv/bin/python bench/releases.py [--releases 100000] [--requests 200] [--backend sqlite]

Seeds each database once (bulk inserts, a progress bar), serves it with gunicorn (DEBUG=0),
and times sequential GETs of /api/v1/releases/ and of filtered lists with an API key.
Prints p50 and p95 per query (target: p50 under 50 ms on SQLite and on PostgreSQL).
The PostgreSQL database is `nightshift_bench` on 127.0.0.1:5432 (created if missing).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, get, gunicorn

PG_URL = "postgres://postgres@127.0.0.1:5432/nightshift_bench"
COMPONENTS = 20
ITEMS_PER_RELEASE = 5


def progress(label: str, done: int, total: int) -> None:
    width = 40
    filled = int(width * done / total)
    sys.stderr.write(f"\r  {label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


SEED = r"""
import datetime as dt, random, sys
from django.contrib.auth import get_user_model
from django.db import transaction
from releases.models import Component, Release, ReleaseItem
from accounts.services import apikey_create

total = int(sys.argv[1])
user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
from django.contrib.auth.models import Group
user.groups.add(Group.objects.get(name="Release engineers"))  # the list is the release team's
components = [
    Component.objects.get_or_create(slug=f"c{i}", defaults={"name": f"C{i}", "kind": "api"})[0]
    for i in range(20)
]
have = Release.objects.count()
rng = random.Random(7)
states = ["verified"] * 8 + ["released", "rolled_back", "cancelled", "planned", "announced"]
base = dt.datetime(2015, 1, 7, 8, tzinfo=dt.UTC)
batch = 2000
n = have
while n < total:
    size = min(batch, total - n)
    releases = [
        Release(component=components[i % 20], version=f"{i // 20}.{i % 20}.{rng.randrange(100)}",
                title=f"Release {i}", kind="exceptional" if i % 17 == 0 else "regular",
                impact="perceptible" if i % 29 == 0 else "none",
                scheduled_start=base + dt.timedelta(hours=3 * i + rng.randrange(3)),
                expected_duration_minutes=60, state=rng.choice(states), owner=user)
        for i in range(n, n + size)
    ]
    with transaction.atomic():
        Release.objects.bulk_create(releases)
        ReleaseItem.objects.bulk_create(
            ReleaseItem(release=r, title=f"Item {k} of {r.title}", type="changed",
                        planned=True, shipped=r.state in ("released", "verified"))
            for r in releases for k in range(5)
        )
    n += size
    print(f"PROGRESS {n} {total}", flush=True)
# A production database has planner statistics; a fresh bulk load has none until autovacuum.
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
print("KEY " + apikey_create(user=user, name="bench")[1], flush=True)
"""


def seed(env: dict, total: int, label: str) -> str:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", SEED.replace("sys.argv[1]", str(total))],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    key = ""
    for line in proc.stdout:
        if line.startswith("PROGRESS"):
            _, done, of = line.split()
            progress(f"{label}: seeding", int(done), int(of))
        elif line.startswith("KEY "):
            key = line.split()[1]
    if proc.wait() != 0 or not key:
        raise SystemExit(f"seeding {label} failed")
    return key


def timed_get(port: int, path: str, key: str) -> tuple[float, dict]:
    started = time.perf_counter()
    status, _, body = get(port, path, {"Authorization": f"Bearer {key}"})
    elapsed = time.perf_counter() - started
    if status != 200:
        raise SystemExit(f"{path} answered {status}: {body[:300]!r}")
    return elapsed, json.loads(body)


def measure(label: str, env: dict, key: str, requests: int) -> None:
    rng = random.Random(1)
    queries = {
        "list (page 1, 50 per page)": lambda: "/api/v1/releases/",
        "list, a deep page": lambda: f"/api/v1/releases/?page={rng.randint(100, 1900)}",
        "component + state": lambda: (
            f"/api/v1/releases/?component=c{rng.randrange(20)}&state=verified"
        ),
        "date range + kind": lambda: (
            "/api/v1/releases/?kind=exceptional&scheduled_after="
            f"{2016 + rng.randrange(15)}-01-01T00:00:00Z&scheduled_before=2031-01-01T00:00:00Z"
        ),
    }
    print(f"\n{label}: {requests} sequential requests per query, gunicorn --workers 2")
    with gunicorn(env, workers=2) as port:
        for name, make in queries.items():
            for _ in range(5):
                timed_get(port, make(), key)  # warm-up
            times = []
            for _ in range(requests):
                elapsed, body = timed_get(port, make(), key)
                times.append(elapsed * 1000)
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(
                f"  {name:<28} p50 {statistics.median(times):6.1f} ms   p95 {p95:6.1f} ms"
                f"   ({body['count']:,} matching)"
            )


def ensure_pg_database() -> bool:
    probe = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-tAc",
            "SELECT 1 FROM pg_database WHERE datname = 'nightshift_bench'",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        print("PostgreSQL is not reachable at 127.0.0.1:5432; skipping it.")
        return False
    if probe.stdout.strip() != "1":
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-U", "postgres", "nightshift_bench"], check=True
        )
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    base = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    backends = []
    if args.backend in ("sqlite", "both"):
        var = Path(tempfile.gettempdir()) / "nightshift-bench-sqlite"
        backends.append(("SQLite", {**base, "NIGHTSHIFT_VAR_DIR": str(var)}))
    if args.backend in ("postgresql", "both") and ensure_pg_database():
        backends.append(("PostgreSQL", {**base, "DATABASE_URL": PG_URL}))
    for label, env in backends:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        key = seed(env, args.releases, label)
        measure(label, env, key, args.requests)


if __name__ == "__main__":
    main()
