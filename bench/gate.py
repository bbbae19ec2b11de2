#!/usr/bin/env python
"""Benchmark of the gate: in-process decisions per second, and HTTP against a minimal view.

    .venv/bin/python bench/gate.py [--seconds 4] [--rounds 3] [--skip-http]

Prints figures and ratios; it asserts nothing (targets live in the issue and the README):
  - in-process decisions/s, default policy, instants in 2026 and in 2090 (target >= 20,000/s;
    2090 within 20 % of 2026), and the same for 50 policies + 200 freezes (target >= 10,000/s);
  - requests/s of GET /api/v1/gate/ and of /healthz (a minimal Django view returning constant
    JSON) under the same gunicorn, alternating rounds to share the machine's noise; the ratio
    gate/minimal (target >= 85 %), asked at a fixed instant (comparable across runs) and,
    anonymous, at "now" as pipelines ask.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import gunicorn, manage, production_env, report, throughput  # noqa: E402
from releases.recurrence import _dates_in_year  # noqa: E402 - after the path is set
from releases.windows import (  # noqa: E402
    Freeze,
    Interval,
    Policy,
    Recurrence,
    WindowCalendar,
    _occurrences_in_year,
)

UTC = dt.UTC
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def default_calendar() -> WindowCalendar:
    rec = Recurrence(
        "FREQ=WEEKLY;BYDAY=WE,TH,FR",
        dt.time(0),
        dt.timedelta(hours=3),
        "America/Los_Angeles",
        dt.date(2020, 1, 1),
    )
    return WindowCalendar([Policy(1, "default", rec)])


def busy_calendar(rng: random.Random) -> WindowCalendar:
    zones = ["America/Los_Angeles", "Europe/London", "Australia/Lord_Howe", "UTC", "Asia/Tokyo"]
    components = [f"c{i}" for i in range(10)]
    policies = []
    for i in range(50):
        days = ",".join(rng.sample(DAYS, rng.randint(1, 3)))
        rec = Recurrence(
            f"FREQ=WEEKLY;BYDAY={days}",
            dt.time(rng.randrange(24), rng.choice([0, 30])),
            dt.timedelta(minutes=rng.randint(30, 300)),
            rng.choice(zones),
            dt.date(2020, 1, 1),
        )
        scope = None if i % 3 == 0 else frozenset(rng.sample(components, 3))
        policies.append(Policy(i, f"p{i}", rec, scope))
    freezes = []
    for i in range(200):
        scope = None if i % 4 == 0 else frozenset(rng.sample(components, 2))
        if i % 5 == 0:
            rec = Recurrence(
                f"FREQ=MONTHLY;BYMONTHDAY={rng.randint(1, 28)}",
                dt.time(rng.randrange(24)),
                dt.timedelta(hours=rng.randint(1, 12)),
                rng.choice(zones),
                dt.date(2020, 1, 1),
            )
            freezes.append(Freeze(1000 + i, f"f{i}", recurrence=rec, components=scope))
        else:
            # One-off freezes spread over both benchmarked years.
            year = rng.choice([2026, 2090])
            start = dt.datetime(year, 1, 1, tzinfo=UTC) + dt.timedelta(hours=rng.randrange(8760))
            end = start + dt.timedelta(hours=rng.randint(1, 72))
            freezes.append(
                Freeze(1000 + i, f"f{i}", interval=Interval(start, end), components=scope)
            )
    return WindowCalendar(policies, freezes)


def instants(rng: random.Random, year: int, n: int) -> list[dt.datetime]:
    base = dt.datetime(year, 1, 1, tzinfo=UTC)
    return [base + dt.timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(n)]


def rate(cal: WindowCalendar, ats: list[dt.datetime], components: list[str]) -> float:
    started = time.perf_counter()
    for i, at in enumerate(ats):
        cal.decide(at, components[i % len(components)])
    return len(ats) / (time.perf_counter() - started)


def in_process() -> None:
    rng = random.Random(2026)
    print("In-process decisions (WindowCalendar.decide, warm year cache; random instants)")
    for label, cal, n, comps in [
        ("default policy", default_calendar(), 20000, ["items-api"]),
        ("50 policies + 200 freezes", busy_calendar(rng), 2000, [f"c{i}" for i in range(10)]),
    ]:
        asked = {year: instants(rng, year, n) for year in (2026, 2090)}
        for ats in asked.values():
            rate(cal, ats[: n // 10], comps)  # fill the per-year cache
        # Rounds alternate between the years, so that both share the machine's noise.
        rounds: dict[int, list[float]] = {2026: [], 2090: []}
        for _ in range(5):
            for year, ats in asked.items():
                rounds[year].append(rate(cal, ats, comps))
        figures = {year: statistics.median(rates) for year, rates in rounds.items()}
        ratio = figures[2090] / figures[2026]
        print(
            f"  {label:<27} 2026: {figures[2026]:>9,.0f}/s   2090: {figures[2090]:>9,.0f}/s"
            f"   2090/2026: {ratio:.2f}"
        )
    # The gate asks about "now", again and again: the engine remembers a decision for the span
    # in which no rule's occurrence starts or ends.
    for label, cal, comp in [
        ("default policy", default_calendar(), "items-api"),
        ("50 policies + 200 freezes", busy_calendar(random.Random(2026)), "c1"),
    ]:
        now = dt.datetime(2026, 11, 26, 9, tzinfo=UTC)
        started = time.perf_counter()
        for i in range(20000):
            cal.decide(now + dt.timedelta(milliseconds=i), comp)
        per_second = 20000 / (time.perf_counter() - started)
        print(f"  {label:<27} the gate's now (one instant after another): {per_second:>9,.0f}/s")
    cold = default_calendar()
    _occurrences_in_year.cache_clear()  # really cold: nothing computed for any year yet
    _dates_in_year.cache_clear()
    started = time.perf_counter()
    cold.decide(dt.datetime(2090, 6, 1, tzinfo=UTC), "items-api")
    cold_ms = (time.perf_counter() - started) * 1e3
    print(f"  first decision in a new year (cold cache): {cold_ms:.2f} ms")


def over_http(seconds: float, rounds: int, workers: int, clients: int) -> None:
    env = production_env()
    manage(env, "migrate", "--noinput", "-v0")
    manage({**env, "DEBUG": "1"}, "demo")  # the demo refuses to run without DEBUG
    key = subprocess.run(
        [sys.executable, "manage.py", "apikey", "create", "engineer", "--name", "bench"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    gate = "/api/v1/gate/?component=items-api&at=2026-11-26T09:00:00Z"
    cases = {
        "minimal view (/healthz)": ("/healthz", {}, 200),
        "gate, anonymous": (gate, {}, 200),
        "gate, with a key (Bearer)": (gate, {"Authorization": f"Bearer {key}"}, 200),
        "gate, anonymous, now (no at)": ("/api/v1/gate/?component=items-api", {}, 200),
    }
    with gunicorn(env, workers) as port:
        results = throughput(port, cases, seconds=seconds, rounds=rounds, clients=clients)
    print(
        f"\nHTTP, gunicorn --workers {workers}, {clients} client processes, "
        f"{rounds} alternating rounds of {seconds:g} s (SQLite, DEBUG=0); % of the minimal view"
    )
    report(results, "minimal view (/healthz)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one HTTP round")
    parser.add_argument("--rounds", type=int, default=3, help="HTTP rounds per endpoint")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--clients", type=int, default=2, help="load-generating processes")
    parser.add_argument("--skip-http", action="store_true", help="only the in-process part")
    parser.add_argument("--http-only", action="store_true", help="only the HTTP part")
    args = parser.parse_args()
    if not args.http_only:
        in_process()
    if not args.skip_http:
        over_http(args.seconds, args.rounds, args.workers, args.clients)


if __name__ == "__main__":
    main()
