#!/usr/bin/env python
"""Benchmark of the probes' dashboard over a year of 5-minute samples for 20 probes.

    .venv/bin/python bench/status.py [--probes 20] [--days 365] [--runs 30]

On a scratch SQLite database (DEBUG=0, a temporary NIGHTSHIFT_VAR_DIR, deleted at the end):
seeds --probes probes with a sample every 5 minutes for --days days (2.1 M rows for 20 probes
over a year: raw samples inserted with executemany in batches, their hourly and daily rollups
computed here and bulk-inserted too), with a few outages and a 2-hour gap (the cluster down).
Then times, over --runs runs, status.selectors.probe_dashboard(now) and rendering the
status/_probes.html include with it. Prints p50 and p95 in ms of each and of both together
(target: p50 under 50 ms), then the whole /status/ page, cold (the probes' section rendered)
and as every reader until the next sample gets it (the section from the shared cache). It
asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import production_env

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 30, 18, 2, tzinfo=UTC)
STEP = dt.timedelta(minutes=5)
BATCH = 50_000


def _setup(env: dict) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # DEBUG=0 serves the manifest


def _nearest_rank(values: list[int], fraction: float) -> int | None:
    if not values:
        return None
    values = sorted(values)
    return values[max(1, math.ceil(fraction * len(values))) - 1]


def seed(probes: int, days: int) -> int:
    from django.db import connection, transaction

    from releases.models import Component
    from status.models import Probe

    rng = random.Random(2026)
    component = Component.objects.create(slug="bench-api", name="Bench API", kind="api")
    start = (NOW - dt.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    steps = int((NOW - start) / STEP)
    gap = (NOW - dt.timedelta(days=3)).replace(minute=0), (NOW - dt.timedelta(days=3, hours=-2))
    fmt = "%Y-%m-%d %H:%M:%S"
    total = 0
    insert_sample = (
        "INSERT INTO status_probesample (probe_id, at, up, latency_ms, status_code, error) "
        "VALUES (%s, %s, %s, %s, %s, %s)"
    )
    insert_rollup = (
        "INSERT INTO status_proberollup (probe_id, period, start, samples, up_samples, p50_ms, "
        "p95_ms) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    for n in range(probes):
        probe = Probe.objects.create(
            name=f"probe {n:02d}",
            url=f"http://10.0.0.{n + 1}/health",
            component=component,
            last_run_at=NOW - dt.timedelta(minutes=2),
            last_up=True,
        )
        base = rng.randint(20, 120)
        outages = {rng.randrange(steps) for _ in range(6)}  # six outages of an hour each
        down_until = -1
        rows, hours, days_ = [], {}, {}
        for i in range(steps):
            at = start + i * STEP
            if gap[0] <= at < gap[1]:
                continue  # the cluster was down: no sample at all
            if i in outages:
                down_until = i + 12
            up = i >= down_until and rng.random() > 0.0005
            latency = int(rng.lognormvariate(math.log(base), 0.35)) if up else None
            rows.append(
                (
                    probe.pk,
                    at.strftime(fmt),
                    up,
                    latency,
                    200 if up else 503,
                    "" if up else "wrong_status",
                )
            )
            for buckets, key in (
                (hours, at.replace(minute=0)),
                (days_, at.replace(hour=0, minute=0)),
            ):
                bucket = buckets.setdefault(key, [0, 0, []])
                bucket[0] += 1
                bucket[1] += up
                if latency is not None:
                    bucket[2].append(latency)
        with transaction.atomic(), connection.cursor() as cursor:
            for i in range(0, len(rows), BATCH):
                cursor.executemany(insert_sample, rows[i : i + BATCH])
            rollups = [
                (probe.pk, period, key.strftime(fmt), s, u,
                 _nearest_rank(lat, 0.5), _nearest_rank(lat, 0.95))
                for period, buckets in (("hour", hours), ("day", days_))
                for key, (s, u, lat) in buckets.items()
            ]  # fmt: skip
            cursor.executemany(insert_rollup, rollups)
        total += len(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return total


def measure(runs: int) -> None:
    from django.template.loader import render_to_string

    from status.selectors import probe_dashboard

    def ms(values):
        values = sorted(values)
        p95 = values[max(1, math.ceil(0.95 * len(values))) - 1]
        return f"p50 {statistics.median(values):7.1f} ms   p95 {p95:7.1f} ms"

    select, render, both = [], [], []
    html = ""
    for _ in range(runs + 2):
        started = time.perf_counter()
        dashboard = probe_dashboard(NOW)
        selected = time.perf_counter()
        html = render_to_string("status/_probes.html", {"dashboard": dashboard})
        ended = time.perf_counter()
        select.append((selected - started) * 1e3)
        render.append((ended - selected) * 1e3)
        both.append((ended - started) * 1e3)
    # The first two runs warm the template cache and SQLite's page cache.
    select, render, both = select[2:], render[2:], both[2:]
    print(f"  probe_dashboard(now)          {ms(select)}")
    print(f"  render _probes.html           {ms(render)}")
    print(f"  both (target: p50 < 50 ms)    {ms(both)}")
    print(f"  HTML: {len(html) / 1024:,.0f} KiB for {len(dashboard)} probes")

    # The whole page, as a customer's browser gets it (no validator): cold is the first reader
    # after a new sample (the probes' section rendered), warm every reader after it until the
    # next sample (the section from the shared cache).
    import time_machine
    from django.core.cache import cache
    from django.test import Client

    client = Client()
    cold, warm = [], []
    with time_machine.travel(NOW, tick=False):
        for _ in range(runs + 2):
            cache.clear()
            started = time.perf_counter()
            page = client.get("/status/", HTTP_HOST="127.0.0.1")
            cold.append((time.perf_counter() - started) * 1e3)
            started = time.perf_counter()
            client.get("/status/", HTTP_HOST="127.0.0.1")
            warm.append((time.perf_counter() - started) * 1e3)
    assert page.status_code == 200, page.status_code
    print(f"  GET /status/, cold             {ms(cold[2:])}")
    print(f"  GET /status/, cached section   {ms(warm[2:])}   (target: p50 < 50 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    env = production_env()
    try:
        _setup(env)
        started = time.perf_counter()
        total = seed(args.probes, args.days)
        from status.models import ProbeRollup

        print(
            f"Probes dashboard, SQLite (DEBUG=0): {args.probes} probes, {total:,} samples, "
            f"{ProbeRollup.objects.count():,} rollups over {args.days} days "
            f"(seeded in {time.perf_counter() - started:.0f} s); {args.runs} runs"
        )
        measure(args.runs)
    finally:
        shutil.rmtree(env["NIGHTSHIFT_VAR_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
