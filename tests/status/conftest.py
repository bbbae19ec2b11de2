"""A local HTTP server for the probes (127.0.0.1 only: no test ever reaches the internet)."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from releases.models import Component


class Handler(BaseHTTPRequestHandler):
    """/ok: 200 "all good"; /fail: 500; /slow: answers after 2 s; /other: 200, another body;
    /switch: whatever the server's ``switch`` says ("ok" or "fail")."""

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/switch":
            path = "/" + self.server.switch
        if path == "/slow":
            time.sleep(2)
            return self._answer(200, b"all good, slowly")
        if path == "/fail":
            return self._answer(500, b"boom")
        if path == "/other":
            return self._answer(200, b"maintenance page")
        return self._answer(200, b"all good")

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _answer(self, status, body):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the probe gave up (timeout)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.switch = "ok"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port():
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def component(db):
    return Component.objects.create(slug="items-api", name="Items API", kind=Component.Kind.API)


@pytest.fixture
def make_probe(component):
    from status.models import Probe

    counter = iter(range(1, 1000))

    def make(url, **values):
        return Probe.objects.create(
            name=values.pop("name", f"probe {next(counter)}"),
            url=url,
            component=values.pop("component", component),
            **values,
        )

    return make
