"""The timeline reads as sentences, in the desk's zone, on the release's page and in the API."""

import datetime as dt

import pytest

from approvals import services as approvals
from releases import services, timeline
from tests.helpers import NOW, SLOT, WED_WINDOW, ask

pytestmark = pytest.mark.django_db
IN_WINDOW = WED_WINDOW + dt.timedelta(minutes=10)


def test_each_step_reads_as_a_sentence(make_release, engineer, manager, client):
    first = make_release(version="1.1.0")
    for step in (services.release_announce, services.release_start, services.release_complete):
        first = step(release=first, by=engineer, at=IN_WINDOW)
    urgent = make_release(version="1.2.0", kind="exceptional", scheduled_start=SLOT[0])
    approvals.request_decide(
        request=ask(urgent, engineer), by=manager, verdict="approve", at=NOW, comment="Go"
    )
    urgent = services.release_announce(release=urgent, by=engineer, at=NOW)
    urgent = services.release_start(release=urgent, by=engineer, at=SLOT[0])
    services.release_rollback(
        release=urgent, by=engineer, at=SLOT[0], reason="post-release test failed"
    )
    sentences = [timeline.describe(e) for e in urgent.events.order_by("at", "id")]
    assert (
        "morgan approved the slot Tue 01 Dec 2026 06:00–08:00 PST (2026-12-01 14:00–16:00 UTC): "
        "“Go”" in sentences
    )
    assert "erin rolled it back: post-release test failed; 1.1.0 is current again." in sentences
    assert sentences[0].startswith("erin scheduled it for Tue 01 Dec 2026 06:00 PST")
    client.force_login(engineer)
    page = client.get(f"/admin/releases/release/{urgent.pk}/change/").content.decode()
    assert "1.1.0 is current again" in page
    assert "&quot;restored_version&quot;" not in page  # the details are words, not JSON
    api = client.get(f"/api/v1/releases/{urgent.pk}/events/").json()["results"]
    assert api[-1]["summary"] == sentences[-1]


def test_an_action_nobody_describes_still_reads_as_words(make_release, engineer):
    release = make_release()
    event = services.record_event(release, action="something_new", by=engineer, at=NOW)
    assert timeline.describe(event) == "erin: something new."
