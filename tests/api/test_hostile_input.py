"""Nothing a client sends or stores breaks a read: every bad input is a clear 4xx, and a row
stored before today's rules (or by another route) still reads everywhere."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from notes.models import AdvanceNotice
from releases.models import Component, Freeze, Release, ReleaseItem
from tests.helpers import NOW, store_rows_outside_the_range, utc

pytestmark = pytest.mark.django_db
RANGE = "Nightshift supports dates from 1970-01-01 up to 2199-12-31"
READS = [
    "/",
    "/releases/",
    "/notices/",
    "/feeds/releases.atom",
    "/feeds/notices.atom",
    "/calendar/releases.ics",
    "/calendar/windows.ics",
    "/api/v1/gate/?component=items-api",
    "/api/v1/windows/?component=items-api&start=2026-12-01T00:00:00Z&end=2027-01-01T00:00:00Z",
    "/api/v1/notes/",
    "/api/v1/notices/",
    "/api/v1/freezes/",
    "/api/v1/policies/",
]


def _no_read_fails(client, engineer_api, extra=()):
    for path in [*READS, *extra]:
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code)
    for path in ["/api/v1/releases/", "/api/v1/items/", "/api/v1/approval-requests/"]:
        assert engineer_api.get(path).status_code == 200, path


# --- 1. No stored row can make a read fail --------------------------------------------------------


def test_a_freeze_ending_in_9999_is_refused_and_one_stored_anyway_breaks_nothing(
    engineer_api, client, api_component, engineer
):
    refused = engineer_api.post(
        "/api/v1/freezes/",
        {
            "reason": "Forever",
            "starts_at": "2026-12-01T00:00:00Z",
            "ends_at": "9999-12-31T00:00:00Z",
        },
    )
    assert refused.status_code == 400
    assert RANGE in refused.json()["errors"]["ends_at"][0]
    assert not Freeze.objects.exists()
    # Rows from before the range existed, or written by a script:
    Freeze.objects.create(
        reason="Ancient", starts_at=dt.datetime(1, 1, 1, tzinfo=dt.UTC), ends_at=utc(2026, 1, 1)
    )
    store_rows_outside_the_range(api_component, engineer)
    client.force_login(engineer)
    _no_read_fails(client, engineer_api, ["/admin/releases/release/", "/admin/releases/freeze/"])
    gate = client.get("/api/v1/gate/?component=items-api").json()
    assert (gate["decision"], gate["reason"]) == ("deny", "frozen"), gate


@pytest.mark.parametrize("year", ["0001", "9999"])
def test_every_instant_input_outside_the_range_is_a_400(
    year, engineer_api, anon_api, make_release, engineer
):
    instant = f"{year}-06-01T00:00:00Z"
    release = make_release(kind="exceptional", scheduled_start=utc(2026, 12, 1, 14))
    perceptible = make_release(impact="perceptible", scheduled_start=utc(2027, 1, 6, 8))
    cases = [
        (anon_api.get, "/api/v1/gate/", {"component": "items-api", "at": instant}, "at"),
        (
            anon_api.get,
            "/api/v1/windows/",
            {"component": "items-api", "start": instant, "end": "2026-01-01T00:00:00Z"},
            "start",
        ),
        (anon_api.get, "/api/v1/notes/", {"start": f"{year}-06-01"}, "start"),
        (anon_api.get, "/api/v1/notes/", {"end": f"{year}-12-31"}, "end"),
        (
            engineer_api.post,
            "/api/v1/releases/",
            {
                "component": "items-api",
                "version": "7.0.0",
                "title": "x",
                "scheduled_start": instant,
            },
            "scheduled_start",
        ),
        (
            engineer_api.post,
            f"/api/v1/releases/{release.pk}/approval-requests/",
            {"justification": "x", "slot_start": instant, "slot_end": "2026-12-01T16:00:00Z"},
            "slot_start",
        ),
        (engineer_api.post, "/api/v1/freezes/", {"reason": "x", "starts_at": instant}, "starts_at"),
        (
            engineer_api.post,
            "/api/v1/notices/",
            {"release": perceptible.pk, "headline": "x", "tentative_start": instant},
            "tentative_start",
        ),
        (
            engineer_api.post,
            "/api/v1/policies/",
            {
                "name": "x",
                "rrule": "FREQ=DAILY",
                "start_time": "00:00",
                "duration_minutes": 60,
                "effective_from": f"{year}-06-01",
            },
            "effective_from",
        ),
    ]
    for call, path, data, field in cases:
        response = call(path, data)
        assert response.status_code == 400, (path, response.status_code)
        assert response["Content-Type"] == "application/problem+json"
        assert field in response.json()["errors"], (path, response.json())
    assert Release.objects.count() == 2 and not Freeze.objects.exists()


def test_durations_beyond_any_window_are_refused(engineer_api, make_release):
    huge = 1_500_000_000_000
    release = engineer_api.post(
        "/api/v1/releases/",
        {
            "component": "items-api", "version": "7.0.0", "title": "x",
            "scheduled_start": "2026-12-02T08:00:00Z", "expected_duration_minutes": huge,
        },
    )  # fmt: skip
    assert release.status_code == 400 and "expected_duration_minutes" in release.json()["errors"]
    policy = engineer_api.post(
        "/api/v1/policies/",
        {
            "name": "x", "rrule": "FREQ=YEARLY", "start_time": "00:00",
            "duration_minutes": huge, "effective_from": "2026-01-01",
        },
    )  # fmt: skip
    assert policy.status_code == 400 and "duration_minutes" in policy.json()["errors"]


def test_a_freeze_without_an_end_lasts_until_lifted(engineer_api, anon_api, api_component):
    created = engineer_api.post(
        "/api/v1/freezes/", {"reason": "Incident review", "starts_at": "2026-12-01T00:00:00Z"}
    )
    assert created.status_code == 201 and created.json()["ends_at"] is None
    later = anon_api.get(
        "/api/v1/gate/", {"component": "items-api", "at": "2199-12-04T08:30:00Z"}
    ).json()
    assert later["reason"] == "frozen"


# --- 2. Every input has a clear answer ------------------------------------------------------------


def test_versions_are_refused_outside_their_character_set_and_stored_ones_still_route(
    engineer_api, client, make_release, engineer
):
    for bad in ("1/2", "../x", "1.0 beta", "-1", "1\n0"):
        response = engineer_api.post(
            "/api/v1/releases/",
            {"component": "items-api", "version": bad, "title": "x",
             "scheduled_start": "2026-12-02T08:00:00Z"},
        )  # fmt: skip
        assert response.status_code == 400 and "version" in response.json()["errors"], bad
    odd = make_release(version="2.0.0")
    Release.objects.filter(pk=odd.pk).update(version="2.0/rc 1", state="released",
                                             public_from=utc(2026, 1, 1))  # fmt: skip
    for path in ("/", "/releases/", "/feeds/releases.atom", "/calendar/releases.ics"):
        assert client.get(path).status_code == 200, path
    assert client.get("/releases/items-api/2.0/rc%201/").status_code == 200


def test_control_characters_are_refused_in_single_line_fields(engineer_api, make_release):
    release = make_release(impact="perceptible", scheduled_start=utc(2027, 1, 6, 8))
    response = engineer_api.post(
        "/api/v1/notices/", {"release": release.pk, "headline": "Keys\r\nBcc: all@example.com"}
    )
    assert response.status_code == 400
    assert "one line" in response.json()["errors"]["headline"][0]
    assert not AdvanceNotice.objects.exists()
    titled = engineer_api.post("/api/v1/items/", {"release": release.pk, "title": "a\x07b"})
    assert titled.status_code == 400 and "title" in titled.json()["errors"]


def test_a_stored_crlf_headline_still_reaches_key_accounts(
    make_release, engineer, django_capture_on_commit_callbacks, mailoutbox
):
    from notes import services as notices
    from notifications.models import Contact, CustomerAccount

    account = CustomerAccount.objects.create(name="Globex", tier="key")
    Contact.objects.create(account=account, name="Hank", email="hank@globex.example")
    release = make_release(impact="perceptible", scheduled_start=utc(2027, 1, 6, 8))
    notice = notices.notice_create(
        release=release, by=engineer, at=NOW, headline="x", description="d",
        tentative_start=release.scheduled_start, nature="n", action_required="a", benefits="b",
    )  # fmt: skip
    AdvanceNotice.objects.filter(pk=notice.pk).update(headline="Keys\r\nBcc: all@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        notices.notice_publish(notice=notice, by=engineer, at=NOW)
    [sent] = mailoutbox
    assert sent.subject == "[Nightshift] Advance notice: Keys Bcc: all@example.com"
    assert sent.to == ["hank@globex.example"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/gate/?component=items%00api",
        "/api/v1/releases/?component=a%00",
        "/api/v1/components/x%00y/",
        "/releases/?component=a%00",
    ],
)
def test_a_nul_anywhere_in_the_address_is_a_400(engineer_api, api_component, path):
    response = engineer_api.get(path)
    assert response.status_code == 400
    assert "control character" in response.content.decode()


def test_nul_in_a_body_is_a_400_not_a_database_error(engineer_api, api_component):
    response = engineer_api.post(
        "/api/v1/components/", {"slug": "ok", "name": "Bad\x00name", "kind": "api"}
    )
    assert response.status_code == 400 and "NUL" in response.json()["errors"]["body"][0]
    assert not Component.objects.filter(slug="ok").exists()
    owner = engineer_api.post(
        "/api/v1/releases/",
        {"component": "items-api", "version": "1.0.0", "title": "x", "owner": "a\x00b",
         "scheduled_start": "2026-12-02T08:15:00Z"},
    )  # fmt: skip
    assert owner.status_code == 400  # a lookup by user name never reaches the database
    form = engineer_api.post("/api/v1/components/", "slug=ok&name=a%00b&kind=api",
                             content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert form.status_code == 400 and "NUL" in form.json()["errors"]["body"][0]
    multipart = engineer_api.post(
        "/api/v1/components/", {"slug": "ok", "name": "a\x00b", "kind": "api"}, format="multipart"
    )
    assert multipart.status_code == 400 and "NUL" in multipart.json()["errors"]["body"][0]


def test_an_item_without_its_release_is_a_400(engineer_api):
    response = engineer_api.post("/api/v1/items/", {"title": "Orphan"})
    assert response.status_code == 400
    assert response.json()["errors"]["release"] == ["This field is required."]


def test_deleting_a_component_with_releases_is_a_409_saying_why(engineer_api, make_release):
    make_release()
    response = engineer_api.delete("/api/v1/components/items-api/")
    assert response.status_code == 409
    body = response.json()
    assert body["reasons"][0]["code"] == "protected" and "releases" in body["detail"]
    assert Component.objects.filter(slug="items-api").exists()


def test_json_nested_five_thousand_deep_is_a_400(engineer_api):
    body = "[" * 5000 + "]" * 5000
    response = engineer_api.post("/api/v1/components/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"]["body"][0].startswith("JSON parse error")


@pytest.mark.parametrize(
    "raw", [b'{"slug": ', b'{"slug": "\xff\xfe"}', b"\x00\x01"], ids=["bad", "utf8", "binary"]
)
def test_a_body_that_is_not_json_is_a_400_with_errors(engineer_api, raw):
    response = engineer_api.generic(
        "POST", "/api/v1/components/", raw, content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "urn:nightshift:problem:parse-error" and body["errors"]["body"]


def test_a_body_over_the_limit_is_a_413_before_anything_reads_it(engineer_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = engineer_api.post(
        "/api/v1/components/", json.dumps({"name": "x" * 2000}), content_type="application/json"
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"


def test_an_unsafe_method_on_an_unknown_api_path_is_a_problem_404(client, engineer):
    client.force_login(engineer)  # a session: Django would ask for a CSRF token here
    for method in ("post", "put", "delete"):
        response = getattr(client, method)("/api/v1/nothing-here/")
        assert response.status_code == 404, method
        assert response["Content-Type"] == "application/problem+json"


def test_a_session_without_its_csrf_token_gets_a_problem_403(engineer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    response = client.post("/api/v1/components/", {"slug": "x", "name": "X", "kind": "api"})
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "CSRF" in response.json()["detail"]


# --- 3. The API does what its OpenAPI document says -----------------------------------------------


@pytest.fixture
def schema(client):
    import yaml

    return yaml.safe_load(client.get("/api/schema/").content)


def test_the_gate_answer_has_release_fields_only_when_asked(anon_api, api_component, schema):
    body = anon_api.get("/api/v1/gate/", {"component": "items-api"}).json()
    assert "release" not in body and "reasons" not in body
    documented = schema["components"]["schemas"]["ReleaseDecision"]
    assert "release" not in documented["required"] and "reasons" not in documented["required"]


def test_nested_errors_come_as_paths_to_lists_of_sentences(engineer_api, api_component):
    response = engineer_api.post(
        "/api/v1/releases/",
        {
            "component": "items-api", "version": "7.0.0", "title": "x",
            "scheduled_start": "2026-12-02T08:00:00Z",
            "items": [{"title": "ok"}, {"title": "bad", "type": "nonsense"}],
        },
    )  # fmt: skip
    errors = response.json()["errors"]
    assert list(errors) == ["items.1.type"]
    assert all(isinstance(m, str) for m in errors["items.1.type"])


def test_wall_clock_times_are_documented_by_pattern_not_format(schema):
    start_time = schema["components"]["schemas"]["PolicyWrite"]["properties"]["start_time"]
    assert "format" not in start_time and start_time["pattern"].startswith("^")


@pytest.mark.parametrize("path", ["/api/v1/releases/", "/api/v1/notes/", "/api/v1/notices/"])
def test_pages_are_whole_numbers_and_past_the_last_is_a_documented_404(path, engineer_api, schema):
    for bad in ("0", "-1", "x", "1.5"):
        response = engineer_api.get(path, {"page": bad})
        assert response.status_code == 400, (path, bad)
        assert "page" in response.json()["errors"]
    assert engineer_api.get(path, {"page": "99"}).status_code == 404
    assert "404" in schema["paths"][path]["get"]["responses"]


def test_public_notices_are_documented_as_readable_without_a_key(schema):
    listing = schema["paths"]["/api/v1/notices/"]["get"]
    assert {} in listing["security"]
    assert {} not in schema["paths"]["/api/v1/notices/"]["post"]["security"]


def test_reject_documents_and_requires_its_comment(schema, engineer_api):
    operation = schema["paths"]["/api/v1/approval-requests/{id}/reject/"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert body["required"] == ["comment"]


def test_notice_state_conflicts_are_409s_like_releases(engineer_api, make_release, engineer):
    from notes import services as notices

    release = make_release(impact="perceptible", scheduled_start=utc(2027, 1, 6, 8))
    notice = notices.notice_create(release=release, by=engineer, at=NOW, headline="x")
    response = engineer_api.post(f"/api/v1/notices/{notice.pk}/withdraw/")
    assert response.status_code == 409
    assert response.json()["reasons"][0]["code"] == "invalid_state"


def test_an_item_cannot_be_marked_shipped_before_its_release_starts(engineer_api, make_release):
    release = make_release()
    response = engineer_api.post(
        "/api/v1/items/", {"release": release.pk, "title": "x", "shipped": True}
    )
    assert response.status_code == 400 and "shipped" in response.json()["errors"]
    assert not ReleaseItem.objects.filter(shipped=True).exists()


def test_unknown_filter_values_are_refused_not_ignored(engineer_api, make_release):
    make_release()
    ordering = engineer_api.get("/api/v1/releases/", {"ordering": "password"})
    assert (
        ordering.status_code == 400
        and "Cannot order by" in ordering.json()["errors"]["ordering"][0]
    )
    component = engineer_api.get("/api/v1/releases/", {"component": "ghost"})
    assert component.status_code == 400 and "component" in component.json()["errors"]
    state = engineer_api.get("/api/v1/releases/", {"state": "shipped-ish"})
    assert state.status_code == 400 and "state" in state.json()["errors"]
    assert engineer_api.get("/api/v1/releases/", {"ordering": "-version"}).status_code == 200
    assert timezone.now()  # the clock is real here
