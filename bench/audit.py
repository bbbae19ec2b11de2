#!/usr/bin/env python
"""Benchmarks of the audit log: what appending costs the release transitions, and verify at 1M.

    .venv/bin/python bench/audit.py [--rounds 6] [--releases 100] [--entries 1000000]
    .venv/bin/python bench/audit.py --skip-verify        # only (a)
    .venv/bin/python bench/audit.py --skip-transitions   # only (b)

(a) In process, on a scratch SQLite database (DEBUG=0): announce, start, complete and verify
--releases releases through releases.services, with the audit append and with a no-op swapped
in for audit.record (and the snapshot it is given), in alternating rounds. Prints transitions
per second of each (wall clock and CPU time), with / without (target: >= 80 %), and the time
spent inside the audit log per transition.
(b) On another scratch SQLite database: seeds --entries release events and one entry for each
(bulk inserts, the chain computed by audit.append), then times `manage.py audit verify` in a
process of its own. Prints its wall-clock and CPU time (target: under 60 s for 1,000,000).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, production_env

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # a Monday
WINDOW = dt.datetime(2026, 12, 2, 8, 30, tzinfo=UTC)  # inside Wednesday's default window


def _setup(env: dict) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- (a) the transitions, with and without the append ---------------------------------------------


def transitions(rounds: int, per_round: int) -> None:
    env = production_env()
    _setup(env)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from audit import services as audit
    from releases import services
    from releases.models import Component

    engineer = get_user_model().objects.create_user("bench", "bench@example.com", "pw")
    engineer.groups.add(Group.objects.get(name="Release engineers"))
    component = Component.objects.create(slug="bench", name="Bench", kind="api")
    counter = iter(range(1_000_000))

    def batch() -> list:
        return [
            services.release_create(
                by=engineer,
                component=component,
                version=f"1.{next(counter)}.0",
                title="Bench",
                scheduled_start=WINDOW,
                expected_duration_minutes=60,
                items=[{"title": "Faster", "type": "changed"}],
                at=NOW,
            )
            for _ in range(per_round)
        ]

    def run(releases: list) -> tuple[float, float]:
        """Transitions per second, by the wall clock and by this process's CPU time (which
        other processes on the machine do not inflate; SQLite works in this process)."""
        started, cpu = time.perf_counter(), time.process_time()
        for release in releases:
            release = services.release_announce(release=release, by=engineer, at=NOW)
            release = services.release_start(release=release, by=engineer, at=WINDOW)
            release = services.release_complete(
                release=release, by=engineer, at=WINDOW + dt.timedelta(minutes=30)
            )
            services.release_verify(release=release, by=engineer, at=WINDOW + dt.timedelta(hours=1))
        count = 4 * len(releases)
        return count / (time.perf_counter() - started), count / (time.process_time() - cpu)

    real = (audit.record, audit.snapshot, audit.append)
    inside = [0.0, 0]  # seconds spent in record() and append(), transitions timed

    def timed(function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                inside[0] += time.perf_counter() - started

        return wrapper

    def noop(*args, **kwargs):
        return None

    timed_record, timed_append = timed(real[0]), timed(real[2])

    results: dict[str, list[tuple[float, float]]] = {
        "with the audit append": [],
        "without (no-op)": [],
    }
    run(batch())  # warm-up: caches, the window calendar, the first pages of each table
    for n in range(rounds):
        # Alternating which goes first, so that a slowly growing database favours neither.
        order = list(results) if n % 2 == 0 else list(reversed(results))
        for name in order:
            releases = batch()  # created untimed, with the log on
            if name.startswith("with "):
                # Timed too: append runs inside record, or when a deferred block ends.
                audit.record, audit.append = timed_record, timed_append
                inside[1] += 4 * len(releases)
            else:
                audit.record, audit.snapshot = noop, noop
            try:
                results[name].append(run(releases))
            finally:
                audit.record, audit.snapshot, audit.append = real
    print(
        f"\n(a) Release transitions through releases.services, in process, SQLite: {rounds} "
        f"rounds of {per_round} releases x 4 transitions"
    )
    for column, label in ((0, "wall clock"), (1, "CPU time")):
        print(f"  by {label}:")
        base = statistics.median(f[column] for f in results["without (no-op)"])
        for name, figures in results.items():
            values = [f[column] for f in figures]
            spread = ", ".join(f"{v:,.0f}" for v in values)
            median = statistics.median(values)
            share = median / base
            print(f"    {name:<22} median {median:>6,.0f} transitions/s  {share:>4.0%}  ({spread})")
    ratios = [
        statistics.median(f[column] for f in results["with the audit append"])
        / statistics.median(f[column] for f in results["without (no-op)"])
        for column in (0, 1)
    ]
    print(
        f"  with / without: {ratios[0]:.0%} by the wall clock, {ratios[1]:.0%} by CPU time "
        "(target: >= 80 %, i.e. the append costs <= 20 %)"
    )
    per_transition = inside[0] / inside[1]
    transition = 1 / statistics.median(f[0] for f in results["with the audit append"])
    print(
        f"  inside audit.record and audit.append: {per_transition * 1e6:,.0f} µs per transition, "
        f"{per_transition / transition:.1%} of one (the direct measure; the rounds above are "
        "noisier)"
    )
    shutil.rmtree(env["NIGHTSHIFT_VAR_DIR"], ignore_errors=True)


# --- (b) verify over a million entries -------------------------------------------------------


def seed(total: int) -> None:
    """Release events and one entry each, in bulk; the chain computed by audit.append itself."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from audit import services as audit
    from releases.models import Component, Release, ReleaseEvent

    user = get_user_model().objects.create_user("bench", "bench@example.com", "pw")
    component = Component.objects.create(slug="bench", name="Bench", kind="api")
    per_release = 1000
    releases = Release.objects.bulk_create(
        Release(component=component, version=f"1.{i}.0", title=f"Release {i}",
                scheduled_start=WINDOW, owner=user)
        for i in range(-(-total // per_release))
    )  # fmt: skip
    quote = connection.ops.quote_name
    names = ["release", "actor", "at", "action", "from_state", "to_state", "details"]
    fields = [ReleaseEvent._meta.get_field(name) for name in names]
    insert = (
        f"INSERT INTO {quote(ReleaseEvent._meta.db_table)} "  # noqa: S608 - the model's names
        f"({', '.join(quote(f.column) for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))})"
    )
    steps = [
        ("announce", "planned", "announced", {"items": ["Faster search", "Typo in errors"]}),
        ("start", "announced", "in_progress", {}),
        ("complete", "in_progress", "released", {"shipped": [1, 2], "slipped": []}),
        ("verify", "released", "verified", {}),
    ]
    chunk = 10_000
    started = time.perf_counter()
    for first in range(0, total, chunk):
        size = min(chunk, total - first)
        with transaction.atomic():
            last = ReleaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
            rows = []
            for i in range(first, first + size):
                action, old, new, details = steps[i % 4]
                values = [releases[i // per_release].pk, user.pk, NOW + dt.timedelta(seconds=i),
                          action, old, new, details]  # fmt: skip
                for k in (2, 6):  # at, details: the only values the database adapts
                    values[k] = fields[k].get_db_prep_save(values[k], connection)
                rows.append(values)
            with connection.cursor() as cursor:
                cursor.executemany(insert, rows)
            # Read back as verify will, and chained as record() would.
            audit.append(
                [
                    audit.Pending(
                        at=NOW + dt.timedelta(seconds=first + n),
                        actor_id=user.pk,
                        actor_username=user.username,
                        action=f"release.{values[3]}",
                        subject_type="releases.releaseevent",
                        subject_id=str(pk),
                        before=None,
                        after=audit.shown(ReleaseEvent, values),
                        digest=digest,
                    )
                    for n, (pk, values, digest) in enumerate(
                        audit.governed_rows(ReleaseEvent, after=last or 0)
                    )
                ]
            )
        done = first + size
        rate = done / (time.perf_counter() - started)
        sys.stderr.write(f"\r  seeding {done:,}/{total:,} entries ({rate:,.0f}/s)")
    sys.stderr.write("\n")


def verify_at_scale(total: int) -> None:
    env = production_env()
    _setup(env)
    seed(total)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", "audit", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        f"\n(b) manage.py audit verify over {total:,} entries and {total:,} governed rows, SQLite"
    )
    print(f"  {result.stdout.strip() or result.stderr.strip()[-500:]}")
    print(
        f"  {elapsed:.1f} s wall clock, process start included ({total / elapsed:,.0f} entries/s;"
        f" target: under 60 s); {cpu:.1f} s of CPU time"
    )
    shutil.rmtree(env["NIGHTSHIFT_VAR_DIR"], ignore_errors=True)
    if result.returncode != 0:
        raise SystemExit("verify failed: the figure above means nothing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--releases", type=int, default=100, help="per round and mode")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--skip-transitions", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--part", choices=["transitions", "verify"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "transitions":
        return transitions(args.rounds, args.releases)
    if args.part == "verify":
        return verify_at_scale(args.entries)
    # Each part in a process of its own: its own scratch database and Django set-up.
    common = ["--rounds", str(args.rounds), "--releases", str(args.releases)]
    common += ["--entries", str(args.entries)]
    for part, skip in (("transitions", args.skip_transitions), ("verify", args.skip_verify)):
        if not skip:
            subprocess.run([sys.executable, __file__, "--part", part, *common], check=True)


if __name__ == "__main__":
    main()
