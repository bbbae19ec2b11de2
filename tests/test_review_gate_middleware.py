"""Review of the gate's middleware (releases.middleware, decision 6) and freshness.one_look, as a
hostile client: the fast path answers exactly as GateView does, or declines."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection, connections
from django.test import Client
from django.urls import clear_script_prefix, set_script_prefix
from rest_framework.test import APIClient

from accounts import ratelimit
from releases import middleware
from releases.api import GateView
from releases.models import Freeze
from tests.helpers import NOW, WED_WINDOW, utc

GATE = "/api/v1/gate/"
OPEN = WED_WINDOW + dt.timedelta(minutes=30)


@pytest.fixture
def allow_all(monkeypatch):
    """Every anonymous call allowed, and each count recorded as (scope, ident)."""
    counted = []

    def hit(scope, ident, **kwargs):
        counted.append((scope, ident))
        return ratelimit.Verdict(True, 1, 60.0)

    monkeypatch.setattr(ratelimit, "hit_leased", hit)
    return counted


@pytest.fixture
def reached(monkeypatch):
    """How many times GateView.get ran (the fast path declined)."""
    calls = []
    real = GateView.get
    monkeypatch.setattr(
        GateView, "get", lambda self, request: calls.append(1) or real(self, request)
    )
    return calls


def both(monkeypatch, send):
    """``send()`` answered by the stack as it is, then with the fast path switched off."""
    with time_machine.travel(NOW, tick=False):
        fast = send()
        with monkeypatch.context() as m:
            m.setattr(middleware, "answer_fast", lambda request: None)  # GateView's answer
            full = send()
    return fast, full


def same(fast, full):
    assert (fast.status_code, fast.content) == (full.status_code, full.content)
    assert dict(fast.headers) == dict(full.headers)
    assert {k: v.OutputString() for k, v in fast.cookies.items()} == {
        k: v.OutputString() for k, v in full.cookies.items()
    }


# --- Query strings ---------------------------------------------------------------------------

HOSTILE_QUERIES = [
    "component=items-api",
    "component=items-api&component=items-api",
    "component=nope&component=items-api",  # the last value wins, on both paths
    "component=items-api;at=2026-11-26T09:00:00Z",  # ';' is no separator (Python >= 3.10)
    "component=items-api&at=2026-11-26T09:00:00+05:30",  # '+' read as a space
    "component=items-api&at=2026-11-26T09:00:00%2B05:30",
    "component=items-api&at=2026-11-26T09:00:00.123456789Z",
    "component=items-api&at=0001-01-01T00:00:00Z",
    "component=items-api&at=9999-12-31T23:59:59-23:59",
    "component=items-api&at=9999-12-31T23:59:59.999999%2B00:00",
    "component=items-api&at=" + "9" * 70,
    "component=items-api&at=2026-11-26T09:00:00%2B24:00",
    "component=items-api&at=2026-11-26T09:00:00-99:59",
    "component=items-api&at=2026-02-30T00:00:00Z",
    "component=items-api&at=2026-11-26T24:00:00Z",
    "component=items-api&at=0000-01-01T00:00:00Z",
    "component=items-api&at=2026-W48-4T09:00Z",
    "component=items-api&at=%EF%BC%92026-11-26T09:00:00Z",  # a full-width digit
    "component=items-api&release=0",
    "component=%69tems-api",  # percent-encoded ASCII
    "component=items%2Dapi&",
    "component=caf%C3%A9",  # percent-encoded UTF-8
    "component=%FF%FE",  # percent-encoded bytes that are not UTF-8
    "component=%E2%80%A8",  # U+2028 in an error message
    "component=%ZZ",
    "component",  # a name without '='
    "=items-api",
    "&&&component=items-api&&",
    "component=items-api&release=",
    "component=items-api&release=%20",
    "component=items-api&release=1e3",
    "component=items-api&release=-1",
    "component=items-api&release=99999999999999999999",
    "release=%EF%BC%91",  # a full-width digit
    "component=items-api&component=",  # empty last value: "required"
    "Component=items-api",
    "component=items-api&" + "x=1&" * 900,  # many fields, within the limit
    "component=" + "a" * 200_000,  # a huge query string
    "component=items-api#fragment",
]


@pytest.mark.django_db
@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_every_hostile_query_string_is_answered_as_gateview_does(
    api_component, monkeypatch, allow_all, query
):
    fast, full = both(monkeypatch, lambda: APIClient().get(f"{GATE}?{query}"))
    same(fast, full)
    assert fast.status_code in (200, 400)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        "component=items-api&at=\xe9",  # latin-1 bytes as the WSGI server hands them over
        "component=caf\xc3\xa9",  # UTF-8 bytes, unencoded
        "component=items-api&x=\xff",
    ],
)
def test_a_raw_non_ascii_query_string_is_left_to_gateview(
    api_component, monkeypatch, allow_all, reached, raw
):
    fast, full = both(monkeypatch, lambda: APIClient().get(GATE, QUERY_STRING=raw))
    same(fast, full)
    assert len(reached) == 2  # declined by the fast path: GateView answered both
    assert len(allow_all) == 2  # one count each


@pytest.mark.django_db
def test_too_many_fields_is_the_same_400_and_never_reaches_the_gate(
    api_component, monkeypatch, allow_all, reached
):
    query = "component=items-api&" + "x=1&" * 1000
    fast, full = both(monkeypatch, lambda: APIClient().get(f"{GATE}?{query}"))
    same(fast, full)
    assert fast.status_code == 400
    assert fast["Content-Type"] == "application/problem+json"
    assert reached == [] and allow_all == []


@pytest.mark.django_db
def test_a_good_ascii_call_is_answered_by_the_fast_path(api_component, allow_all, reached):
    with time_machine.travel(NOW, tick=False):
        response = APIClient().get(f"{GATE}?component=items%2Dapi&at=2026-12-02T08:30:00%2B00:00")
    assert response.status_code == 200 and reached == []
    assert response.json()["decision"] == "allow"


# --- Paths, methods, hosts, script prefixes --------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/v1/gate", "/api/v1/gate//", "/API/v1/gate/", "/api/v1/Gate/", "/api/v1/gate/x",
     "/api/v1//gate/", "/api/v1/gate/%20", "/api/v1/gate%2F", "/api/v1/gat%65/"],
)  # fmt: skip
def test_a_path_near_the_gates_is_answered_as_without_the_fast_path(
    api_component, monkeypatch, allow_all, path
):
    fast, full = both(monkeypatch, lambda: APIClient().get(f"{path}?component=items-api"))
    same(fast, full)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["head", "options", "post", "put", "delete", "patch"])
def test_other_methods_are_gateviews_and_counted_once(
    api_component, monkeypatch, allow_all, method
):
    fast, full = both(
        monkeypatch, lambda: getattr(APIClient(), method)(f"{GATE}?component=items-api")
    )
    same(fast, full)
    assert len(allow_all) == 2


@pytest.mark.django_db
def test_a_host_not_allowed_is_refused_before_the_gate_counts_anything(
    api_component, monkeypatch, allow_all, reached
):
    fast, full = both(
        monkeypatch,
        lambda: APIClient().get(f"{GATE}?component=items-api", HTTP_HOST="evil.example"),
    )
    same(fast, full)
    assert fast.status_code == 400 and allow_all == [] and reached == []


@pytest.mark.django_db
def test_under_a_script_prefix_the_fast_path_still_answers_as_gateview(
    api_component, monkeypatch, allow_all, reached
):
    middleware._gate_path.cache_clear()
    set_script_prefix("/nightshift/")
    try:
        fast, full = both(
            monkeypatch,
            lambda: APIClient().get(f"{GATE}?component=items-api", SCRIPT_NAME="/nightshift"),
        )
    finally:
        clear_script_prefix()
        middleware._gate_path.cache_clear()
    same(fast, full)
    assert fast.status_code == 200 and reached == [1]  # only the second went to GateView


@pytest.mark.django_db
def test_a_script_prefix_that_reverse_quotes_answers_the_gate_at_a_path_that_is_not_its(
    api_component, monkeypatch, allow_all, reached
):
    """Found in review: ``_gate_path`` stripped the unquoted script prefix from ``reverse()``'s
    quoted answer; under '/release desk/' nothing was stripped, and the first request's prefix
    was cached for the process: '//release%20desk/api/v1/gate/' became the gate's path, a
    made-up path GateView does not serve (404) answered 200. It now reverses with no prefix."""
    middleware._gate_path.cache_clear()
    set_script_prefix("/release desk/")
    try:
        bogus = "//release%20desk/api/v1/gate/"  # PATH_INFO as sent percent-encoded twice
        fast, full = both(
            monkeypatch,
            lambda: APIClient().get(
                f"{GATE}?component=items-api", SCRIPT_NAME="/release desk", PATH_INFO=bogus
            ),
        )
    finally:
        clear_script_prefix()
        middleware._gate_path.cache_clear()
    assert full.status_code == 404
    assert fast.status_code == full.status_code


# --- Authorization ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_authorization_variant_is_answered_as_gateview_does(
    api_component, engineer, monkeypatch, allow_all
):
    from accounts.services import apikey_create, apikey_revoke

    _, good = apikey_create(user=engineer, name="pipeline")
    revoked, old = apikey_create(user=engineer, name="old")
    apikey_revoke(key=revoked)
    variants = [
        f"Bearer {good}", f"BEARER {good}", f"Bearer\t{good}", f"  Bearer   {good}  ",
        f"Bearer {good}\x0b", f"Bearer {good} extra", f"Token {good}", f"Bearer{good}",
        f"Bearer {old}", f"Bearer {good}\xa0", "Bearer ", "Bearer", "\t", "Basic Og==",
        "Bearer ns_\x00", f"Bearer {good.upper()}",
    ]  # fmt: skip
    for header in variants:
        for query in ("component=items-api", "component=items-api&release=1", "component=no"):
            fast, full = both(
                monkeypatch,
                lambda h=header, q=query: APIClient().get(f"{GATE}?{q}", HTTP_AUTHORIZATION=h),
            )
            same(fast, full)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "query", "counts"),
    [
        ({}, "component=items-api", 1),
        ({}, "component=nope", 1),
        ({"HTTP_AUTHORIZATION": "Basic Og=="}, "component=items-api", 1),
        ({"HTTP_AUTHORIZATION": "   "}, "component=items-api", 1),
        ({"HTTP_AUTHORIZATION": ""}, "component=items-api", 1),
        ({"QUERY_STRING": "component=caf\xc3\xa9"}, "", 1),
        ({"HTTP_AUTHORIZATION": "Bearer unknown"}, "component=items-api", 0),  # a 401
    ],
)
def test_each_anonymous_call_is_counted_exactly_once(
    api_component, allow_all, headers, query, counts
):
    with time_machine.travel(NOW, tick=False):
        APIClient().get(f"{GATE}?{query}", **headers)
    assert len(allow_all) == counts


@pytest.mark.django_db
def test_a_keyed_call_is_not_counted(api_component, engineer, allow_all):
    from accounts.services import apikey_create

    _, good = apikey_create(user=engineer, name="pipeline")
    with time_machine.travel(NOW, tick=False):
        ok = APIClient().get(f"{GATE}?component=items-api", HTTP_AUTHORIZATION=f"Bearer {good}")
        bad = APIClient().get(f"{GATE}?component=nope", HTTP_AUTHORIZATION=f"Bearer {good}")
    assert (ok.status_code, bad.status_code, allow_all) == (200, 400, [])


@pytest.mark.django_db
def test_behind_trusted_proxies_both_paths_count_the_same_client(
    api_component, monkeypatch, settings, allow_all
):
    settings.TRUSTED_PROXY_COUNT = 1
    headers = {"HTTP_X_FORWARDED_FOR": "6.6.6.6, 10.0.0.7", "REMOTE_ADDR": "10.0.0.1"}
    fast, full = both(
        monkeypatch, lambda: APIClient().get(f"{GATE}?component=items-api", **headers)
    )
    same(fast, full)
    assert allow_all == [("public", "10.0.0.7"), ("public", "10.0.0.7")]


@pytest.mark.django_db
def test_a_release_is_answered_as_gateview_does_for_the_public_and_the_team(
    make_release, engineer, monkeypatch, allow_all
):
    from accounts.services import apikey_create
    from releases import services

    release = make_release()
    services.release_announce(release=release, by=engineer, at=NOW)
    _, good = apikey_create(user=engineer, name="pipeline")
    statuses = []
    for header in ({}, {"HTTP_AUTHORIZATION": f"Bearer {good}"}):
        for query in (
            f"release={release.pk}",
            f"release={release.pk}&component=items-api",
            f"release={release.pk}&component=other",
            f"release={release.pk}&at=2026-12-02T08:30:00Z",
            f"release={release.pk}&at=2026-12-02T12:30:00%2B00:00",
            f"release={release.pk + 1}",
        ):
            fast, full = both(
                monkeypatch, lambda q=query, h=header: APIClient().get(f"{GATE}?{q}", **h)
            )
            same(fast, full)
            statuses.append(fast.status_code)
    assert statuses[:6] == [400] * 6  # not public yet: unknown to the public
    assert statuses[6:] == [200, 200, 400, 200, 200, 400]


# --- Cookies: what the skipped middleware does to GateView's answer ---------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cookie",
    [
        "csrftoken=" + "a" * 32,  # a well-formed CSRF cookie
        "csrftoken=" + "b" * 64,
        "sessionid=" + "s" * 32,  # a session that does not exist
        "messages=garbage",
        "sessionid=" + "s" * 32 + "; csrftoken=" + "a" * 32 + "; messages=x",
    ],
)
def test_a_request_with_cookies_goes_to_gateview_and_gets_the_pipelines_answer(
    api_component, allow_all, reached, cookie
):
    """Cookies (a browser's) send the call down to GateView, whose middleware may mend them;
    the answer is the one a pipeline without cookies gets above it."""
    with time_machine.travel(NOW, tick=False):
        browser = Client().get(f"{GATE}?component=items-api", HTTP_COOKIE=cookie)
        assert reached == [1]
        pipeline = Client().get(f"{GATE}?component=items-api")
    assert reached == [1]
    same(browser, pipeline)


@pytest.mark.django_db
def test_a_malformed_csrf_cookie_gets_the_answer_gateview_gives(
    api_component, monkeypatch, allow_all
):
    """Found in review: CsrfViewMiddleware replaces a malformed CSRF cookie on every response
    (a new csrftoken Set-Cookie and Vary: Cookie), and the fast path, above it, did not. A
    request with cookies (a browser, never a pipeline) now goes to GateView."""
    fast, full = both(
        monkeypatch,
        lambda: Client().get(f"{GATE}?component=items-api", HTTP_COOKIE="csrftoken=bad"),
    )
    assert "csrftoken" in full.cookies and full["Vary"] == "Cookie"  # GateView's answer
    assert (fast.cookies.keys(), fast.get("Vary")) == (full.cookies.keys(), full.get("Vary"))


@pytest.mark.django_db
def test_a_malformed_session_cookie_gets_the_answer_gateview_gives(
    api_component, monkeypatch, allow_all
):
    """Found in review: SessionMiddleware deletes a session cookie too short to be a key, with
    Vary: Cookie; the fast path answered without either. Requests with cookies go to GateView."""
    fast, full = both(
        monkeypatch,
        lambda: Client().get(f"{GATE}?component=items-api", HTTP_COOKIE="sessionid=x"),
    )
    assert full.cookies["sessionid"]["max-age"] == 0 and full["Vary"] == "Cookie"
    assert (fast.cookies.keys(), fast.get("Vary")) == (full.cookies.keys(), full.get("Vary"))


# --- Freshness: commits elsewhere, one_look --------------------------------------------------

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL has no data_version: it always asks"
)


def elsewhere(work):
    from tests.test_freshness import elsewhere as run

    run(work)


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_keyed_pipeline_sees_a_freeze_and_a_revocation_made_elsewhere_at_its_next_call(
    api_component, engineer
):
    from accounts.services import apikey_create, apikey_revoke

    key, plaintext = apikey_create(user=engineer, name="pipeline")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    with time_machine.travel(OPEN, tick=False):
        for _ in range(3):  # the key and the rules are remembered
            assert client.get(f"{GATE}?component=items-api").json()["decision"] == "allow"
    elsewhere(
        lambda: Freeze.objects.create(
            reason="Incident", starts_at=utc(2026, 12, 1), ends_at=utc(2026, 12, 3)
        )
    )
    with time_machine.travel(OPEN, tick=False):
        assert client.get(f"{GATE}?component=items-api").json()["decision"] == "deny"
        assert client.get(f"{GATE}?component=items-api").json()["decision"] == "deny"
    elsewhere(lambda: apikey_revoke(key=key))
    with time_machine.travel(OPEN, tick=False):
        assert client.get(f"{GATE}?component=items-api").status_code == 401


def _counter():
    from releases.models import Component

    loads = []

    def load():
        loads.append(1)
        return Component.objects.filter(slug__startswith="late-").count()

    return load, loads


def _make(slug):
    from releases.models import Component

    return lambda: Component.objects.create(slug=slug, name=slug, kind="api")


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_nested_look_never_takes_the_outer_block_back_in_time():
    from lib import freshness

    load, _ = _counter()
    with freshness.one_look():
        assert freshness.remembered("late", load) == 0
        elsewhere(_make("late-a"))
        with freshness.one_look():
            assert freshness.remembered("late", load) == 1  # the inner block looks again
        assert freshness.remembered("late", load) == 1  # never back to 0
    assert freshness._local.look is None
    assert freshness.remembered("late", load) == 1


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_an_exception_in_the_block_leaves_no_look_behind():
    from lib import freshness

    load, _ = _counter()
    with pytest.raises(RuntimeError), freshness.one_look():
        assert freshness.remembered("late", load) == 0
        raise RuntimeError
    assert freshness._local.look is None
    elsewhere(_make("late-a"))
    assert freshness.remembered("late", load) == 1


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_connection_closed_inside_the_block_is_not_answered_for_by_the_old_look():
    from lib import freshness

    load, _ = _counter()
    connection.ensure_connection()
    old = connection.connection
    # The test database lives in memory, where close() keeps the connection: open the new one
    # by hand, as close() and the next query would on a file.
    fresh = connection.get_new_connection(connection.get_connection_params())
    try:
        with freshness.one_look():
            assert freshness.remembered("late", load) == 0
            connection.connection = fresh
            elsewhere(_make("late-a"))
            assert freshness.remembered("late", load) == 1  # a new connection: it looks itself
    finally:
        connection.connection = old
        fresh.close()


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_another_threads_block_does_not_spare_this_thread_its_look():
    import threading

    from lib import freshness

    load, _ = _counter()
    assert freshness.remembered("late", load) == 0
    inside, done = threading.Event(), threading.Event()

    def other():
        try:
            with freshness.one_look():
                freshness.remembered("late", load)
                inside.set()
                done.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(10)
    try:
        elsewhere(_make("late-a"))
        assert freshness.remembered("late", load) == 1
    finally:
        done.set()
        thread.join()


@pytest.mark.django_db(transaction=True)
def test_on_another_vendor_one_look_changes_nothing(monkeypatch):
    from lib import freshness

    monkeypatch.setattr(connections["default"], "vendor", "postgresql")
    load, loads = _counter()
    with freshness.one_look():
        for _ in range(3):
            freshness.remembered("late", load)
    assert len(loads) == 3


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_inside_atomic_the_block_still_loads_every_time():
    from django.db import transaction

    from lib import freshness

    load, loads = _counter()
    with freshness.one_look():
        freshness.remembered("late", load)
        with transaction.atomic():
            _make("late-a")()
            assert freshness.remembered("late", load) == 1
            assert freshness.remembered("late", load) == 1
        assert freshness.remembered("late", load) == 1
    assert len(loads) == 4
