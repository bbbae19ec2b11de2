import pytest

from releases.models import Freeze, WindowPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(client, engineer):
    client.force_login(engineer)
    return client


def test_policy_page_shows_the_next_eight_weeks_in_pacific_and_utc(desk):
    policy = WindowPolicy.objects.get()
    html = desk.get(f"/admin/releases/windowpolicy/{policy.pk}/change/").content.decode()
    assert "Windows it yields" in html
    assert html.count("<tr><td><time datetime=") == 24  # 8 weeks x WE, TH, FR
    assert " PST (08:00 UTC)" in html or " PDT (07:00 UTC)" in html


def test_invalid_policy_in_the_admin_names_the_field_and_saves_nothing(desk):
    response = desk.post(
        "/admin/releases/windowpolicy/add/",
        {
            "name": "bad",
            "rrule": "FREQ=WEEKLY;BYDAY=NOPE",
            "start_time": "00:00",
            "duration_minutes": "60",
            "zone": "Atlantis/Capital",
            "effective_from": "2026-01-01",
            "applies_to_all": "on",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "BYDAY" in errors["rrule"][0]
    assert "Atlantis/Capital" in errors["zone"][0]
    assert WindowPolicy.objects.count() == 1


def test_scope_without_components_is_refused_in_the_admin(desk):
    response = desk.post(
        "/admin/releases/freeze/add/",
        {
            "reason": "scoped",
            "starts_at_0": "2026-12-01",
            "starts_at_1": "00:00",
            "ends_at_0": "2026-12-02",
            "ends_at_1": "00:00",
            "zone": "America/Los_Angeles",
        },
    )
    assert "List the components" in response.context["adminform"].form.errors["components"][0]
    assert not Freeze.objects.exists()


def test_customers_cannot_reach_the_desk(client, customer):
    client.force_login(customer)
    response = client.get("/admin/releases/windowpolicy/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_freeze_form_takes_one_off_times_in_the_desks_zone_and_says_only_that(desk):
    """The one-off fields are read in the desk's zone and labelled with it; the section's
    heading must not say UTC (it did, above fields that said Pacific)."""
    from zoneinfo import ZoneInfo

    from lib.instants import zone_label

    page = desk.get("/admin/releases/freeze/add/").content.decode()
    assert f"Starts at ({zone_label(ZoneInfo('America/Los_Angeles'))})" in page
    assert "One-off (no end: until lifted)" in page
    assert "UTC;" not in page
    desk.post(
        "/admin/releases/freeze/add/",
        {"reason": "night", "starts_at_0": "2026-12-01", "starts_at_1": "23:00",
         "ends_at_0": "2026-12-02", "ends_at_1": "04:00", "applies_to_all": "on"},
    )  # fmt: skip
    freeze = Freeze.objects.get(reason="night")
    assert freeze.starts_at.isoformat() == "2026-12-02T07:00:00+00:00"  # 23:00 PST
