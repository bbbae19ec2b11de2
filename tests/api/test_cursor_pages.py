"""The release list pages by cursor: every release once, in order, however the list moves
while a client walks it, in a constant number of queries and without a count; by number only
for the first pages. A cursor a client made up is a 400 that says so, never a 500."""

from __future__ import annotations

import base64
import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.pagination import KeysetPagination
from releases.models import Release
from tests.helpers import WED_WINDOW

pytestmark = pytest.mark.django_db
RELEASES = "/api/v1/releases/"


@pytest.fixture
def many(engineer, api_component, client_component):
    """23 releases; starts repeat three at a time, so ties must be broken by id."""
    Release.objects.bulk_create(
        Release(
            component=api_component if n % 2 else client_component,
            version=f"{n % 4}.{n}.0",
            title=f"Release {n}",
            scheduled_start=WED_WINDOW + dt.timedelta(days=7 * (n // 3)),
            expected_duration_minutes=60,
            state=["planned", "announced", "verified"][n % 3],
            owner=engineer,
        )
        for n in range(23)
    )
    return list(Release.objects.order_by("-scheduled_start", "-id").values_list("id", flat=True))


def walk(api, url, params=None, link="next"):
    """Every page from ``url`` on, following ``link``: the ids of each page."""
    pages = []
    answer = api.get(url, params)
    while True:
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert "count" not in body  # counting a million rows costs more than the page
        pages.append([release["id"] for release in body["results"]])
        if not body[link]:
            return pages, body
        answer = api.get(body[link])


def test_next_walks_every_release_once_in_order_and_previous_walks_back(many, engineer_api):
    pages, last = walk(engineer_api, RELEASES, {"page_size": 5})
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [i for page in pages for i in page] == many
    assert last["next"] is None
    back, first = walk(engineer_api, last["previous"], link="previous")
    assert back == pages[-2::-1]  # the same pages, from the one before the last to the first
    assert first["previous"] is None and first["next"]


@pytest.mark.parametrize("ordering", ["state", "-version", "created_at,-state", "scheduled_start"])
def test_every_ordering_walks_the_same_rows_as_numbered_pages(many, engineer_api, ordering):
    params = {"page_size": 4, "ordering": ordering}
    pages, _ = walk(engineer_api, RELEASES, params)
    numbered = engineer_api.get(RELEASES, {**params, "page_size": 200, "page": 1}).json()
    assert numbered["count"] == 23
    assert [i for page in pages for i in page] == [r["id"] for r in numbered["results"]]


def test_filters_stay_in_the_links(many, engineer_api, api_component):
    params = {"page_size": 2, "component": api_component.slug, "state": "verified"}
    pages, _ = walk(engineer_api, RELEASES, params)
    expected = Release.objects.filter(component=api_component, state="verified")
    assert [i for page in pages for i in page] == list(
        expected.order_by("-scheduled_start", "-id").values_list("id", flat=True)
    )
    assert len(pages) > 1


def test_releases_added_or_moved_while_walking_are_not_repeated_or_skipped(
    many, engineer_api, engineer, api_component
):
    first = engineer_api.get(RELEASES, {"page_size": 5}).json()
    # A newer release, and one of the next page's moved ahead of the cursor: neither shifts
    # what follows, as an offset would (one row repeated on the next page).
    Release.objects.create(
        component=api_component, version="9.9.9", title="New", owner=engineer,
        scheduled_start=WED_WINDOW + dt.timedelta(days=400), expected_duration_minutes=60,
    )  # fmt: skip
    moved = many[7]
    Release.objects.filter(pk=moved).update(scheduled_start=WED_WINDOW + dt.timedelta(days=500))
    second = engineer_api.get(first["next"]).json()
    rest = [r["id"] for r in second["results"]]
    assert rest == [i for i in many[5:11] if i != moved][:5]


def test_a_page_costs_the_same_queries_however_deep_and_never_counts(many, engineer_api):
    def queries(url, params=None):
        with CaptureQueriesContext(connection) as captured:
            body = engineer_api.get(url, params).json()
        sql = [q["sql"].upper() for q in captured.captured_queries]
        assert not any("COUNT(" in statement for statement in sql), sql
        return len(sql), body

    engineer_api.get(RELEASES)  # the key and the user, remembered from here on
    first, body = queries(RELEASES, {"page_size": 5})
    deeper, body = queries(body["next"])
    deepest, _ = queries(engineer_api.get(body["next"]).json()["next"])
    assert first == deeper == deepest


def test_numbered_pages_keep_the_count_and_hand_over_to_a_cursor_at_their_depth(
    many, engineer_api, monkeypatch
):
    monkeypatch.setattr(KeysetPagination, "max_depth", 10)
    page1 = engineer_api.get(RELEASES, {"page": 1, "page_size": 5}).json()
    assert page1["count"] == 23 and "page=2" in page1["next"]
    page2 = engineer_api.get(page1["next"]).json()
    assert "cursor=" in page2["next"] and "page=" not in page2["next"]
    page3 = engineer_api.get(page2["next"]).json()
    assert [r["id"] for r in page3["results"]] == many[10:15]
    refused = engineer_api.get(RELEASES, {"page": 3, "page_size": 5})
    assert refused.status_code == 400
    assert "reach 10 rows in" in refused.json()["errors"]["page"][0]
    last = engineer_api.get(RELEASES, {"page": "last", "page_size": 5})
    assert last.status_code == 400  # the last of five pages starts beyond the depth


def forged(**data) -> str:
    cursor = {"o": ["-scheduled_start", "-id"], "v": ["2026-12-02T08:00:00+00:00", "1"], "b": False}
    cursor.update(data)
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%%%",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        forged(v=["2026-12-02T08:00:00+00:00"]),  # a value short
        forged(v=["2026-12-02T08:00:00", "1"]),  # no offset
        forged(v=["0001-01-01T00:00:00+14:00", "1"]),  # before the year 1 in UTC
        forged(v=["9999-12-31T23:59:59-14:00", "1"]),  # after 9999 in UTC
        forged(v=["2026-12-02T08:00:00+00:00", str(2**70)]),  # an id no database holds
        forged(v=["2026-12-02T08:00:00+00:00", "one"]),
        forged(v=["", "1"]),
        forged(v=[None, "1"]),
        forged(v=["2026-12-02T08:00:00+00:00\x00", "1"]),
        forged(b="yes"),
        forged(o=["-version", "-id"]),  # another ordering's cursor
        "a" * 1001,
    ],
)
def test_a_cursor_the_list_did_not_give_out_is_a_400(many, engineer_api, cursor):
    answer = engineer_api.get(RELEASES, {"cursor": cursor})
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    assert "cursor" in answer.json()["errors"]


def test_a_cursor_for_another_ordering_says_so(many, engineer_api):
    answer = engineer_api.get(RELEASES, {"cursor": forged(o=["-version", "-id"])})
    assert "another ordering" in answer.json()["errors"]["cursor"][0]


def test_a_cursor_and_a_page_number_together_are_a_400(many, engineer_api):
    cursor = engineer_api.get(RELEASES, {"page_size": 5}).json()["next"]
    token = parse_qs(urlsplit(cursor).query)["cursor"][0]
    answer = engineer_api.get(RELEASES, {"cursor": token, "page": 2})
    assert answer.status_code == 400 and "not both" in answer.json()["errors"]["cursor"][0]


def test_a_forged_position_past_the_end_is_an_empty_page_that_leads_back(many, engineer_api):
    past = forged(v=["1990-01-01T00:00:00+00:00", "1"])
    body = engineer_api.get(RELEASES, {"cursor": past, "page_size": 5}).json()
    assert body["results"] == [] and body["next"] is None
    back = engineer_api.get(body["previous"]).json()
    assert [r["id"] for r in back["results"]] == many[-5:]  # the last five


def test_a_mistake_seen_in_the_browsable_api_is_a_page_and_for_a_client_problem_json(
    many, engineer
):
    """A release engineer following links in the browser who trips on a bad cursor reads the
    problem on the browsable API's page (it was served as problem+json, which browsers show
    as source text); a client asking for JSON still gets problem+json."""
    from django.test import Client

    browser = Client()
    browser.force_login(engineer)
    page = browser.get(RELEASES, {"cursor": "hello"}, HTTP_ACCEPT="text/html")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
    assert "not a cursor this list gave out" in page.content.decode()
    client = browser.get(RELEASES, {"cursor": "hello"}, HTTP_ACCEPT="application/json")
    assert client["Content-Type"] == "application/problem+json"
