"""What the benchmarks share: a throw-away Nightshift under gunicorn, and a load generator."""

from __future__ import annotations

import contextlib
import http.client
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def production_env(**extra) -> dict:
    """DEBUG=0 settings for a local run: no TLS redirect, no throttling in the way."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "x" * 60,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "PUBLIC_THROTTLE_RATE": "100000000/second",
        "LOG_LEVEL": "WARNING",
        "NIGHTSHIFT_VAR_DIR": tempfile.mkdtemp(prefix="nightshift-bench-"),
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def manage(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(env: dict, workers: int):
    """Serve config.wsgi; yields the port once it answers."""
    manage(env, "collectstatic", "--noinput", "-v0")  # DEBUG=0 serves the hashed manifest
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):
            try:
                get(port, "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def _hammer(args) -> int:
    port, path, headers, expect, seconds = args
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        status, _, body = get(port, path, headers)
        if status != expect:
            raise SystemExit(f"{path} answered {status}, not {expect}: {body[:200]!r}")
        done += 1
    return done


WRK = shutil.which("wrk")


def _wrk(port: int, path: str, headers: dict, seconds: float, connections: int) -> float:
    """Requests per second as wrk measures them (one thread, keep-alive connections)."""
    command = [WRK, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx or 3xx" in out:
        raise SystemExit(f"{path} answered errors under load:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])


def throughput(port: int, cases: dict, *, seconds: float, rounds: int, clients: int) -> dict:
    """Requests per second for each case, rounds alternating between cases (shared noise).

    ``cases`` maps a name to (path, headers, expected status). With wrk installed (Debian's
    ``wrk``), it generates the load (``wrk -t1 -c8``: one thread, eight keep-alive
    connections), costing the server's CPU far less than Python clients; otherwise ``clients``
    Python processes do, opening a connection per request.
    """
    results: dict[str, list[float]] = {name: [] for name in cases}
    if WRK:
        for path, headers, expect in cases.values():  # each answers as expected, then warm-up
            status, _, body = get(port, path, headers)
            if status != expect:
                raise SystemExit(f"{path} answered {status}, not {expect}: {body[:200]!r}")
            _wrk(port, path, headers, 1, 8)
        for _ in range(rounds):
            for name, (path, headers, _expect) in cases.items():
                results[name].append(_wrk(port, path, headers, seconds, 8))
        return results
    with multiprocessing.Pool(clients) as pool:
        for path, headers, expect in cases.values():  # warm-up
            pool.map(_hammer, [(port, path, headers, expect, 0.5)] * clients)
        for _ in range(rounds):
            for name, (path, headers, expect) in cases.items():
                counts = pool.map(_hammer, [(port, path, headers, expect, seconds)] * clients)
                results[name].append(sum(counts) / seconds)
    return results


def report(results: dict, baseline: str) -> None:
    """Each case's median rate and its share of the baseline's median; then, since the machine's
    noise drifts between rounds, the share in each round against that round's baseline (the
    rounds alternate), as the spread to quote."""
    base = statistics.median(results[baseline])
    for name, figures in results.items():
        spread = ", ".join(f"{f:,.0f}" for f in figures)
        median = statistics.median(figures)
        line = f"  {name:<34} median {median:>7,.0f} req/s  {median / base:>5.0%}   ({spread})"
        if name != baseline:
            paired = sorted(f / b for f, b in zip(figures, results[baseline], strict=True))
            line += f"  per round {paired[0]:.0%}–{paired[-1]:.0%}"
        print(line)
