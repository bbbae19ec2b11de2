"""The webhook client: which URLs it refuses, what counts as delivered, and signatures."""

import socket

import pytest

from notifications import webhooks


def post(url, *, allow_private=True, timeout=2):
    return webhooks.post(
        url, b'{"a":1}', {"X-Test": "1"}, timeout=timeout, allow_private=allow_private
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://172.16.5.5/hook",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata: link-local
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://0.0.0.0/hook",
    ],
)
def test_loopback_private_and_link_local_addresses_are_refused(url):
    with pytest.raises(webhooks.WebhookRefused) as refused:
        webhooks.check_url(url, allow_private=False)
    assert "https://" in str(refused.value) or "not a public address" in str(refused.value)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
        "64:ff9b:1::808:808",  # local-use NAT64: the operator's own network, whatever it carries
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::808:808",  # IPv4-compatible, deprecated: refused even for a public address
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "2001:0:7f00:1::",  # Teredo, server 127.0.0.1
    ],
)
def test_ipv6_forms_that_carry_a_private_ipv4_address_are_refused(address):
    with pytest.raises(webhooks.WebhookRefused, match="not a public address"):
        webhooks.check_url(f"https://[{address}]/hook", allow_private=False)


@pytest.mark.parametrize(
    "address", ["2001:4860:4860::8888", "64:ff9b::808:808", "::ffff:8.8.8.8", "2002:808:808::1"]
)
def test_ipv6_addresses_that_lead_to_a_public_address_are_accepted(address):
    # NAT64 of a public address is how an IPv6-only network with DNS64 reaches IPv4-only hosts.
    assert webhooks.check_url(f"https://[{address}]/hook", allow_private=False) == address


def test_a_refusal_does_not_say_what_a_name_resolves_to(monkeypatch):
    def resolve(host, port, **kwargs):
        if host == "intranet.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", resolve)
    with pytest.raises(webhooks.WebhookRefused) as private:
        webhooks.check_url("https://intranet.example.com/hook", allow_private=False)
    with pytest.raises(webhooks.WebhookRefused) as missing:
        webhooks.check_url("https://nowhere.example.com/hook", allow_private=False)
    assert "10.20.30.40" not in str(private.value) and "not a public address" in str(private.value)
    # An internal name and a name that does not exist get the same answer: no map of the inside.
    assert str(private.value).replace("intranet", "nowhere") == str(missing.value)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/hook", "must start with https://"),
        ("http://93.184.216.34/hook", "must start with https://"),
        ("https:///hook", "needs a host"),
        ("https://user:pw@93.184.216.34/hook", "user name or password"),
        ("https://93.184.216.34:99999/hook", "port"),
        ("https://no-such-host.invalid/hook", "not a public address"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url, words):
    with pytest.raises(webhooks.WebhookRefused, match=words):
        webhooks.check_url(url, allow_private=False)


def test_a_public_https_address_is_accepted():
    webhooks.check_url("https://93.184.216.34/hook", allow_private=False)  # an IP: no DNS needed


def test_the_check_is_made_again_when_connecting(sink):
    # Accepted once (development) does not mean accepted later, when the setting is off.
    with pytest.raises(webhooks.WebhookRefused):
        post(f"{sink.url}/ok/x", allow_private=False)
    assert sink.count() == 0


def test_a_2xx_is_delivered_and_connections_are_kept_alive(sink):
    assert post(f"{sink.url}/ok/a") == 204
    assert post(f"{sink.url}/ok/b") == 204
    [first, second] = sink.received
    assert first.headers["X-Test"] == "1" and first.body == b'{"a":1}'
    assert first.headers["Content-Type"] == "application/json"
    assert second.client == first.client  # the same connection, kept alive


def test_an_error_status_is_a_failure_naming_it(sink):
    with pytest.raises(webhooks.WebhookFailed, match="500"):
        post(f"{sink.url}/down/x")


def test_a_redirect_is_not_followed(sink):
    with pytest.raises(webhooks.WebhookFailed, match="302"):
        post(f"{sink.url}/redirect/x")
    assert [r.path for r in sink.received] == ["/redirect/x"]


def test_a_slow_endpoint_times_out(sink):
    with pytest.raises(webhooks.WebhookFailed, match="timed out"):
        post(f"{sink.url}/slow/3/x", timeout=1)


def test_a_closed_port_is_a_failure_not_a_crash():
    with pytest.raises(webhooks.WebhookFailed):
        post("http://127.0.0.1:9/hook")


def test_signatures_verify_with_the_secret_only():
    body, timestamp = b'{"id":"1"}', "1767225600"
    header = webhooks.signature("s3cret", timestamp, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert webhooks.verify("s3cret", timestamp, body, header)
    assert not webhooks.verify("other", timestamp, body, header)
    assert not webhooks.verify("s3cret", "1767225601", body, header)  # replayed at another time
    assert not webhooks.verify("s3cret", timestamp, body + b" ", header)


def test_a_name_that_does_not_resolve_is_named_so_in_development():
    with pytest.raises(webhooks.WebhookRefused, match="does not resolve"):
        webhooks.check_url("http://no-such-host.invalid/hook", allow_private=True)
