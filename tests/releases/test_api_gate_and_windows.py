import datetime as dt

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.permissions import PublicThrottle
from releases.models import Freeze

pytestmark = pytest.mark.django_db

GATE = "/api/v1/gate/"
WINDOWS = "/api/v1/windows/"


def test_gate_allows_inside_the_default_window_with_window_next_window_and_trace(
    anon_api, api_component
):
    # Thursday 2026-11-26 01:00 PST.
    response = anon_api.get(GATE, {"component": "items-api", "at": "2026-11-26T09:00:00Z"})
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] == "allow"
    assert body["reason"] == "in_window"
    assert body["window"] == {"start": "2026-11-26T08:00:00Z", "end": "2026-11-26T11:00:00Z"}
    assert body["next_window"] == {"start": "2026-11-27T08:00:00Z", "end": "2026-11-27T11:00:00Z"}
    assert [(t["kind"], t["name"], t["verdict"]) for t in body["trace"]] == [
        ("policy", "Regular release windows", "open")
    ]


def test_gate_denies_outside_and_names_the_next_opening(anon_api, api_component):
    # Monday 2026-11-23 10:00 PST.
    body = anon_api.get(GATE, {"component": "items-api", "at": "2026-11-23T10:00:00-08:00"}).json()
    assert (body["decision"], body["reason"], body["window"]) == ("deny", "outside_window", None)
    assert body["next_window"]["start"] == "2026-11-25T08:00:00Z"
    assert "2026-11-25 08:00 UTC" in body["detail"]


def test_gate_denies_inside_a_freeze_and_says_which(anon_api, api_component):
    Freeze.objects.create(
        reason="Thanksgiving freeze",
        starts_at=dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
    )
    body = anon_api.get(GATE, {"component": "items-api", "at": "2026-11-26T09:00:00Z"}).json()
    assert (body["decision"], body["reason"]) == ("deny", "frozen")
    assert "Thanksgiving freeze" in body["detail"]
    assert {t["verdict"] for t in body["trace"]} == {"open", "frozen"}
    assert body["next_window"]["start"] == "2026-12-02T08:00:00Z"


@time_machine.travel(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC), tick=False)
def test_gate_at_defaults_to_now(anon_api, api_component):
    body = anon_api.get(GATE, {"component": "items-api"}).json()
    assert body["at"] == "2026-11-27T09:30:00Z"
    assert body["decision"] == "allow"


def test_gate_accepts_a_plus_offset_that_arrived_as_a_space(anon_api, api_component):
    # An unencoded "+01:00" in a query string is decoded as " 01:00".
    response = anon_api.get(f"{GATE}?component=items-api&at=2026-11-26T10:00:00+01:00")
    assert response.json()["at"] == "2026-11-26T09:00:00Z"


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        (
            {"component": "nope", "at": "2026-11-26T09:00:00Z"},
            "component",
            "Unknown component 'nope'",
        ),
        ({"at": "2026-11-26T09:00:00Z"}, "component", "required"),
        ({"release": "99999"}, "release", "Unknown release 99999."),
        ({"component": "items-api", "at": "2026-11-26T09:00:00"}, "at", "no UTC offset"),
        ({"component": "items-api", "at": "next tuesday"}, "at", "not an ISO 8601"),
        # A misspelt `at` would otherwise be answered for now.
        ({"component": "items-api", "when": "2026-11-26T09:00:00Z"}, "when", "no such parameter"),
        ({"component": "items-api", "duration": "90m"}, "duration", "whole minutes, 1 to 10080"),
        ({"component": "items-api", "duration": "0"}, "duration", "whole minutes"),
        ({"component": "items-api", "duration": "10081"}, "duration", "whole minutes"),
        ({"component": "items-api", "duration": "9" * 5000}, "duration", "whole minutes"),
    ],
)
def test_gate_bad_input_is_a_problem_naming_the_parameter(
    anon_api, api_component, params, field, fragment
):
    response = anon_api.get(GATE, params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and body["type"].endswith("validation-error")
    assert fragment in " ".join(body["errors"][field])
    assert list(body["errors"]) == [field]  # only what is wrong


def test_gate_with_a_duration_allows_only_a_deploy_that_finishes_inside_the_window(
    anon_api, api_component
):
    # Thursday 2026-11-26 02:00 PST: the window closes at 03:00 PST (11:00 UTC).
    ask = {"component": "items-api", "at": "2026-11-26T10:00:00Z"}
    assert anon_api.get(GATE, {**ask, "duration": "60"}).json()["decision"] == "allow"
    body = anon_api.get(GATE, {**ask, "duration": "61"}).json()
    assert (body["decision"], body["reason"]) == ("deny", "does_not_fit")
    assert "closes at Thu 26 Nov 2026 03:00 PST (2026-11-26 11:00 UTC)" in body["detail"]
    assert body["next_window"]["start"] == "2026-11-27T08:00:00Z"
    # A deploy longer than every window is told so, not sent to a window it cannot fit.
    week = anon_api.get(GATE, {**ask, "duration": "10080"}).json()
    assert (week["reason"], week["next_window"]) == ("does_not_fit", None)
    assert week["detail"].endswith("No window in the next five years lasts 7 d.")
    # The fast path (no cookie) and the view answer alike.
    assert anon_api.get(GATE, {**ask, "duration": "61"}, HTTP_COOKIE="a=b").json() == body


def test_gate_takes_a_release_or_a_duration_not_both(engineer_api, make_release):
    release = make_release()
    answer = engineer_api.get(GATE, {"release": release.pk, "duration": "30"})
    assert answer.status_code == 400
    assert "its own expected duration" in answer.json()["errors"]["duration"][0]


def test_windows_lists_the_windows_in_a_range_in_utc(anon_api, api_component):
    response = anon_api.get(
        WINDOWS,
        {"component": "items-api", "start": "2026-10-28T00:00:00Z", "end": "2026-11-05T00:00:00Z"},
    )
    starts = [w["start"] for w in response.json()["results"]]
    assert starts == [
        "2026-10-28T07:00:00Z",
        "2026-10-29T07:00:00Z",
        "2026-10-30T07:00:00Z",
        "2026-11-04T08:00:00Z",
    ]
    assert {w["policy"] for w in response.json()["results"]} == {1}


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"start": "2026-01-01T00:00:00Z", "end": "2027-01-03T00:00:00Z"}, "end", "366 days"),
        (
            {"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "end",
            "after the start",
        ),
        ({"start": "2026-01-01T00:00:00", "end": "2026-02-01T00:00:00Z"}, "start", "no UTC offset"),
        ({"start": "yesterday", "end": "2026-02-01T00:00:00Z"}, "start", "not an ISO 8601"),
    ],
)
def test_windows_bad_range_is_a_400_that_says_which(
    anon_api, api_component, params, field, fragment
):
    response = anon_api.get(WINDOWS, {"component": "items-api", **params})
    assert response.status_code == 400
    assert fragment in " ".join(response.json()["errors"][field])


def test_windows_unknown_component_is_a_400(anon_api, db):
    response = anon_api.get(
        WINDOWS,
        {"component": "ghost", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
    )
    assert response.status_code == 400
    assert response.json()["errors"]["component"] == ["Unknown component 'ghost'."]


def test_public_endpoints_throttle_anonymous_clients_but_not_api_keys(
    monkeypatch, api_component, engineer_api
):
    monkeypatch.setattr(PublicThrottle, "THROTTLE_RATES", {"public": "2/minute"})
    anon = APIClient(REMOTE_ADDR="203.0.113.7")  # its own throttle bucket
    params = {"component": "items-api", "at": "2026-11-26T09:00:00Z"}
    codes = [anon.get(GATE, params).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    throttled = anon.get(GATE, params)
    assert throttled["Content-Type"] == "application/problem+json"
    assert int(throttled["Retry-After"]) > 0
    assert all(engineer_api.get(GATE, params).status_code == 200 for _ in range(4))


def test_gate_is_read_only(anon_api, api_component):
    response = anon_api.post(GATE, {"component": "items-api"})
    assert response.status_code == 405
    assert response.json()["title"] == "Method Not Allowed"


def test_throttle_counts_per_address_and_resets_in_the_next_window(monkeypatch, api_component):
    import time as clock

    monkeypatch.setattr(PublicThrottle, "THROTTLE_RATES", {"public": "1/minute"})
    now = [1_800_000_000.0]
    monkeypatch.setattr(clock, "time", lambda: now[0])
    first, second = APIClient(REMOTE_ADDR="198.51.100.1"), APIClient(REMOTE_ADDR="198.51.100.2")
    params = {"component": "items-api", "at": "2026-11-26T09:00:00Z"}
    assert first.get(GATE, params).status_code == 200
    assert first.get(GATE, params).status_code == 429
    assert second.get(GATE, params).status_code == 200  # another address, another count
    now[0] += 60
    assert first.get(GATE, params).status_code == 200
