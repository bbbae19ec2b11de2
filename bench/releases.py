#!/usr/bin/env python
"""Benchmark of the release lists: releases x 5 items, latency over HTTP.

    .venv/bin/python bench/releases.py [--releases 100000] [--requests 200] [--backend sqlite]
    .venv/bin/python bench/releases.py --releases 1000000     # the issue's size (seeding ~10 min)

Seeds each database once (bulk inserts, a progress bar; a larger --releases adds to it), serves
it with gunicorn (DEBUG=0), and times sequential GETs of /api/v1/releases/ with an API key: the
first page, a deep page (a cursor anywhere in the list), two filtered lists, and the deepest
page by number (which counts every release, for comparison). Prints p50 and p95 per query
(target: p50 under 15 ms at 1,000,000 releases, on SQLite and on PostgreSQL), and the queries
a page costs. The PostgreSQL database is `nightshift_bench` on 127.0.0.1:5432 (created if
missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
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
                scheduled_start=base + dt.timedelta(minutes=15 * i + rng.randrange(15)),
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


def deep_cursors(port: int, key: str, rng: random.Random, total: int) -> list[str]:
    """Cursors anywhere in the list, as a client holds them after walking there: each is the
    `next` of a page that starts at a random date (the date filter then dropped)."""
    last_start = total // 96  # the seed's releases are 15 minutes apart, from 2015
    cursors = []
    for _ in range(20):
        day = dt.date(2015, 1, 8) + dt.timedelta(days=rng.randrange(1, max(2, last_start)))
        _, body = timed_get(port, f"/api/v1/releases/?scheduled_before={day}T00:00:00Z", key)
        if body["next"]:
            cursors.append(body["next"].split("cursor=", 1)[1].split("&")[0])
    return cursors or [""]


def measure(label: str, env: dict, key: str, requests: int, total: int) -> None:
    rng = random.Random(1)
    print(f"\n{label}: {requests} sequential requests per query, gunicorn --workers 2")
    with gunicorn(env, workers=2) as port:
        cursors = deep_cursors(port, key, rng, total)
        queries = {
            "first page (50 a page)": lambda: "/api/v1/releases/",
            "a deep page (a cursor)": lambda: f"/api/v1/releases/?cursor={rng.choice(cursors)}",
            "component + state": lambda: (
                f"/api/v1/releases/?component=c{rng.randrange(20)}&state=verified"
            ),
            "date range + kind": lambda: (
                "/api/v1/releases/?kind=exceptional&scheduled_before=2017-01-01T00:00:00Z"
                f"&scheduled_after={2015 + rng.randrange(2)}-0{1 + rng.randrange(9)}-01T00:00:00Z"
            ),
            "page 200 by number (counts)": lambda: "/api/v1/releases/?page=200",
        }
        for name, make in queries.items():
            for _ in range(5):
                timed_get(port, make(), key)  # warm-up
            times = []
            for _ in range(requests):
                elapsed, body = timed_get(port, make(), key)
                times.append(elapsed * 1000)
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            shown = f"{body['count']:,} matching" if "count" in body else "no count"
            print(
                f"  {name:<28} p50 {statistics.median(times):6.1f} ms   p95 {p95:6.1f} ms"
                f"   ({len(body['results'])} shown, {shown})"
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
    parser.add_argument("--seed-only", action="store_true", help="seed, then stop")
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
        if not args.seed_only:
            measure(label, env, key, args.requests, args.releases)


if __name__ == "__main__":
    main()
