"""`make run`'s server: runserver and a task cluster together, stopped together within seconds.

Both run in their own process groups; on Ctrl-C or SIGTERM each group gets SIGTERM, and after
STOP_SECONDS whatever still runs gets SIGKILL (django-q2's cluster can otherwise wait long for a
worker). When the site answers, the last lines printed say where to go and how to log in.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

STOP_SECONDS = 5


class Command(BaseCommand):
    help = "Serve the site with a django-q2 task cluster (development: DEBUG=1); Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="Default: %(default)s.")
        parser.add_argument("--password", default="nightshift-demo", help="Printed for the demo.")

    def handle(self, *args, port, password, **options):
        if not settings.DEBUG:
            raise CommandError("devserver is for development: run it with DEBUG=1.")
        self._children: list[subprocess.Popen] = []
        stopping = []

        def stop(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        quiet = {**os.environ, "LOG_LEVEL": "WARNING"}
        manage = [sys.executable, "manage.py"]
        self._start([*manage, "qcluster"], quiet)
        self._start([*manage, "runserver", f"127.0.0.1:{port}"], os.environ)
        base = f"http://127.0.0.1:{port}"
        if self._wait_for(f"{base}/healthz", stopping):
            self.stdout.write(
                "\n".join(
                    [
                        "",
                        f"Nightshift runs on {base}/ with a task cluster (Ctrl-C stops both).",
                        f"  Public site:   {base}/",
                        f"  Release desk:  {base}/admin/  log in as engineer, manager, manager2 or",
                        f"                 operator (password {password})",
                        f"  Status:        {base}/status/",
                        f"  API docs:      {base}/api/docs/",
                        f"  E-mail sent:   {settings.EMAIL_FILE_PATH}/ (one file per run)"
                        if getattr(settings, "EMAIL_FILE_PATH", None)
                        else "",
                        "",
                    ]
                )
            )
        while not stopping and all(child.poll() is None for child in self._children):
            time.sleep(0.2)
        self._stop()

    def _start(self, command, env):
        # Our own manage.py commands, with this process's interpreter.
        self._children.append(subprocess.Popen(command, env=env, start_new_session=True))  # noqa: S603

    def _wait_for(self, url, stopping) -> bool:
        for _ in range(300):
            if stopping:
                return False
            try:
                with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own localhost
                    return True
            except OSError:
                time.sleep(0.2)
        return False

    def _stop(self):
        for child in self._children:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for child in self._children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
        for child in self._children:
            _signal_group(child, signal.SIGKILL)  # anything left in the group, workers included
            child.wait()


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)
