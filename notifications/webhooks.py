"""The one HTTP client Nightshift posts webhooks with (wrapping http.client), and signing.

- Only http(s) URLs with a host; plain http and addresses that are loopback, private,
  link-local or otherwise not global are refused unless ``allow_private`` (tests, development).
  So are IPv6 addresses that carry such an IPv4 address inside (NAT64, 6to4, Teredo,
  IPv4-mapped or -translated), and the deprecated IPv4-compatible ones: a network that routes
  them reaches the IPv4 address. A refusal never says what the host resolved to.
- The address is checked when the connection is made and the socket goes to that very
  address, so a DNS answer cannot change between the check and the connect.
- Redirects are not followed: a 3xx is an answer like any other, and only 2xx counts.
- Connections are kept alive per worker process, one per host.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_RESPONSE = 64 * 1024
USER_AGENT = "Nightshift-Webhooks/1"


class WebhookRefused(ValueError):
    """This URL may not receive webhooks (a sentence saying why)."""


class WebhookFailed(Exception):
    """The POST did not get a 2xx answer (a sentence saying what happened)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 of ``timestamp + "." + body`` with the subscriber's secret, in hex."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver runs: does the signature header match? (constant time)"""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def check_url(url: str, *, allow_private: bool) -> str:
    """Raise WebhookRefused if ``url`` may not receive webhooks; else the address it resolves to."""
    parts = _split(url, allow_private=allow_private)
    return _resolve(parts.hostname, parts.port or _default_port(parts.scheme), allow_private)


def _split(url: str, *, allow_private: bool):
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_private):
        raise WebhookRefused("A webhook URL must start with https://.")
    if not parts.hostname:
        raise WebhookRefused("A webhook URL needs a host name.")
    if parts.username or parts.password:
        raise WebhookRefused("A webhook URL may not carry a user name or password.")
    try:
        parts.port  # noqa: B018 — raises on a bad port
    except ValueError:
        raise WebhookRefused(
            "The port of the webhook URL is not a number from 1 to 65535."
        ) from None
    return parts


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


# IPv6 prefixes whose last 32 bits are an IPv4 address that the network may reach for them:
# NAT64's well-known prefix (RFC 6052) and SIIT's IPv4-translated form (RFC 2765).
_EMBEDDING = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::ffff:0:0:0/96")]
# Refused whatever they carry: local-use NAT64 (RFC 8215) is the operator's own network, and
# IPv4-compatible addresses are deprecated (RFC 4291), yet tunnelled by Linux's sit0 if it is up.
_REFUSED = [ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("::/96")]


def _embedded(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: mapped, 6to4, Teredo, NAT64, translated."""
    found = [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour) if v4 is not None]
    if ip.teredo:
        found.extend(ip.teredo)  # the Teredo server and the client behind it
    if any(ip in network for network in _EMBEDDING):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """May a webhook go to this address? Global, not multicast, and nothing private inside."""
    if not ip.is_global or ip.is_multicast:
        return False
    if ip.version == 6:
        if any(ip in network for network in _REFUSED):
            return False
        return all(v4.is_global and not v4.is_multicast for v4 in _embedded(ip))
    return True


def _resolve(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to; every address the name has must be public.

    The refusal is the same sentence whether the name does not resolve or resolves to a private
    address, and it never names the address: the form must not tell outsiders which internal
    names exist or where they point.
    """
    refused = (
        f"The host {host} is not a public address (it must resolve, and not to a loopback, "
        "private or link-local address)."
    )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        if allow_private:
            raise WebhookRefused(f"The host {host} does not resolve.") from None
        raise WebhookRefused(refused) from None
    addresses = [info[4][0] for info in infos]
    if not allow_private:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address.split("%")[0])):
                raise WebhookRefused(refused)
    return addresses[0]


class _Pinned:
    """Connect to the address checked just now, never to what a second lookup says."""

    allow_private = False

    def connect(self):
        address = _resolve(self.host, self.port, self.allow_private)
        self.sock = socket.create_connection((address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _HTTP(_Pinned, http.client.HTTPConnection):
    pass


class _HTTPS(_Pinned, http.client.HTTPSConnection):
    def connect(self):
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


_local = threading.local()
_tls = ssl.create_default_context()


def _connection(scheme: str, host: str, port: int, timeout: float, allow_private: bool):
    pool = _local.__dict__.setdefault("pool", {})
    key = (scheme, host, port, allow_private)
    conn = pool.get(key)
    if conn is None:
        if scheme == "https":
            conn = _HTTPS(host, port, timeout=timeout, context=_tls)
        else:
            conn = _HTTP(host, port, timeout=timeout)
        conn.allow_private = allow_private
        pool[key] = conn
    conn.timeout = timeout
    if conn.sock is not None:
        conn.sock.settimeout(timeout)
    return conn


def _drop(scheme: str, host: str, port: int, allow_private: bool) -> None:
    conn = _local.__dict__.get("pool", {}).pop((scheme, host, port, allow_private), None)
    if conn is not None:
        conn.close()


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # the first MAX_RESPONSE bytes


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool
) -> int:
    """POST ``body`` to ``url``; return the 2xx status or raise WebhookFailed/WebhookRefused."""
    return exchange(url, body, headers, timeout=timeout, allow_private=allow_private).status


def exchange(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool
) -> Answer:
    """POST as ``post`` does; return the 2xx answer with (the start of) its body."""
    parts = _split(url, allow_private=allow_private)
    port = parts.port or _default_port(parts.scheme)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers,
    }
    for attempt in (1, 2):
        conn = _connection(parts.scheme, parts.hostname, port, timeout, allow_private)
        reused = conn.sock is not None
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read(MAX_RESPONSE)
            if response.will_close or not response.isclosed():
                _drop(parts.scheme, parts.hostname, port, allow_private)
            break
        except WebhookRefused:
            _drop(parts.scheme, parts.hostname, port, allow_private)
            raise
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            _drop(parts.scheme, parts.hostname, port, allow_private)
            # A kept-alive connection the server closed meanwhile: try once on a new one.
            if reused and attempt == 1:
                continue
            raise WebhookFailed(f"The connection failed: {exc.__class__.__name__}.") from None
        except (OSError, http.client.HTTPException) as exc:
            _drop(parts.scheme, parts.hostname, port, allow_private)
            text = "timed out" if isinstance(exc, TimeoutError) else exc.__class__.__name__
            raise WebhookFailed(f"The request failed: {text} {exc}".strip()) from None
    if not 200 <= response.status < 300:
        raise WebhookFailed(f"The endpoint answered {response.status} {response.reason}.")
    return Answer(response.status, answer)
