"""What a customer reads of the service's health: /status/, the outage log, an incident's
page and the status feed (feedparser)."""

import datetime as dt

import feedparser
import pytest
import time_machine

from status import services
from tests.helpers import NOW, utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def outage(operator, api_component):
    incident = services.incident_open(
        title="Items API down", impact="major_outage", components=[api_component],
        body="Investigating <script>alert(1)</script> **errors**.", by=operator,
        at=utc(2026, 10, 5, 9), next_update_by=utc(2026, 10, 5, 9, 30),
    )  # fmt: skip
    services.incident_update(
        incident=incident, body="Found it: a full disk.", state="identified", by=operator,
        at=utc(2026, 10, 5, 9, 20),
    )  # fmt: skip
    services.incident_resolve(incident=incident, by=operator, at=utc(2026, 10, 5, 11, 5))
    return incident


def test_the_status_page_shows_each_component_open_incidents_and_contacts(
    client, operator, api_component, client_component, outage
):
    with time_machine.travel(NOW, tick=False):
        quiet = client.get("/status/").content.decode()
        assert "All systems operational" in quiet and "No open incident." in quiet
        now_open = services.incident_open(
            title="Slow searches", impact="degraded_performance", components=[client_component],
            body="Searches take seconds.", by=operator, at=NOW,
            next_update_by=NOW + dt.timedelta(minutes=45),
        )  # fmt: skip
        page = client.get("/status/").content.decode()
    assert "Slow searches" in page and "Searches take seconds." in page
    assert "Degraded performance" in page and "Next update by" in page
    assert f'href="/status/incidents/{now_open.pk}/"' in page
    assert "Items API down" not in page  # resolved: in the log, not on the page


def test_the_outage_log_lists_each_month_with_timelines_and_durations(client, outage):
    with time_machine.travel(NOW, tick=False):
        log = client.get("/status/history/").content.decode()
    assert "October 2026" in log and "November 2026" in log and "No incidents." in log
    assert "Items API down" in log and "lasted 2 h 5 min" in log
    assert "Major outage" in log  # the worst it reached, whatever it was lowered to
    assert "Found it: a full disk." in log
    assert "<script>alert(1)</script>" not in log and "<strong>errors</strong>" in log
    detail = client.get(f"/status/incidents/{outage.pk}/").content.decode()
    assert "Back to normal" in detail and "lasted 2 h 5 min" in detail
    assert detail.index("Back to normal: Items API down") < detail.index("Found it")


def test_the_status_feed_parses_and_follows_every_update(client, outage, client_component):
    feed = feedparser.parse(client.get("/feeds/status.atom").content)
    assert feed.bozo == 0 and feed.version == "atom10"
    assert [e.title for e in feed.entries] == [
        "Items API down: Resolved (Major outage)",
        "Items API down: Identified (Major outage)",
        "Items API down: Investigating (Major outage)",
    ]
    assert "Back to normal" in feed.entries[0].summary
    last = outage.updates.order_by("-at").first()
    assert feed.entries[0].link.endswith(f"/status/incidents/{outage.pk}/#update-{last.pk}")
    assert (
        feedparser.parse(client.get("/feeds/status.atom?component=js-client").content).entries == []
    )


def test_status_pages_answer_304_until_something_changes(client, operator, outage, api_component):
    first = client.get("/status/")
    etag = first["ETag"]
    assert client.get("/status/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    services.incident_open(
        title="Again", impact="partial_outage", components=[api_component], body="Hm.",
        by=operator,
    )  # fmt: skip
    again = client.get("/status/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200 and "Again" in again.content.decode()


def test_the_probes_section_is_served_from_the_cache_until_a_new_sample(client, server, make_probe):
    from status import probing

    probe = make_probe(server.base + "/switch", name="Item API health")
    at = utc(2026, 11, 30, 18, 1)
    probing.run([probe], at)
    with time_machine.travel(at + dt.timedelta(seconds=5), tick=False):
        first = client.get("/status/").content.decode()
    assert "Item API health" in first and ">Up<" in first
    server.switch = "fail"
    probing.run([probe], at + dt.timedelta(minutes=5))
    with time_machine.travel(at + dt.timedelta(minutes=5, seconds=5), tick=False):
        second = client.get("/status/").content.decode()
    assert ">Down<" in second  # the new sample, at once: no stale cached section


def test_the_home_page_says_releases_wait_for_an_open_major_outage(client, operator, api_component):
    inside_a_window = utc(2026, 12, 2, 8, 30)
    with time_machine.travel(inside_a_window, tick=False):
        assert ">Open</span>" in client.get("/").content.decode()
        services.incident_open(
            title="Down", impact="major_outage", components=[api_component], body="Down.",
            by=operator,
        )  # fmt: skip
        home = client.get("/").content.decode()
    assert ">Closed</span>" in home and "wait for the open outage to be resolved" in home


def test_status_reads_cost_the_same_queries_for_3_incidents_or_12(
    client, anon_api, operator, api_component, client_component, make_release
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def incidents(count):
        for n in range(count):
            incident = services.incident_open(
                title=f"Trouble {n}", impact="partial_outage",
                components=[api_component, client_component], body="Looking.", by=operator,
                at=utc(2026, 11, 1 + n, 9),
            )  # fmt: skip
            services.incident_update(
                incident=incident, body="Found it.", by=operator, at=utc(2026, 11, 1 + n, 10)
            )

    def cost():
        counts = []
        for path in ("/status/", "/status/history/", "/api/v1/incidents/", "/api/v1/status/"):
            with CaptureQueriesContext(connection) as queries:
                assert (anon_api if path.startswith("/api/") else client).get(
                    path
                ).status_code == 200
            counts.append(len(queries))
        return counts

    incidents(3)
    cost()  # warms the per-process window calendar
    few = cost()
    incidents(9)
    assert cost() == few
