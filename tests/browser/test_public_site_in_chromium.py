"""The public site in a real browser: Debian's Chromium driven by Playwright.

Without Chromium these tests skip, saying why; .ci/run installs it and sets
NIGHTSHIFT_REQUIRE_BROWSER=1, which turns a missing browser into a failure.
Screenshots land in test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import feedparser
import pytest

from notes import services as notices
from releases import services
from tests.helpers import utc
from tests.notes.xss_vectors import VECTORS

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BROWSER_DB = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("NIGHTSHIFT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM
    # calls are synchronous all the same. Django's documented escape hatch, for tests only.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 900}, locale="en-US")
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def site(live_server, make_release, engineer, client_component):
    """A shipped release, one announced for a later window, and a published notice."""
    at = dt.datetime.now(dt.UTC)
    # Windows close to now, wherever the test runs: start the shipped one in a real window.
    from releases.selectors import window_calendar

    calendar = window_calendar()
    [past, *_] = calendar.windows(at - dt.timedelta(days=9), at - dt.timedelta(days=1), "items-api")
    upcoming = calendar.windows(at + dt.timedelta(days=1), at + dt.timedelta(days=40), "items-api")
    start = past.start + dt.timedelta(minutes=5)
    shipped = make_release(
        version="4.2.0",
        title="Faster search",
        scheduled_start=start,
        at=start - dt.timedelta(days=1),
    )
    for step in (services.release_announce, services.release_start, services.release_complete):
        shipped = step(release=shipped, by=engineer, at=start)
    coming = make_release(
        version="4.3.0", title="Saved searches", scheduled_start=upcoming[0].start, at=at
    )
    services.release_announce(release=coming, by=engineer, at=at)
    perceptible = make_release(
        version="5.0.0",
        title="Keys",
        impact="perceptible",
        scheduled_start=upcoming[-1].start,
        at=at,
    )
    notice = notices.notice_create(
        release=perceptible,
        by=engineer,
        at=at,
        headline="API keys replace shared secrets",
        description="Details.",
        tentative_start=perceptible.scheduled_start,
        nature="Auth.",
        action_required="Create an API key.",
        benefits="Revocable keys.",
    )
    notices.notice_publish(notice=notice, by=engineer, at=at)
    return live_server.url


@BROWSER_DB
def test_a_customer_reads_notes_a_release_and_a_notice_and_follows_the_feeds(page, site):
    page.goto(site + "/")
    assert page.locator("h1").first.inner_text() == "Release windows"
    assert page.get_attribute("html", "lang") == "en"
    shot(page, "home")

    page.get_by_role("link", name="Release notes").first.click()
    page.select_option("select[name=component]", "items-api")
    page.get_by_role("button", name="Filter").click()
    assert "component=items-api" in page.url
    assert page.get_by_text("Faster search").count() == 1
    # Announced for a later window: customers see it when that window opens, not before.
    assert page.get_by_text("Saved searches").count() == 0
    shot(page, "release-notes-filtered")

    page.get_by_role("link", name="Items API 4.2.0").click()
    assert page.locator("h1").inner_text() == "Items API 4.2.0"
    assert page.get_by_role("heading", name="What was released").is_visible()
    time = page.locator("time").first
    assert time.get_attribute("datetime").endswith("Z") and "UTC" in time.inner_text()
    shot(page, "release")

    page.get_by_role("link", name="Advance notices").click()
    page.get_by_role("link", name="API keys replace shared secrets").click()
    assert page.get_by_role("heading", name="What you need to do").is_visible()
    assert page.get_by_text("Create an API key.").is_visible()
    shot(page, "notice")

    for label, expected in [
        ("releases (Atom)", "Items API 4.2.0: Faster search"),
        ("notices (Atom)", "API keys replace shared secrets (published)"),
    ]:
        href = page.get_by_role("link", name=label).get_attribute("href")
        feed = feedparser.parse(page.request.get(site + href).body())
        assert expected in [entry.title for entry in feed.entries]
    assert page.dialogs == []


@BROWSER_DB
def test_no_script_runs_from_notes_items_or_notices(page, live_server, make_release, engineer):
    payload = "\n\n".join(VECTORS)
    at = dt.datetime.now(dt.UTC)
    from releases.selectors import window_calendar

    window = window_calendar().next_window(at + dt.timedelta(days=20), "items-api")
    release = make_release(
        version="6.6.6",
        title="<script>alert('title')</script>",
        notes=payload,
        items=[{"title": "<img src=x onerror=alert('item')>", "description": payload}],
        impact="perceptible",
        scheduled_start=window.start,
        at=at,
    )
    notice = notices.notice_create(
        release=release,
        by=engineer,
        at=at,
        headline="<b>x</b>",
        description=payload,
        tentative_start=window.start,
        nature=payload,
        action_required=payload,
        benefits=payload,
    )
    notices.notice_publish(notice=notice, by=engineer, at=at - dt.timedelta(days=20))
    services.release_announce(release=release, by=engineer, at=at)
    for path in ("/", "/releases/", "/releases/items-api/6.6.6/", f"/notices/{notice.pk}/"):
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
        for link in page.locator("main a").all()[:80]:
            href = (link.get_attribute("href") or "").replace(" ", "").lower()
            assert not href.startswith(("javascript:", "data:", "vbscript:")), href
        page.hover("main")
    shot(page, "xss-release-notice")
    assert page.dialogs == [], page.dialogs
    assert utc(2026, 1, 1) < at  # the clock is real here


@BROWSER_DB
def test_every_page_keeps_its_content_security_policy_and_still_works(page, site):
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    for path in ("/", "/releases/", "/notices/", "/subscribe/", "/admin/login/"):
        response = page.goto(site + path)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, path
        if not path.startswith("/admin/"):
            assert "script-src" not in policy and "default-src 'none'" in policy, path
            # The one style sheet applies: the navigation is laid out in a row.
            assert page.eval_on_selector("nav.main", "n => getComputedStyle(n).display") == "flex"
    page.goto(site + "/api/docs/")
    # Swagger UI starts from its own script file and lists the operations.
    page.get_by_text("/api/v1/gate/").first.wait_for(timeout=15_000)
    shot(page, "api-docs")
    assert violations == [], violations


CONTRAST = """el => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => {
    const [r, g, b] = c.map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  let node = el, bg = 'rgba(0, 0, 0, 0)';
  while (node && (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent')) {
    bg = getComputedStyle(node).backgroundColor; node = node.parentElement;
  }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(bg))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@BROWSER_DB
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_open_closed_and_muted_text_keep_aa_contrast_on_a_phone(browser, site, scheme):
    context = browser.new_context(
        viewport={"width": 375, "height": 800}, color_scheme=scheme, locale="en-US"
    )
    page = context.new_page()
    page.goto(site + "/")
    # On a phone each component is a card, and its next window is still there, labelled.
    assert page.locator("td[data-label='Next window']").first.is_visible()
    label = page.eval_on_selector(
        "td[data-label='Next window']", "td => getComputedStyle(td, '::before').content"
    )
    assert "Next window" in label
    for selector in (".closed, .open", ".muted"):
        element = page.locator(selector).first
        ratio = element.evaluate(CONTRAST)
        assert ratio >= 4.5, (scheme, selector, round(ratio, 2))
    shot(page, f"home-phone-{scheme}")
    context.close()
