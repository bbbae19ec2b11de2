"""A local webhook receiver for tests and benchmarks: records every request, answers by path.

- ``/ok/...``           answers 204
- ``/flaky/N/...``      answers 503 to the first N requests on that path, then 204
- ``/down/...``         always 500
- ``/redirect/...``     302 to /ok/ (which must not be followed)
- ``/slow/S/...``       sleeps S seconds, then 204
- ``/echo/...``         answers a verification request as it should (200, ``{"challenge": …}``),
                        anything else 204
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    status: int
    headers: dict[str, str]
    body: bytes
    client: tuple = ()

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Sink:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    hits: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    record_bodies: bool = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def ok(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _challenge(body: bytes) -> str | None:
    try:
        return json.loads(body)["data"]["challenge"]
    except (ValueError, KeyError, TypeError):
        return None


def _handler(sink: Sink):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            parts = self.path.strip("/").split("/")
            with sink.lock:
                sink.hits[self.path] += 1
                hits = sink.hits[self.path]
            status, location, answer = 204, None, b""
            if parts[0] == "echo":
                challenge = _challenge(body)
                if challenge is not None:
                    status, answer = 200, json.dumps({"challenge": challenge}).encode()
            elif parts[0] == "flaky" and hits <= int(parts[1]):
                status = 503
            elif parts[0] == "down":
                status = 500
            elif parts[0] == "redirect":
                status, location = 302, "/ok/redirected"
            elif parts[0] == "slow":
                time.sleep(float(parts[1]))
            with sink.lock:
                sink.received.append(
                    Received(
                        self.path,
                        status,
                        dict(self.headers),
                        body if sink.record_bodies else b"",
                        self.client_address,
                    )
                )
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            if answer:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if answer:
                self.wfile.write(answer)

    return Handler


def start(port: int = 0, *, record_bodies: bool = True) -> Sink:
    server = ThreadingHTTPServer(("127.0.0.1", port), None)
    server.daemon_threads = True
    sink = Sink(server, record_bodies=record_bodies)
    server.RequestHandlerClass = _handler(sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink
