"""The status journey in a real browser: Operations open and update an incident in the desk,
a customer follows it on a phone with JavaScript off, then reads it in the outage log."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from status import services
from status.models import Incident
from tests.browser.test_calendars_in_chromium import _log_in
from tests.browser.test_public_site_in_chromium import BROWSER_DB, browser, page, shot

__all__ = ["browser", "page"]  # fixtures


@pytest.fixture
def phone(browser):
    context = browser.new_context(
        viewport={"width": 375, "height": 740}, java_script_enabled=False, locale="en-US"
    )
    yield context.new_page()
    context.close()


@BROWSER_DB
def test_an_incident_from_the_desk_to_a_customers_phone_and_the_outage_log(
    page, phone, live_server, operator, manager, api_component
):
    services.support_contacts_save(
        values={"emergency_email": "emergency@example.com", "emergency_phone": "+1 555 0100"},
        by=manager,
    )
    _log_in(page, live_server.url, operator.username)
    page.goto(live_server.url + "/admin/status/incident/add/")
    page.get_by_label("Title").fill("Item API writes failing")
    assert page.get_by_label("Impact").input_value() == ""  # no default: a major outage is chosen
    page.get_by_label("Impact").select_option("major_outage")
    page.get_by_label("Components").select_option(label=api_component.name)
    page.get_by_label("First update").fill("Writes fail with **503**; investigating.")
    shot(page, "status-desk-open-incident")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was added successfully").wait_for()
    incident = Incident.objects.get()
    assert incident.owner == operator and incident.state == "investigating"

    page.goto(live_server.url + f"/admin/status/incident/{incident.pk}/change/")
    page.locator("#id_body").fill("Found it: the write pool; reconnecting.")
    page.get_by_label("State").select_option("identified")
    # The promise is typed in the desk's own zone, and labelled with it.
    assert "Next update by (America/Los_Angeles" in page.locator("fieldset").nth(1).inner_text()
    pacific = ZoneInfo("America/Los_Angeles")
    day = (dt.datetime.now(pacific) + dt.timedelta(days=2)).date()
    page.locator("#id_next_update_by_0").fill(day.isoformat())
    page.locator("#id_next_update_by_1").fill("10:00")
    shot(page, "status-desk-update")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was changed successfully").wait_for()
    incident.refresh_from_db()
    promised = dt.datetime.combine(day, dt.time(10), tzinfo=pacific)
    assert incident.state == "identified" and incident.next_update_by == promised

    phone.goto(live_server.url + "/status/")
    assert phone.get_by_text("Major outage").first.is_visible()
    article = phone.get_by_role("article")
    assert article.get_by_role("link", name="Item API writes failing").is_visible()
    assert phone.get_by_text("Found it: the write pool; reconnecting.").is_visible()
    assert phone.get_by_text("Next update by").first.is_visible()
    assert phone.get_by_role("link", name="emergency@example.com").is_visible()
    # Nothing wider than the phone: no sideways scrolling to read the status.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    shot(phone, "status-phone")

    # Resolving is its own step, on a page that says what it does (it cannot be undone).
    page.goto(live_server.url + f"/admin/status/incident/{incident.pk}/change/")
    page.get_by_role("link", name="Resolve…").click()
    assert "cannot be undone" in page.locator("#content").inner_text()
    page.get_by_label("Closing note").fill("The write pool is healthy again.")
    shot(page, "status-desk-resolve")
    page.get_by_role("button", name="Resolve: back to normal").click()
    page.get_by_text("resolved, back to normal").wait_for()
    # The desk's list opens on what needs doing: nothing open now.
    page.goto(live_server.url + "/admin/status/incident/")
    assert "0 incidents" in page.locator("#changelist").inner_text()

    phone.goto(live_server.url + "/status/history/")
    summary = phone.locator("details.incident summary").first
    assert "Item API writes failing" in summary.inner_text() and "lasted" in summary.inner_text()
    phone.goto(live_server.url + f"/status/incidents/{incident.pk}/")
    assert phone.get_by_text("Back to normal:").first.is_visible()
    shot(phone, "status-phone-resolved")
