"""A property: whatever sequence of writes the API accepts, every read still answers.

Hypothesis sends random writes through the API as a release engineer — rules at the edges of
the supported range, releases, items, transitions, notices, approvals — and after each sequence
every read endpoint, page, feed and calendar (and the desk's lists) must answer without a 5xx.
Most random writes are refused with a 4xx; those that are accepted are what this is about.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.api.test_hostile_input import READS

pytestmark = pytest.mark.django_db
EXAMPLES = int(os.environ.get("RANDOM_WRITES_EXAMPLES", "20"))

EDGES = [
    "1970-01-01T00:00:00Z",
    "1970-01-01T08:30:00-08:00",
    "2026-12-02T08:15:00Z",
    "2026-12-03T00:30:00-08:00",
    "2199-12-31T23:59:59Z",
    "2199-12-31T16:00:00-08:00",
]
instants = st.sampled_from(EDGES) | st.datetimes(
    dt.datetime(1970, 1, 2), dt.datetime(2199, 12, 30), timezones=st.just(dt.UTC)
).map(lambda d: d.isoformat())
dates = st.sampled_from(["1970-01-01", "2026-11-30", "2199-12-31"]) | st.dates(
    dt.date(1970, 1, 1), dt.date(2199, 12, 31)
).map(dt.date.isoformat)
texts = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=30)
release_ids = st.integers(1, 8)


@st.composite
def write(draw):
    kind = draw(
        st.sampled_from(
            ["component", "policy", "freeze", "release", "item", "transition", "notice", "ask"]
        )
    )
    if kind == "component":
        return (
            "post",
            "/api/v1/components/",
            {
                "slug": draw(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)),
                "name": draw(texts),
                "kind": draw(st.sampled_from(["api", "client", "infrastructure"])),
            },
        )
    if kind == "policy":
        return (
            "post",
            "/api/v1/policies/",
            {
                "name": draw(texts),
                "rrule": draw(
                    st.sampled_from(
                        ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=SU", "FREQ=YEARLY", "FREQ=MONTHLY"]
                    )
                ),
                "start_time": draw(st.sampled_from(["00:00", "02:30", "23:59"])),
                "duration_minutes": draw(st.integers(1, 600) | st.integers(1, 527040)),
                "zone": draw(st.sampled_from(["America/Los_Angeles", "Pacific/Kiritimati", "UTC"])),
                "effective_from": draw(dates),
                "effective_until": draw(st.none() | dates),
            },
        )
    if kind == "freeze":
        return (
            "post",
            "/api/v1/freezes/",
            {
                "reason": draw(texts),
                "starts_at": draw(instants),
                "ends_at": draw(st.none() | instants),
            },
        )
    if kind == "release":
        return (
            "post",
            "/api/v1/releases/",
            {
                "component": "items-api",
                "version": draw(st.from_regex(r"[0-9][0-9.a-z+-]{0,12}", fullmatch=True)),
                "title": draw(texts),
                "kind": draw(st.sampled_from(["regular", "exceptional", "exceptional"])),
                "impact": draw(st.sampled_from(["none", "perceptible"])),
                "scheduled_start": draw(st.sampled_from(["2026-12-02T08:15:00Z"]) | instants),
                "expected_duration_minutes": draw(st.integers(1, 10080)),
                "items": [{"title": draw(texts), "breaking": draw(st.booleans())}],
            },
        )
    if kind == "item":
        return (
            "post",
            "/api/v1/items/",
            {
                "release": draw(release_ids),
                "title": draw(texts),
                "breaking": draw(st.booleans()),
                "public": draw(st.booleans()),
            },
        )
    if kind == "transition":
        action = draw(st.sampled_from(["announce", "start", "complete", "verify", "cancel"]))
        return "post", f"/api/v1/releases/{draw(release_ids)}/{action}/", {"reason": "r"}
    if kind == "notice":
        return (
            "post",
            "/api/v1/notices/",
            {
                "release": draw(release_ids),
                "headline": draw(texts),
                "description": draw(texts),
                "tentative_start": draw(instants),
                "nature": "n",
                "action_required": "a",
                "benefits": "b",
            },
        )
    return (
        "post",
        f"/api/v1/releases/{draw(release_ids)}/approval-requests/",
        {
            "justification": draw(texts),
            "slot_start": draw(instants),
            "slot_end": draw(instants),
            "urgency": "critical",
        },
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(writes=st.lists(write(), min_size=1, max_size=10))
def test_no_accepted_write_can_make_a_read_fail(writes, engineer_api, client, engineer):
    from releases.models import Component

    Component.objects.get_or_create(slug="items-api", defaults={"name": "Items API", "kind": "api"})
    for method, path, data in writes:
        response = getattr(engineer_api, method)(path, data, format="json")
        assert response.status_code < 500, (path, data, response.content[:300])
        if path == "/api/v1/notices/" and response.status_code == 201:
            engineer_api.post(f"/api/v1/notices/{response.json()['id']}/publish/")
    client.force_login(engineer)
    admin = ["/admin/releases/release/", "/admin/releases/release/calendar/",
             "/admin/releases/freeze/", "/admin/releases/windowpolicy/",
             "/admin/approvals/approvalrequest/", "/admin/notes/advancenotice/"]  # fmt: skip
    for path in [*READS, *admin]:
        assert client.get(path).status_code < 500, path
    for path in ["/api/v1/releases/", "/api/v1/items/", "/api/v1/approval-requests/"]:
        assert engineer_api.get(path).status_code == 200, path
