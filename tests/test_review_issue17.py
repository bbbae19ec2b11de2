"""Defects a hostile review of the fast paths (cursor pages, lib.freshness, the gate) found, one
test each; each failed before its fix."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.db import connection, transaction

from releases import selectors
from releases.models import Freeze, Release
from tests.helpers import WED_WINDOW, utc

RELEASES = "/api/v1/releases/"
OPEN = WED_WINDOW + dt.timedelta(minutes=30)  # inside Wednesday's window


def forged(ordering: list[str], values: list[str], backwards: bool = False) -> str:
    data = json.dumps({"o": ordering, "v": values, "b": backwards})  # ASCII: \ud800 escaped
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def _releases(engineer, component, n: int) -> list[int]:
    for i in range(n):
        Release.objects.create(
            component=component, version=f"1.{i}.0", title=f"Release {i}", owner=engineer,
            scheduled_start=WED_WINDOW + dt.timedelta(days=i), expected_duration_minutes=60,
        )  # fmt: skip
    return list(Release.objects.order_by("-scheduled_start", "-id").values_list("id", flat=True))


# 1. A forged cursor whose value is a lone surrogate (valid JSON: "\ud800") passes _decode and
#    _position (CharField.to_python keeps it) and reaches the driver, which cannot encode it:
#    UnicodeEncodeError, a 500, on SQLite and PostgreSQL alike.
@pytest.mark.django_db
@pytest.mark.parametrize("ordering", ["version", "-state"])
def test_a_cursor_holding_a_lone_surrogate_is_a_400_not_a_500(
    engineer, engineer_api, api_component, ordering
):
    _releases(engineer, api_component, 2)
    field = ordering.lstrip("-")
    order = [ordering, "-id" if ordering.startswith("-") else "id"]
    cursor = forged(order, ["\ud800", "1"])
    answer = engineer_api.get(RELEASES, {"ordering": ordering, "cursor": cursor})
    assert answer.status_code == 400, field
    assert "cursor" in answer.json()["errors"]


# 2. An empty page's way back starts *after* the row the cursor named, so that row is skipped:
#    a client that followed `next` (the rows beyond were deleted, or left its filter, e.g.
#    ?state=planned while they were announced) and then `previous` never sees the last row of
#    the page it came from. Same for an empty backwards page's `next` (``here``).
@pytest.mark.django_db
def test_previous_from_an_empty_page_leads_back_to_the_page_it_came_from(
    engineer, engineer_api, api_component
):
    ids = _releases(engineer, api_component, 10)
    first = engineer_api.get(RELEASES, {"page_size": 5}).json()
    assert [r["id"] for r in first["results"]] == ids[:5]
    Release.objects.filter(pk__in=ids[5:]).delete()
    empty = engineer_api.get(first["next"]).json()
    assert empty["results"] == [] and empty["previous"]
    back = engineer_api.get(empty["previous"]).json()
    assert [r["id"] for r in back["results"]] == ids[:5]  # is ids[:4]: ids[4] skipped


# 3. lib.freshness only refuses to remember inside ``atomic`` (in_atomic_block). A transaction
#    opened with transaction.set_autocommit(False) (a command, a script) is not seen: what it
#    read of its own uncommitted writes is remembered, the rollback leaves total_changes and
#    data_version as they were, and the thread keeps answering from data that never existed.
#    Here: a freeze deleted then rolled back; the gate keeps allowing deploys through it.
#    Fix: also skip when ``not db.get_autocommit()`` or ``raw.in_transaction``.
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "sqlite", reason="lib.freshness remembers on SQLite only")
def test_a_read_inside_a_manual_transaction_is_not_kept_after_its_rollback(api_component):
    Freeze.objects.create(reason="Incident", starts_at=utc(2026, 12, 1), ends_at=utc(2026, 12, 3))

    def allowed() -> bool:
        calendar, exists = selectors.window_calendar_for(api_component.slug)
        assert exists
        return calendar.decide_now(OPEN, api_component.slug).allowed

    assert not allowed()
    transaction.set_autocommit(False)
    try:
        Freeze.objects.all().delete()  # moves the rules token, uncommitted
        assert allowed()  # the transaction's own view: fine
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)
    assert Freeze.objects.exists()
    assert not allowed()  # still "allow": the rolled-back token was remembered


# 4. KeysetPagination is the ReleaseViewSet's, so the release timeline
#    (/api/v1/releases/{id}/events/, which calls self.paginate_queryset) silently became a
#    cursor list too: its first page lost `count` (the convention of every other list, and
#    what it answered before feed44f). Only the release list was meant to change.
@pytest.mark.django_db
def test_the_release_timeline_still_counts_its_events(engineer, engineer_api, api_component):
    release_id = engineer_api.post(
        RELEASES,
        {"component": api_component.slug, "version": "9.0.0", "title": "T",
         "scheduled_start": "2026-12-02T08:00:00Z"},
        format="json",
    ).json()["id"]  # fmt: skip
    body = engineer_api.get(f"{RELEASES}{release_id}/events/").json()
    assert body["results"]
    assert "count" in body


# 5. The rules revision row gone (a database flushed since it was migrated): the gate read
#    uuid.UUID(None), a 500. It comes back, as the credentials revision does.
@pytest.mark.django_db
def test_the_gate_answers_when_the_rules_revision_row_is_gone(api_component):
    from rest_framework.test import APIClient

    from releases.models import RulesRevision

    RulesRevision.objects.all().delete()
    answer = APIClient().get("/api/v1/gate/", {"component": "items-api"})
    assert answer.status_code == 200 and answer.json()["decision"] in ("allow", "deny")
    assert RulesRevision.objects.filter(pk=1).exists()
