#!/usr/bin/env python
"""Benchmark of the public site: pages, feed and notes API, cold and revalidated (304).

    .venv/bin/python bench/public.py [--seconds 3] [--rounds 3]

Serves the demo data with gunicorn (DEBUG=0, SQLite) and measures, in alternating rounds,
/healthz (a minimal view returning constant JSON: the baseline), then /releases/,
/feeds/releases.atom and /api/v1/notes/ without a validator (cold) and with If-None-Match
(revalidated, 304). Prints each as a share of the baseline (targets: /releases/ and the feed
cold >= 50 %, /releases/ revalidated >= 85 %).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import get, gunicorn, manage, production_env, report, throughput

PATHS = {"/releases/": "/releases/", "feed": "/feeds/releases.atom", "notes API": "/api/v1/notes/"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    env = production_env()
    manage(env, "migrate", "--noinput", "-v0")
    manage({**env, "DEBUG": "1"}, "demo")  # the demo refuses to run without DEBUG
    with gunicorn(env, args.workers) as port:
        cases = {"minimal view (/healthz)": ("/healthz", {}, 200)}
        for name, path in PATHS.items():
            _, headers, _ = get(port, path)
            etag = headers.get("ETag")
            if not etag:
                raise SystemExit(f"{path} sends no ETag")
            cases[f"{name} cold"] = (path, {}, 200)
            cases[f"{name} revalidated (304)"] = (path, {"If-None-Match": etag}, 304)
        results = throughput(
            port, cases, seconds=args.seconds, rounds=args.rounds, clients=args.clients
        )
    print(
        f"HTTP, gunicorn --workers {args.workers}, {args.clients} client processes, "
        f"{args.rounds} alternating rounds of {args.seconds:g} s (SQLite, DEBUG=0, demo data)"
    )
    report(results, "minimal view (/healthz)")


if __name__ == "__main__":
    main()
