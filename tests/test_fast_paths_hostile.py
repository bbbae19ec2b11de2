"""The fast paths (the gate outside DRF's cycle, the shared page cache, the key cache) read as
a hostile client would: each answer is what the full path gives, for every input."""

import datetime as dt

import pytest
import time_machine
from django.http import QueryDict
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from releases import gate, services
from releases.models import Freeze
from tests.helpers import NOW, WED_WINDOW

pytestmark = pytest.mark.django_db


def test_the_gates_fast_answer_escapes_line_separators_as_drf_does(api_component):
    """A freeze's reason may hold U+2028 (one line, no control character): DRF's renderer
    escapes it (JSON that stays valid JavaScript); the fast path must give the same bytes."""
    Freeze.objects.create(
        reason="Year\u2028end\u2029freeze",
        starts_at=dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
    )
    query = "component=items-api&at=2026-11-26T09:00:00Z"
    response = APIClient().get(f"/api/v1/gate/?{query}")
    expected = JSONRenderer().render(gate.ask(QueryDict(query), team=False))
    assert response.status_code == 200
    assert b"\\u2028" in expected
    assert response.content == expected


@pytest.mark.parametrize("path", ["/feeds/releases.atom", "/calendar/releases.ics"])
def test_a_page_rendered_for_one_host_or_scheme_is_not_served_to_another(
    client, make_release, engineer, path
):
    """Feeds and calendars carry absolute links built from the request's host and scheme: a
    body kept for one address must not answer a reader of another."""
    services.release_announce(release=make_release(), by=engineer, at=NOW)
    with time_machine.travel(WED_WINDOW + dt.timedelta(hours=2), tick=False):  # public by then
        for _ in range(3):  # kept from the second reader on
            client.get(path, HTTP_HOST="localhost")
        other = client.get(path, HTTP_HOST="127.0.0.1").content.decode()
        assert "localhost" not in other and "127.0.0.1" in other
        for _ in range(3):
            client.get(path, HTTP_HOST="127.0.0.1")
        secure = client.get(path, HTTP_HOST="127.0.0.1", secure=True).content.decode()
        if "http://" in other:
            assert "https://127.0.0.1" in secure


GATE_INPUTS = [
    ("component=items-api&at=2026-11-26T09:00:00Z", {}),
    ("component=items-api&component=nope", {}),
    ("component=nope&component=items-api", {}),
    ("component=items-api&format=api", {}),
    ("component=items-api&format=xml", {"HTTP_ACCEPT": "text/html"}),
    ("component=items-api", {"HTTP_ACCEPT": "application/json; indent=4"}),
    ("component=items-api", {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}),
    ("component=items-api", {"HTTP_AUTHORIZATION": "bearer"}),
    ("component=items-api", {"HTTP_AUTHORIZATION": "Bearer a b"}),
    ("component=items-api", {"HTTP_AUTHORIZATION": "Bearer " + "k" * 10_000}),
    ("component=items-api", {"HTTP_AUTHORIZATION": "Bearer ns_\xe9\xff"}),
    ("component=items-api", {"HTTP_AUTHORIZATION": "   "}),
    ("component=", {}),
    ("at=yesterday", {}),
    ("release=1", {}),
    ("release=%EF%BC%91&component=items-api", {}),
    ("component=items-api&at=2026-11-26T09:00:00", {}),
    ("component=items-api&at=", {}),
    ("component=items-api&release=", {}),
]


@pytest.mark.parametrize(("query", "headers"), GATE_INPUTS)
def test_the_gates_fast_path_answers_every_input_as_drf_does(
    api_component, monkeypatch, query, headers
):
    from accounts import ratelimit
    from releases import middleware

    monkeypatch.setattr(ratelimit, "hit_leased", lambda *a, **k: ratelimit.Verdict(True, 1, 60.0))
    with time_machine.travel(NOW, tick=False):
        fast = APIClient().get(f"/api/v1/gate/?{query}", **headers)
        monkeypatch.setattr(middleware, "answer_fast", lambda request: None)  # DRF's path
        full = APIClient().get(f"/api/v1/gate/?{query}", **headers)
    assert (fast.status_code, fast.content) == (full.status_code, full.content)
    # Every header: the middleware the fast path skips adds none to the gate's answer.
    assert dict(fast.headers) == dict(full.headers)


def test_the_gates_fast_path_answers_keyed_callers_as_drf_does(
    engineer, api_component, monkeypatch
):
    from accounts.services import apikey_create, apikey_revoke
    from releases import middleware

    _, good_plain = apikey_create(user=engineer, name="pipeline")
    revoked, revoked_plain = apikey_create(user=engineer, name="old pipeline")
    apikey_revoke(key=revoked)
    cases = [f"Bearer {good_plain}", f"bearer  {good_plain}", f"Bearer {revoked_plain}"]

    def answers():
        return [
            APIClient().get("/api/v1/gate/?component=items-api", HTTP_AUTHORIZATION=h)
            for h in cases
        ]

    with time_machine.travel(NOW, tick=False):
        fast = answers()
        monkeypatch.setattr(middleware, "answer_fast", lambda request: None)  # DRF's path
        full = answers()
    for f, g in zip(fast, full, strict=True):
        assert (f.status_code, f.content) == (g.status_code, g.content)
        assert dict(f.headers) == dict(g.headers)


@pytest.mark.parametrize(
    ("method", "query", "status"),
    [
        ("get", "component=items-api", 200),
        ("get", "component=nope", 400),
        ("head", "component=items-api", 200),
        ("options", "", 200),
        ("get", "", 400),
    ],
)
def test_an_anonymous_gate_call_is_counted_exactly_once(
    api_component, monkeypatch, method, query, status
):
    from accounts import ratelimit

    calls = []
    real = ratelimit.hit_leased

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ratelimit, "hit_leased", counting)
    response = getattr(APIClient(), method)(f"/api/v1/gate/?{query}")
    assert response.status_code == status
    assert len(calls) == 1


def test_a_throttled_client_with_a_bad_parameter_is_told_429_counted_once(
    api_component, monkeypatch
):
    from accounts import ratelimit

    calls = []

    def exhausted(*args, **kwargs):
        calls.append(args)
        return ratelimit.Verdict(False, 301, 30.0)

    monkeypatch.setattr(ratelimit, "hit_leased", exhausted)
    response = APIClient().get("/api/v1/gate/?component=nope&at=never")
    assert response.status_code == 429 and response["Retry-After"] == "30"
    assert response["Content-Type"].startswith("application/problem+json")
    assert len(calls) == 1


SHARED_PAGES = (
    "/", "/releases/", "/notices/", "/feeds/releases.atom", "/feeds/notices.atom", "/calendar/",
    "/calendar/releases.ics", "/status/", "/status/history/", "/feeds/status.atom",
    "/support/",
)  # fmt: skip


def test_a_staff_reader_with_a_flash_message_leaves_nothing_of_theirs_in_the_shared_cache(
    client, engineer, make_release
):
    """The desk's engineer, logged in with a message waiting, reads the public site first: what
    anonymous readers then get from the cache holds nothing of theirs (no name, no message, no
    CSRF token), and sets no cookie."""
    from django.contrib.messages import constants
    from django.contrib.messages.storage.base import Message
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.http import HttpRequest
    from django.test import Client

    services.release_announce(release=make_release(), by=engineer, at=NOW)
    client.force_login(engineer)
    flash = CookieStorage(HttpRequest())._encode([Message(constants.SUCCESS, "FLASH-FOR-ERIN")])
    with time_machine.travel(WED_WINDOW + dt.timedelta(hours=2), tick=False):
        for path in SHARED_PAGES:
            for _ in range(2):  # kept from the second reader on
                client.cookies["messages"] = flash
                staff = client.get(path)
                assert staff.status_code == 200, path
            anonymous = Client().get(path)
            assert anonymous.content == staff.content, path
            for text in ("FLASH-FOR-ERIN", "erin", "csrfmiddlewaretoken"):
                assert text not in anonymous.content.decode(), (path, text)
            assert not anonymous.cookies, path
            assert "Cookie" not in anonymous.get("Vary", ""), path


def test_made_up_urls_asked_twice_cannot_fill_the_shared_cache(client, api_component, monkeypatch):
    """Asking each made-up query string twice gets past the second-reader rule: what the cache
    keeps is bounded all the same (a budget of bodies an hour, shared by every worker)."""
    from django.core.cache import cache

    from notes import http

    monkeypatch.setattr(http, "PAGES_KEPT_PER_HOUR", 5, raising=False)
    with time_machine.travel(NOW, tick=False):
        etags = []
        for n in range(20):
            client.get(f"/releases/?made-up={n}")
            etags.append(client.get(f"/releases/?made-up={n}")["ETag"])
        kept = [etag for etag in etags if cache.get(http.page_key(etag)) is not None]
    assert 0 < len(kept) <= 5


def test_a_page_from_the_cache_carries_the_headers_a_fresh_render_does(
    client, engineer, make_release
):
    services.release_announce(release=make_release(), by=engineer, at=NOW)
    with time_machine.travel(WED_WINDOW + dt.timedelta(hours=2), tick=False):
        for path in SHARED_PAGES:
            client.get(path)
            fresh = client.get(path)  # the second reader: rendered, and kept
            cached = client.get(path)
            assert cached.content == fresh.content, path
            assert dict(cached.headers) == dict(fresh.headers), path
            head = client.head(path)
            assert head.status_code == 200 and dict(head.headers) == dict(fresh.headers), path


def test_the_outage_log_lists_the_new_month_as_soon_as_it_begins(client, api_component):
    """The outage log lists every month of the last twelve: the month turning changes it with
    nothing written, so it must change its ETag (and the cached body) too."""
    end_of_november = dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC)
    with time_machine.travel(end_of_november, tick=False):
        client.get("/status/history/")
        november = client.get("/status/history/")
    with time_machine.travel(end_of_november + dt.timedelta(minutes=2), tick=False):
        december = client.get("/status/history/")
    assert "December 2026" not in november.content.decode()
    assert "December 2026" in december.content.decode()
    assert december["ETag"] != november["ETag"]


def test_a_release_leaves_releases_ics_ninety_days_after_its_start(client, make_release, engineer):
    services.release_announce(release=make_release(version="9.9.9"), by=engineer, at=NOW)
    gone = WED_WINDOW + dt.timedelta(days=90)
    with time_machine.travel(gone - dt.timedelta(minutes=1), tick=False):
        client.get("/calendar/releases.ics")
        before = client.get("/calendar/releases.ics")
    with time_machine.travel(gone + dt.timedelta(minutes=1), tick=False):
        after = client.get("/calendar/releases.ics")
    assert "9.9.9" in before.content.decode()
    assert "9.9.9" not in after.content.decode()


def test_every_change_to_a_keys_rights_tells_the_next_request(engineer, make_release):
    """Superuser granted and taken, the role's group renamed or emptied, the key or its user
    deleted through a queryset: each is seen by the very next request of the same process."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts import authentication
    from accounts.models import ApiKey
    from accounts.roles import RELEASE_ENGINEERS
    from accounts.services import apikey_create
    from tests.accounts.test_api_keys import bearer

    authentication._resolved.clear()
    _, plaintext = apikey_create(user=engineer, name="pipeline")
    client = bearer(plaintext)
    group = Group.objects.get(name=RELEASE_ENGINEERS)
    assert client.get("/api/v1/releases/").status_code == 200
    group.name = "Former engineers"
    group.save()
    assert client.get("/api/v1/releases/").status_code == 403
    group.name = RELEASE_ENGINEERS
    group.save()
    assert client.get("/api/v1/releases/").status_code == 200
    group.user_set.clear()
    assert client.get("/api/v1/releases/").status_code == 403
    engineer.is_superuser = True
    engineer.save()
    assert client.get("/api/v1/releases/").status_code == 200
    get_user_model().objects.filter(pk=engineer.pk).update(is_superuser=False)  # no signal
    from accounts.models import credentials_changed

    credentials_changed()  # what the architecture asks of a bulk update
    assert client.get("/api/v1/releases/").status_code == 403
    ApiKey.objects.filter(user=engineer).delete()
    assert client.get("/api/v1/releases/").status_code == 401
    _, plaintext = apikey_create(user=engineer, name="pipeline 2")
    client = bearer(plaintext)
    assert client.get("/api/v1/policies/").status_code == 200
    get_user_model().objects.filter(pk=engineer.pk).delete()
    assert client.get("/api/v1/policies/").status_code == 401


def _through_middleware(request):
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.messages.middleware import MessageMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware

    SessionMiddleware(lambda r: None).process_request(request)
    AuthenticationMiddleware(lambda r: None).process_request(request)
    MessageMiddleware(lambda r: None).process_request(request)
    return request


@pytest.mark.parametrize("shows", ["user", "csrf", "cookie", "private"])
def test_a_page_that_shows_its_reader_anything_of_theirs_is_never_kept(engineer, shows):
    """A careless change to a public page (a desk link for staff, a form with a CSRF token, a
    cookie, Cache-Control: private) must not put one reader's page in the shared cache."""
    from django.http import HttpResponse
    from django.middleware.csrf import get_token
    from django.test import Client, RequestFactory

    from notes.http import shared_page

    @shared_page(lambda request: '"one-etag"')
    def page(request):
        response = HttpResponse("hello")
        if shows == "user":
            response = HttpResponse(f"hello {request.user.username}")
        elif shows == "csrf":
            response = HttpResponse(f"hello {get_token(request)}")
        elif shows == "cookie":
            response.set_cookie("seen", "erin")
        else:
            response["Cache-Control"] = "private"
        return response

    from django.core.cache import cache

    from notes.http import page_key

    desk = Client()
    desk.force_login(engineer)
    session = f"sessionid={desk.cookies['sessionid'].value}"
    seen = [
        page(_through_middleware(RequestFactory().get("/page/", HTTP_COOKIE=session)))
        for _ in range(3)
    ]
    assert cache.get(page_key('"one-etag"')) is None
    anonymous = page(_through_middleware(RequestFactory().get("/page/")))
    assert "erin" not in anonymous.content.decode()
    assert anonymous.content not in {r.content for r in seen} or shows in ("cookie", "private")
    if shows == "cookie":
        assert anonymous.cookies["seen"].value == "erin"


def test_a_good_gate_call_is_answered_above_the_view_and_a_bad_one_reaches_it(
    api_component, monkeypatch
):
    """releases.middleware answers a good GET before sessions, CSRF, the URL resolver and the
    view; what it declines (here a bad instant) goes on to GateView."""
    from releases.api import GateView

    reached = []
    real_get = GateView.get
    monkeypatch.setattr(
        GateView, "get", lambda self, request: reached.append(1) or real_get(self, request)
    )
    with time_machine.travel(NOW, tick=False):
        good = APIClient().get("/api/v1/gate/?component=items-api")
        assert (good.status_code, reached) == (200, [])
        assert "sessionid" not in good.cookies and "Cookie" not in good.headers.get("Vary", "")
        bad = APIClient().get("/api/v1/gate/?component=items-api&at=soon")
    assert (bad.status_code, reached) == (400, [1])
    assert bad["Content-Type"] == "application/problem+json"


def test_a_release_engineer_signed_in_in_a_browser_gets_what_a_pipeline_gets(
    client, engineer, api_component, monkeypatch
):
    """The gate reads API keys only: a desk session (its cookies) changes nothing in the
    answer. A request with cookies goes to GateView (its middleware may mend them); one
    without is answered above it, with the same body."""
    from releases.api import GateView

    reached = []
    real_get = GateView.get
    monkeypatch.setattr(GateView, "get", lambda self, r: reached.append(1) or real_get(self, r))
    client.force_login(engineer)
    query = "/api/v1/gate/?component=items-api"
    with time_machine.travel(NOW, tick=False):
        signed_in = client.get(query)
        assert reached == [1]
        pipeline = APIClient().get(query)
    assert reached == [1]  # the pipeline's went no further than the middleware
    assert (signed_in.status_code, signed_in.content) == (pipeline.status_code, pipeline.content)
