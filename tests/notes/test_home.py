import datetime as dt

import pytest
import time_machine

from releases.models import Component, Freeze

pytestmark = pytest.mark.django_db


@time_machine.travel(dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC), tick=False)
def test_home_says_which_components_are_open_now_and_when_the_next_window_is(
    client, api_component, client_component
):
    Freeze.objects.create(
        reason="client freeze",
        starts_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        applies_to_all=False,
    ).components.add(client_component)
    html = client.get("/").content.decode()
    api_row = html[html.index("Items API") : html.index("</tr>", html.index("Items API"))]
    client_row = html[html.index("JS client") : html.index("</tr>", html.index("JS client"))]
    assert "Open</span> until" in api_row
    assert (
        '<time datetime="2026-11-26T11:00:00Z">Thu 26 Nov 2026 03:00 PST (11:00 UTC)</time>'
        in api_row
    )
    assert "Closed</span> — frozen" in client_row
    assert '<time datetime="2026-11-27T08:00:00Z">' in client_row
    assert '<html lang="en">' in html


def test_home_without_components_says_what_to_do(client, db):
    html = client.get("/").content.decode()
    assert "No components yet" in html


def test_home_costs_the_same_queries_however_many_components_and_releases(
    client, make_release, engineer
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():
        client.get("/")  # warm: the window calendar is loaded once per rules revision
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for i in range(12):
        Component.objects.create(slug=f"c{i}", name=f"C{i}", kind="api")
        make_release(version=f"2.{i}.0")
    assert count() == few
