"""Public pages and feeds under load: a client without a validator gets the body another reader
had rendered (from the shared cache), for the price of a revalidation; and what the page shows
is never older than what a fresh render would show — a window opening, a new release, a notice
edit, a release's start passing each make the next reader's page new at once."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notes import services as notices
from notes.http import page_key
from releases import services
from tests.helpers import NOW, WED_WINDOW
from tests.notes.test_public_site import published_notice

pytestmark = pytest.mark.django_db
PAGES = (
    "/", "/releases/", "/notices/", "/feeds/releases.atom", "/feeds/notices.atom", "/calendar/",
    "/calendar/releases.ics", "/calendar/windows.ics", "/status/", "/status/history/",
    "/feeds/status.atom",
)  # fmt: skip


def _get(client, path):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, path
    return response, len(queries)


def test_a_cold_reader_gets_the_body_another_rendered_for_the_price_of_a_revalidation(
    client, make_release, engineer
):
    services.release_announce(release=make_release(), by=engineer, at=NOW)
    with time_machine.travel(NOW, tick=False):
        for path in PAGES:
            first, rendered = _get(client, path)
            second, _ = _get(client, path)  # a second reader: the page is worth keeping
            assert second.content == first.content
            again, cached = _get(client, path)  # no validator: a new reader
            assert again.content == first.content and again["ETag"] == first["ETag"], path
            assert again["Content-Type"] == first["Content-Type"], path
            assert cached <= 4 < rendered or cached < rendered, (path, cached, rendered)
            # Middleware still adds its headers to the cached body.
            assert again["Content-Security-Policy"] == first["Content-Security-Policy"], path
            revalidated = client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
            assert revalidated.status_code == 304, path


def test_a_page_asked_for_once_leaves_no_body_in_the_cache(client, api_component):
    """Made-up query strings, each asked once, cannot fill the shared cache with pages."""

    def kept(response):
        return cache.get(page_key(response["ETag"]))

    with time_machine.travel(NOW, tick=False):
        once = [client.get(f"/releases/?made-up={n}") for n in range(20)]
        assert [kept(r) for r in once] == [None] * 20
        client.get("/releases/?made-up=0")  # a second reader of the same page: it is kept
        assert kept(once[0]) is not None and kept(once[1]) is None


def test_a_window_opening_shows_at_once(client, api_component):
    before, after = WED_WINDOW - dt.timedelta(seconds=1), WED_WINDOW + dt.timedelta(seconds=1)
    with time_machine.travel(before, tick=False):
        closed = client.get("/").content.decode()
        assert client.get("/").content.decode() == closed  # cached
    with time_machine.travel(after, tick=False):
        opened = client.get("/").content.decode()
    assert 'class="closed">Closed' in closed and 'class="open">Open' not in closed
    assert 'class="open">Open' in opened


def test_a_new_release_and_a_notice_edit_show_at_once(client, make_release, engineer):
    with time_machine.travel(NOW, tick=False):
        assert "2.0.0" not in client.get("/releases/").content.decode()
        services.release_announce(release=make_release(version="2.0.0"), by=engineer, at=NOW)
        # Public from its window's opening: the page shows it then, and not a moment later.
        with time_machine.travel(WED_WINDOW, tick=False):
            assert "2.0.0" in client.get("/releases/").content.decode()

        release = make_release(version="3.0.0", impact="perceptible")
        notice = published_notice(release, engineer)
        page = f"/notices/{notice.pk}/"
        assert "Create a key." in client.get(page).content.decode()
        assert "Create a key." in client.get("/feeds/notices.atom").content.decode()
        notices.notice_update(notice=notice, by=engineer, at=NOW, action_required="Rotate it.")
        assert "Rotate it." in client.get(page).content.decode()
        assert "Rotate it." in client.get("/feeds/notices.atom").content.decode()


def test_a_release_moves_from_upcoming_to_latest_as_its_start_passes(
    client, make_release, engineer
):
    start = WED_WINDOW + dt.timedelta(minutes=30)  # inside the window: no window edge then
    release = make_release(version="4.0.0", scheduled_start=start)
    services.release_announce(release=release, by=engineer, at=NOW)

    def scheduled(html):
        return html.split("<h2>Scheduled releases</h2>")[1].split("<h2>")[0]

    with time_machine.travel(start - dt.timedelta(seconds=1), tick=False):
        before = client.get("/").content.decode()
    with time_machine.travel(start + dt.timedelta(seconds=1), tick=False):
        after = client.get("/").content.decode()
    assert "4.0.0" in scheduled(before) and "4.0.0" not in scheduled(after)


def test_a_new_component_shows_at_once_on_every_page(client, api_component):
    from releases.models import Component

    with time_machine.travel(NOW, tick=False):
        for _ in range(3):  # read, kept, served from the cache
            assert "Mobile app" not in client.get("/releases/").content.decode()
        Component.objects.create(slug="mobile", name="Mobile app", kind="client")
        assert "Mobile app" in client.get("/releases/").content.decode()  # its filter lists it


def test_the_notes_api_keeps_its_data_for_every_format_and_shows_a_new_release_at_once(
    client, anon_api, make_release, engineer
):
    """The notes API negotiates its format, so what it keeps is its data: a third reader gets
    the second's (no release is read), as JSON or as the browsable page, with the same ETag;
    a release made public is in the very next answer."""
    services.release_announce(release=make_release(version="1.0.0"), by=engineer, at=NOW)
    with time_machine.travel(WED_WINDOW, tick=False):
        first, _ = _get(anon_api, "/api/v1/notes/")
        _get(anon_api, "/api/v1/notes/")  # a second reader: the data is worth keeping
        with CaptureQueriesContext(connection) as queries:
            again = anon_api.get("/api/v1/notes/")
            page = client.get("/api/v1/notes/", HTTP_ACCEPT="text/html")
        assert not any('"releases_release"' in q["sql"] for q in queries)
        assert (again.content, again["ETag"]) == (first.content, first["ETag"])
        assert again["Content-Type"] == "application/json"
        assert page["Content-Type"].startswith("text/html") and "1.0.0" in page.content.decode()
        assert page["ETag"] == first["ETag"]
        assert anon_api.get("/api/v1/notes/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

        services.release_announce(release=make_release(version="2.0.0"), by=engineer, at=NOW)
        assert "2.0.0" in anon_api.get("/api/v1/notes/").content.decode()
        past_the_last = anon_api.get("/api/v1/notes/?page=9")
        assert past_the_last.status_code == 404
        assert anon_api.get("/api/v1/notes/?page=9").status_code == 404  # never kept


def test_the_notes_api_keeps_no_data_rendered_for_a_signed_in_reader(
    engineer_api, anon_api, api_component
):
    with time_machine.travel(NOW, tick=False):
        for _ in range(3):
            signed_in = engineer_api.get("/api/v1/notes/?component=items-api")
        assert cache.get(page_key(signed_in["ETag"], "data")) is None
        for _ in range(2):
            anonymous = anon_api.get("/api/v1/notes/?component=items-api")
        assert cache.get(page_key(anonymous["ETag"], "data")) is not None


def test_a_freeze_declared_is_in_the_windows_calendar_at_once(client, api_component):
    from releases.models import Freeze

    with time_machine.travel(NOW, tick=False):
        before = client.get("/calendar/windows.ics")
        assert client.get("/calendar/windows.ics").content == before.content  # kept
        Freeze.objects.create(
            reason="Year-end freeze",
            starts_at=WED_WINDOW,
            ends_at=WED_WINDOW + dt.timedelta(days=3),
        )
        after = client.get("/calendar/windows.ics")
    assert "Year-end freeze" not in before.content.decode()
    assert "Freeze: Year-end freeze" in after.content.decode()
    assert after["ETag"] != before["ETag"]
