"""The release team's desk in the admin: same services as the API, refusals as messages."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from lib.instants import zone_label
from releases import services
from releases.models import Freeze, Release, ReleaseItem
from tests.helpers import NOW, WED_WINDOW, utc

pytestmark = pytest.mark.django_db
ADMIN = "/admin/releases/release/"
MANAGEMENT = {
    f"{prefix}-{name}": value
    for prefix in ("items", "events")
    for name, value in [
        ("TOTAL_FORMS", "0"),
        ("INITIAL_FORMS", "0"),
        ("MIN_NUM_FORMS", "0"),
        ("MAX_NUM_FORMS", "1000"),
    ]
}


@pytest.fixture(autouse=True)
def monday_evening():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def desk(client, engineer):
    client.force_login(engineer)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def add_form(engineer, api_component, **overrides):
    data = {
        "component": api_component.pk,
        "version": "7.0.0",
        "title": "From the desk",
        "kind": "regular",
        "impact": "none",
        # The desk takes times in the team's zone: 00:30 Pacific in Wednesday's window.
        "scheduled_start_0": "2026-12-02",
        "scheduled_start_1": "00:30:00",
        "expected_duration_minutes": "60",
        "owner": engineer.pk,
        "notes": "",
        **MANAGEMENT,
        "items-TOTAL_FORMS": "1",
        "items-0-title": "New dashboard",
        "items-0-type": "added",
        "items-0-public": "on",
        "items-0-planned": "on",
    }
    data.update(overrides)
    return data


def test_the_desk_takes_times_in_the_team_zone_and_says_so(desk, engineer, api_component):
    page = desk.get(f"{ADMIN}add/").content.decode()
    assert f"Scheduled start ({zone_label(ZoneInfo('America/Los_Angeles'))})" in page
    refused = desk.post(
        f"{ADMIN}add/", add_form(engineer, api_component, scheduled_start_1="08:30:00")
    )
    # 08:30 Pacific is after Wednesday's window: the refusal says it in both zones.
    [error] = refused.context["adminform"].form.errors["scheduled_start"]
    assert "Wed 02 Dec 2026 08:30 PST (2026-12-02 16:30 UTC) is outside" in error


def test_a_person_may_choose_their_own_zone(desk, engineer, api_component):
    desk.post("/admin/preferences/", {"time_zone": "Asia/Tokyo"}, follow=True)
    chosen = desk.post("/admin/preferences/", {"time_zone": "Europe/Paris"}, follow=True)
    # The message names the zone just chosen (it once named the one it replaced, which the
    # desk had read for the request).
    [message] = [str(m) for m in chosen.context["messages"]]
    assert message == "The desk now shows and takes times in Europe/Paris."
    page = desk.get(f"{ADMIN}add/").content.decode()
    assert f"Scheduled start ({zone_label(ZoneInfo('Europe/Paris'))})" in page
    assert "Times in Europe/Paris" in page
    response = desk.post(
        f"{ADMIN}add/", add_form(engineer, api_component, scheduled_start_1="09:30:00")
    )
    assert response.status_code == 302
    assert Release.objects.get().scheduled_start == utc(2026, 12, 2, 8, 30)


def test_scheduling_from_the_desk_goes_through_the_service(desk, engineer, api_component):
    response = desk.post(f"{ADMIN}add/", add_form(engineer, api_component))
    assert response.status_code == 302, (
        response.context and response.context["adminform"].form.errors
    )
    release = Release.objects.get()
    assert release.scheduled_start == utc(2026, 12, 2, 8, 30)
    assert list(release.events.values_list("action", flat=True)) == ["scheduled", "item_added"]
    assert release.items.get().title == "New dashboard"


def test_a_slot_outside_the_windows_is_a_form_error_and_nothing_is_saved(
    desk, engineer, api_component
):
    response = desk.post(
        f"{ADMIN}add/", add_form(engineer, api_component, scheduled_start_0="2026-12-01")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "outside every release window" in errors["scheduled_start"][0]
    assert "2026-12-02 08:00 UTC" in errors["scheduled_start"][0]
    assert not Release.objects.exists() and not ReleaseItem.objects.exists()


def test_lifecycle_buttons_follow_the_state_and_refusals_become_messages(desk, make_release):
    release = make_release()
    page = desk.get(f"{ADMIN}{release.pk}/change/").content.decode()
    assert (
        f"{ADMIN}{release.pk}/lifecycle/announce/" in page
        and f"{ADMIN}{release.pk}/lifecycle/start/" not in page
    )
    announced = desk.post(f"{ADMIN}{release.pk}/lifecycle/announce/", follow=True)
    assert "announced" in messages_of(announced)[-1]
    refused = desk.post(f"{ADMIN}{release.pk}/lifecycle/start/", follow=True)
    assert refused.status_code == 200
    assert any("[window_closed]" in m for m in messages_of(refused))
    assert Release.objects.get().state == "announced"


def test_an_unknown_action_or_a_get_is_not_found(desk, make_release):
    release = make_release()
    assert desk.post(f"{ADMIN}{release.pk}/lifecycle/explode/").status_code == 404
    assert desk.get(f"{ADMIN}{release.pk}/lifecycle/announce/").status_code == 404


def test_rollback_from_the_desk_asks_for_a_reason_and_names_what_it_restores(
    desk, make_release, engineer, monday_evening
):
    first = make_release(version="1.0.0")
    second = make_release(version="1.1.0", scheduled_start=utc(2026, 12, 3, 8))
    monday_evening.move_to(utc(2026, 12, 2, 8, 10))
    for release in (first,):
        services.release_announce(release=release, by=engineer)
        services.release_start(release=release, by=engineer)
        services.release_complete(release=release, by=engineer)
    monday_evening.move_to(utc(2026, 12, 3, 8, 10))
    services.release_announce(release=second, by=engineer)
    services.release_start(release=second, by=engineer)
    page = desk.get(f"{ADMIN}{second.pk}/confirm/rollback/").content.decode()
    assert "makes <strong>1.0.0</strong>" in page
    empty = desk.post(f"{ADMIN}{second.pk}/confirm/rollback/", {"reason": ""})
    assert "This field is required." in empty.content.decode()
    monday_evening.move_to(utc(2026, 12, 6, 4))  # Saturday night, no window
    done = desk.post(
        f"{ADMIN}{second.pk}/confirm/rollback/", {"reason": "checkout fails"}, follow=True
    )
    assert "rolled back" in messages_of(done)[-1]
    second.refresh_from_db()
    assert second.rollback.restored == first


def test_editing_an_item_inline_is_on_the_timeline(desk, make_release):
    release = make_release()
    item = release.items.order_by("id").first()
    data = {
        "version": release.version,
        "title": release.title,
        "kind": "regular",
        "impact": "none",
        "scheduled_start_0": "2026-12-02",
        "scheduled_start_1": "00:00:00",
        "expected_duration_minutes": "60",
        "owner": release.owner_id,
        "notes": "",
        **MANAGEMENT,
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "1",
        "items-0-id": item.pk,
        "items-0-release": release.pk,
        "items-0-title": "Search is much faster",
        "items-0-type": "changed",
        "items-0-public": "on",
        "items-0-planned": "on",
    }
    response = desk.post(f"{ADMIN}{release.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = release.events.get(action="item_changed")
    assert event.details["to"] == {"title": "Search is much faster"}


def test_the_calendar_shows_windows_with_releases_freezes_and_exceptions(
    desk, make_release, client_component
):
    make_release(version="5.0.0")
    make_release(version="6.0.0", kind="exceptional", scheduled_start=utc(2026, 12, 1, 15))
    Freeze.objects.create(
        reason="Payments freeze", starts_at=utc(2026, 12, 10), ends_at=utc(2026, 12, 12)
    )
    html = desk.get(f"{ADMIN}calendar/", {"date": "2026-12-01"}).content.decode()
    days = html[: html.index('class="calendar-legend"')]
    # This month's grid (30 Nov – 3 Jan): five weeks of WE/TH/FR, minus the two frozen.
    assert days.count('class="entry entry-window"') == 5 * 3 - 2
    assert days.count('class="entry entry-freeze"') == 3 and "Payments freeze" in days
    wednesday = days[days.index('data-date="2026-12-02"') : days.index('data-date="2026-12-03"')]
    assert "items-api 5.0.0" in wednesday and 'datetime="2026-12-02T08:00:00Z"' in wednesday
    tuesday = days[days.index('data-date="2026-12-01"') : days.index('data-date="2026-12-02"')]
    assert "items-api 6.0.0" in tuesday and "Planned, exceptional" in tuesday
    assert "items-api, js-client" in days


def test_the_window_date_filter_and_search(desk, make_release):
    make_release(version="1.0.0")
    make_release(version="2.0.0", scheduled_start=utc(2026, 12, 3, 8))
    listing = desk.get(ADMIN, {"window_date": "2026-12-02"}).content.decode()  # Pacific date
    assert "1.0.0" in listing and "2.0.0" not in listing
    found = desk.get(ADMIN, {"q": "2.0"}).content.decode()
    assert "2.0.0" in found and ">1.0.0<" not in found


def test_customers_and_managers_cannot_drive_releases(client, customer, manager, make_release):
    release = make_release()
    client.force_login(customer)
    assert (
        client.post(f"{ADMIN}{release.pk}/lifecycle/announce/").status_code == 302
    )  # to the login page
    client.force_login(manager)
    assert client.get(f"{ADMIN}{release.pk}/change/").status_code == 200  # managers may read
    assert client.post(f"{ADMIN}{release.pk}/lifecycle/announce/").status_code == 403
    assert Release.objects.get().state == "planned"
    assert release.scheduled_start == WED_WINDOW
    assert dt.timedelta(minutes=release.expected_duration_minutes) == release.expected_duration


def test_cancel_asks_on_a_page_that_says_what_will_happen(desk, make_release):
    release = make_release()
    page = desk.get(f"{ADMIN}{release.pk}/change/").content.decode()
    assert f"{ADMIN}{release.pk}/confirm/cancel/" in page
    assert f"{ADMIN}{release.pk}/lifecycle/cancel/" not in page  # no one-click cancel
    assert desk.post(f"{ADMIN}{release.pk}/lifecycle/cancel/").status_code == 404
    confirm = desk.get(f"{ADMIN}{release.pk}/confirm/cancel/").content.decode()
    assert "cannot be undone" in confirm and "Keep it" in confirm
    release.refresh_from_db()
    assert release.state == "planned"  # looking at the page changes nothing
    desk.post(f"{ADMIN}{release.pk}/confirm/cancel/", {"reason": "Superseded by 1.2.0"})
    release.refresh_from_db()
    assert release.state == "cancelled"
    assert release.events.get(action="cancel").details == {"reason": "Superseded by 1.2.0"}


def test_the_owner_list_offers_release_engineers_only(desk, engineer, customer, manager):
    form = desk.get(f"{ADMIN}add/").context["adminform"].form
    owners = set(form.fields["owner"].queryset.values_list("username", flat=True))
    assert owners == {engineer.username}


def test_view_on_site_appears_once_customers_may_see_the_release(desk, make_release, engineer):
    release = make_release()
    page = desk.get(f"{ADMIN}{release.pk}/change/").content.decode()
    assert "View on site" not in page  # planned: not public
    release = services.release_announce(release=release, by=engineer, at=utc(2026, 11, 20))
    release = services.release_start(release=release, by=engineer, at=utc(2026, 12, 2, 8, 5))
    Release.objects.filter(pk=release.pk).update(public_from=utc(2020, 1, 1))
    page = desk.get(f"{ADMIN}{release.pk}/change/").content.decode()
    assert f"/releases/items-api/{release.version}/" in page
