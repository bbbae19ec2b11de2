"""The README's shell examples run, exactly as written, in one shell, against `make run`.

A reader follows the README top to bottom in one terminal beside `make run`; so does this test.
Two kinds of block are not run: the set-up itself (`make run`, `make test`: this test starts
`make run`), and blocks for other machines (production: they name nightshift.example.com).
Every `curl` in the README uses `-f`, so an HTTP error stops the script.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PORT = 8000  # the README's examples say 127.0.0.1:8000

pytestmark = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="make run is the SQLite embedded default; once is enough",
)


def shell_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def runnable(block: str) -> bool:
    first = next(line for line in block.splitlines() if line.strip())
    return not first.startswith("make ") and "nightshift.example.com" not in block


def test_the_readme_has_runnable_examples_and_says_which_are_not():
    blocks = shell_blocks()
    assert sum(map(runnable, blocks)) >= 5
    assert "except those for other machines" in README.read_text()


def test_every_shell_example_in_the_readme_runs_against_make_run(tmp_path):
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", PORT)) == 0:
            pytest.fail(f"Port {PORT} is taken: the README's examples need it for make run.")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(NIGHTSHIFT_VAR_DIR=str(tmp_path))
    server = subprocess.Popen(
        ["make", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and "(password" not in server.stdout.readline():
            pass
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=5) as answer:
            assert answer.status == 200
        script = "set -euo pipefail\n" + "\n".join(b for b in shell_blocks() if runnable(b))
        run = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        # What the examples promise, seen in their answers:
        assert '"decision":' in run.stdout and '"status":"approved"' in run.stdout
        assert '"status":"applied"' in run.stdout  # the rule change, once approved
        assert "Revoked ns_" in run.stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
