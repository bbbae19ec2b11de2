"""/api/v1/notes/ and /api/v1/notices/: public reads, engineer writes, 304s, constant queries."""

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases import services
from tests.helpers import NOW, WED_WINDOW, utc

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def test_notes_are_public_aggregated_and_never_internal(anon_api, make_release, engineer):
    make_release(version="0.1.0", title="Planned only")
    services.release_announce(release=make_release(version="1.0.0"), by=engineer, at=NOW)
    # Announced on Monday, public when Wednesday's window opens (the guide: "as they occur").
    assert anon_api.get("/api/v1/notes/").json()["count"] == 0
    with time_machine.travel(WED_WINDOW, tick=False):
        response = anon_api.get("/api/v1/notes/", {"component": "items-api"})
    body = response.json()
    assert body["count"] == 1
    [day] = body["results"]
    assert day["date"] == "2026-12-02"
    [note] = day["releases"]
    assert (note["version"], note["shipped"]) == ("1.0.0", False)
    assert [g["type"] for g in note["items"]] == ["changed"]  # the internal "fixed" item is not
    assert "Typo in errors" not in response.content.decode()
    with time_machine.travel(WED_WINDOW, tick=False):
        again = anon_api.get(
            "/api/v1/notes/", {"component": "items-api"}, HTTP_IF_NONE_MATCH=response["ETag"]
        )
    assert again.status_code == 304


def test_notes_constant_queries(anon_api, make_release, engineer):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert anon_api.get("/api/v1/notes/").status_code == 200
        return len(ctx.captured_queries)

    services.release_announce(release=make_release(version="1.0.0"), by=engineer, at=NOW)
    with time_machine.travel(WED_WINDOW, tick=False):
        few = count()
    for i in range(10):
        services.release_announce(release=make_release(version=f"2.{i}.0"), by=engineer, at=NOW)
    with time_machine.travel(WED_WINDOW, tick=False):
        assert anon_api.get("/api/v1/notes/").json()["count"] == 11
        assert count() == few


def test_engineers_write_notices_and_drafts_stay_private(
    engineer_api, customer_api, anon_api, make_release
):
    release = make_release(
        version="10.0.0", impact="perceptible", scheduled_start=utc(2027, 1, 6, 8)
    )
    refused = customer_api.post("/api/v1/notices/", {"release": release.pk, "headline": "x"})
    assert refused.status_code == 403
    created = engineer_api.post("/api/v1/notices/", {"release": release.pk, "headline": "Keys"})
    assert created.status_code == 201, created.json()
    notice_id = created.json()["id"]
    assert anon_api.get(f"/api/v1/notices/{notice_id}/").status_code == 404
    incomplete = engineer_api.post(f"/api/v1/notices/{notice_id}/publish/")
    assert incomplete.status_code == 400
    assert "action_required" in incomplete.json()["errors"]
    engineer_api.patch(
        f"/api/v1/notices/{notice_id}/",
        {
            "description": "d",
            "tentative_start": "2027-01-06T00:00:00-08:00",
            "nature": "n",
            "action_required": "a",
            "benefits": "b",
        },
    )
    published = engineer_api.post(f"/api/v1/notices/{notice_id}/publish/")
    assert published.json()["status"] == "published"
    public = anon_api.get("/api/v1/notices/").json()["results"]
    assert [n["headline"] for n in public] == ["Keys"]
    moved = engineer_api.patch(
        f"/api/v1/notices/{notice_id}/", {"tentative_start": "2027-01-07T00:00:00-08:00"}
    )
    assert moved.json()["revisions"][0]["changes"][0].startswith("Date moved from")
