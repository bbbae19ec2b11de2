"""The calendars and the release page's strip in a real browser (Debian's Chromium, Playwright).

The server's clock is set to Thursday 3 December 2026 (ticking) so that what the calendars
show, and the screenshots in test-artifacts/, are the same on every run; the browser keeps its
own clock, which only cookies' Max-Age reads.
"""

from __future__ import annotations

import pytest
import time_machine

from tests.browser.test_public_site_in_chromium import ARTIFACTS, BROWSER_DB, browser, page, shot
from tests.notes.test_public_calendar import READ_AT, mixed

__all__ = ["browser", "mixed", "page"]  # fixtures


@pytest.fixture(autouse=True)
def thursday():
    with time_machine.travel(READ_AT, tick=True) as traveller:
        yield traveller


def _log_in(page, base: str, username: str) -> None:
    page.goto(base + "/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-" + username)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="The release desk").wait_for()


def _csp_violations(page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return violations


@BROWSER_DB
def test_the_desk_calendar_by_month_and_week_and_a_release_with_its_strip(
    page, live_server, engineer, mixed
):
    _log_in(page, live_server.url, engineer.username)
    page.goto(live_server.url + "/admin/releases/release/")
    page.get_by_role("link", name="Calendar").first.click()
    # This month, in the team's zone: December 2026 in Pacific time.
    caption = page.locator("table.calendar caption")
    assert "December 2026" in caption.inner_text()
    assert "America/Los_Angeles" in caption.inner_text()
    wednesday = page.locator('td[data-date="2026-12-02"]')
    assert wednesday.get_by_text("Release window").is_visible()
    assert wednesday.get_by_role("link", name="items-api 1.1.0").is_visible()
    assert "00:00–03:00" in wednesday.inner_text()
    tuesday = page.locator('td[data-date="2026-12-01"]')
    assert tuesday.get_by_role("link", name="Approved slot: items-api 3.0.0").is_visible()
    assert page.locator('td[data-date="2026-12-10"]').get_by_text("all day").is_visible()
    notice = page.locator('td[data-date="2026-12-16"]')
    assert notice.get_by_role("link", name="Notice: API keys replace shared secrets").is_visible()
    assert page.locator("td.today").get_attribute("data-date") == "2026-12-03"
    shot(page, "calendar-month")

    page.get_by_role("link", name="Week", exact=True).click()
    assert "Week 49: Mon 30 Nov – Sun 06 Dec 2026" in caption.inner_text()
    wednesday = page.locator('td[data-date="2026-12-02"]')
    # The week view says more of each entry: the state, the components.
    assert wednesday.get_by_text("Released", exact=True).is_visible()
    assert wednesday.locator(".entry-window .detail").inner_text() == "items-api"
    cancelled = page.locator("li.state-cancelled").first
    assert "items-api 0.0.1" not in cancelled.inner_text()  # that one is next week
    shot(page, "calendar-week")
    page.get_by_role("link", name="Next week ›").click()
    assert "Week 50" in caption.inner_text()
    assert page.locator("li.state-cancelled").get_by_text("items-api 0.0.1").is_visible()
    page.get_by_role("link", name="‹ Previous week").click()

    page.locator('td[data-date="2026-12-02"]').get_by_role("link", name="items-api 1.1.0").click()
    strip = page.locator("svg.strip-svg")
    strip.wait_for()
    assert strip.is_visible()
    assert page.locator("svg.strip-svg > title").text_content() == "Timeline of items-api 1.1.0"
    box = strip.bounding_box()
    assert box["width"] > 600 and box["height"] > 80
    for name in ("Scheduled", "Announced", "Started", "Completed"):
        assert strip.locator("tspan.strip-name", has_text=name).first.is_visible()
    table = page.locator("table.strip-table")
    assert table.get_by_role("rowheader", name="Started").is_visible()
    assert "Wed 02 Dec 2026 00:05 PST (08:05 UTC)" in table.inner_text()
    # The lifecycle buttons are still there, above the strip.
    assert page.get_by_role("button", name="Verify").is_visible()
    shot(page, "release-page")
    page.locator("section.strip").screenshot(path=str(ARTIFACTS / "release-strip.png"))
    assert page.dialogs == []


@BROWSER_DB
def test_the_public_calendar_on_a_desktop_and_on_a_phone(browser, page, live_server, mixed):
    violations = _csp_violations(page)
    page.goto(live_server.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar").click()
    assert page.locator("h1").inner_text() == "Calendar"
    grid = page.locator("table.calendar")
    assert "December 2026" in grid.locator("caption").inner_text()
    wednesday = page.locator('td[data-date="2026-12-02"]')
    assert wednesday.get_by_role("link", name="Items API 1.1.0").is_visible()
    assert wednesday.get_by_text("Release window").is_visible()
    assert (
        page.locator('td[data-date="2026-12-16"]')
        .get_by_role("link", name="Notice: API keys replace shared secrets")
        .is_visible()
    )
    text = grid.inner_text()
    for private in ("0.9.0", "Secret plan", "1.3.0", "Approved slot", "Draft about webhooks"):
        assert private not in text, private
    # The one style sheet lays the month out as a grid of equal columns.
    assert page.eval_on_selector("table.calendar", "t => getComputedStyle(t).tableLayout") == (
        "fixed"
    )
    shot(page, "public-calendar")
    page.get_by_role("link", name="Items API 1.1.0").click()
    assert page.locator("h1").inner_text() == "Items API 1.1.0"
    assert violations == [], violations

    phone = browser.new_context(viewport={"width": 375, "height": 800}, locale="en-US")
    small = phone.new_page()
    phone_violations = _csp_violations(small)
    small.goto(live_server.url + "/calendar/")
    # A list of the days that hold something, each with its full date.
    assert not small.locator("table.calendar thead").is_visible()
    day = small.locator('td[data-date="2026-12-02"]')
    assert day.is_visible() and "Wed 2 Dec" in day.locator(".day-head").inner_text()
    assert day.get_by_role("link", name="Items API 1.1.0").is_visible()
    assert day.get_by_text("Released").is_visible()
    assert not small.locator('td[data-date="2026-12-05"]').is_visible()  # nothing that day
    assert not small.locator('td[data-date="2026-11-30"]').is_visible()  # not December
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, width
    shot(small, "public-calendar-phone")
    assert phone_violations == [], phone_violations
    phone.close()
