"""The release desk in Chromium, as its people use it, in the team's zone (Pacific).

The engineer schedules an exceptional fix, asks for approval, the manager approves, the fix
ships and is rolled back; a notice is written and published; rules are changed. Every add and
change page the roles use is saved at least once here, and the screenshots land in
test-artifacts/.
"""

from __future__ import annotations

import time_machine

from approvals.models import ApprovalRequest
from notes.models import AdvanceNotice
from notifications.models import CustomerAccount, Delivery, Subscriber
from releases.models import Component, Freeze, Release, WindowPolicy
from rules.models import RuleChange
from tests.browser.test_public_site_in_chromium import BROWSER_DB, browser, shot
from tests.helpers import utc

__all__ = ["browser"]  # fixture
MONDAY = utc(2026, 11, 30, 18)  # Monday 30 November, 10:00 Pacific


def desk(browser, live_server, username: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.base = live_server.url
    return page


def save(page, name: str = "_save") -> None:
    page.click(f"input[name={name}]")
    page.wait_for_load_state("load")


def messages(page) -> str:
    return " ".join(page.locator("ul.messagelist li").all_inner_texts())


@BROWSER_DB
def test_an_exceptional_fix_from_schedule_to_rollback_in_the_teams_zone(
    browser, live_server, engineer, manager, api_component
):
    with time_machine.travel(MONDAY, tick=True) as clock:
        erin = desk(browser, live_server, "erin")
        assert "Times in America/Los_Angeles" in erin.content()
        erin.goto(f"{erin.base}/admin/releases/release/add/")
        erin.select_option("#id_component", str(api_component.pk))
        erin.fill("#id_version", "7.0.1")
        erin.fill("#id_title", "Connection leak fix")
        erin.select_option("#id_kind", "exceptional")
        erin.fill("#id_scheduled_start_0", "2026-12-01")
        erin.fill("#id_scheduled_start_1", "06:30:00")  # Tuesday, Pacific
        erin.fill("#id_expected_duration_minutes", "45")
        erin.fill("#id_items-0-title", "Close idle connections")
        erin.select_option("#id_items-0-type", "fixed")
        save(erin)
        release = Release.objects.get(version="7.0.1")
        assert release.scheduled_start == utc(2026, 12, 1, 14, 30)
        assert release.items.get().title == "Close idle connections"

        erin.goto(f"{erin.base}/admin/releases/release/{release.pk}/change/")
        erin.get_by_role("link", name="Request approval…").click()
        erin.select_option("#id_urgency", "critical")
        erin.fill("#id_justification", "Connections leak every night; customers see timeouts.")
        erin.fill("#id_slot_start_0", "2026-12-01")
        erin.fill("#id_slot_start_1", "06:00:00")
        erin.fill("#id_slot_end_0", "2026-12-01")
        erin.fill("#id_slot_end_1", "08:00:00")
        erin.get_by_role("button", name="Ask senior management").click()
        erin.wait_for_load_state("load")
        assert "Pending" in erin.locator(".panel.approval").inner_text()
        request = ApprovalRequest.objects.get()
        assert (request.slot_start, request.slot_end) == (
            utc(2026, 12, 1, 14),
            utc(2026, 12, 1, 16),
        )

        morgan = desk(browser, live_server, "morgan")
        morgan.goto(f"{morgan.base}/admin/approvals/approvalrequest/")
        shot(morgan, "approvals-inbox")
        morgan.get_by_role("link", name=f"Approval #{request.pk} for {release}").click()
        morgan.fill("#id_comment", "Go, and watch the error rate.")
        morgan.get_by_role("button", name="Approve").click()
        morgan.wait_for_load_state("load")
        assert "approved" in messages(morgan)
        request.refresh_from_db()
        assert request.status == "approved"

        erin.goto(f"{erin.base}/admin/releases/release/{release.pk}/change/")
        erin.get_by_role("button", name="Announce").click()
        erin.wait_for_load_state("load")
        clock.move_to(utc(2026, 12, 1, 14, 5))  # inside the approved slot
        for step in ("Start", "Complete"):
            erin.get_by_role("button", name=step).click()
            erin.wait_for_load_state("load")
        release.refresh_from_db()
        assert release.state == "released"
        erin.get_by_role("link", name="Roll back…").click()
        assert "cannot be undone" in erin.content()
        erin.fill("#id_reason", "Post-release test failed: checkout errors.")
        erin.get_by_role("button", name=f"Roll back {release}").click()
        erin.wait_for_load_state("load")
        release.refresh_from_db()
        assert release.state == "rolled_back"
        timeline = erin.locator("#events-group").inner_text()
        assert "morgan approved the slot Tue 01 Dec 2026 06:00–08:00 PST" in timeline
        assert "rolled it back: Post-release test failed: checkout errors." in timeline
        shot(erin, "release-page-rolled-back")
        erin.goto(f"{erin.base}/admin/releases/release/")
        assert "Connection leak fix" in erin.locator("#result_list").inner_text()
        shot(erin, "desk")


@BROWSER_DB
def test_a_notice_is_written_in_its_own_zone_and_published(browser, live_server, engineer):
    Component.objects.create(slug="items-api", name="Items API", kind="api")
    with time_machine.travel(MONDAY, tick=True):
        erin = desk(browser, live_server, "erin")
        erin.goto(f"{erin.base}/admin/releases/release/add/")
        erin.select_option("#id_component", label="Items API")
        erin.fill("#id_version", "10.0.0")
        erin.fill("#id_title", "Keys replace secrets")
        erin.select_option("#id_impact", "perceptible")
        erin.fill("#id_scheduled_start_0", "2027-01-06")
        erin.fill("#id_scheduled_start_1", "00:15:00")
        save(erin)
        release = Release.objects.get(version="10.0.0")

        erin.goto(f"{erin.base}/admin/notes/advancenotice/add/")
        erin.select_option("#id_release", str(release.pk))
        fields = {
            "#id_headline": "API keys replace shared secrets",
            "#id_description": "Every request carries a key.",
            "#id_nature": "Authentication change.",
            "#id_benefits": "Keys can be revoked one by one.",
            "#id_action_required": "Create a key and send it in `Authorization`.",
            "#id_tentative_start_0": "2027-01-06",
            "#id_tentative_start_1": "00:15:00",
        }
        for selector, value in fields.items():
            erin.fill(selector, value)
        erin.select_option("#id_impact_level", "high")
        save(erin)
        notice = AdvanceNotice.objects.get()
        assert notice.tentative_start == release.scheduled_start
        erin.goto(f"{erin.base}/admin/notes/advancenotice/")
        erin.check(f"input[name=_selected_action][value='{notice.pk}']")
        erin.select_option("select[name=action]", "publish")
        erin.click("button[name=index]")
        erin.wait_for_load_state("load")
        notice.refresh_from_db()
        assert notice.status == "published"
        erin.goto(f"{erin.base}/admin/notes/advancenotice/{notice.pk}/change/")
        assert erin.input_value("#id_tentative_start_1") == "00:15:00"
        erin.fill("#id_benefits", "Keys can be revoked one by one, and usage is reported.")
        save(erin)
        notice.refresh_from_db()
        assert notice.revision == 2
        shot(erin, "notice-revised")


@BROWSER_DB
def test_rules_customers_and_the_outbox_from_the_desk(
    browser, live_server, engineer, manager, api_component, settings
):
    with time_machine.travel(MONDAY, tick=True):
        erin = desk(browser, live_server, "erin")
        erin.goto(f"{erin.base}/admin/releases/freeze/add/")
        erin.fill("#id_reason", "Year-end freeze")
        erin.fill("#id_starts_at_0", "2026-12-20")
        erin.fill("#id_starts_at_1", "00:00:00")
        erin.fill("#id_ends_at_0", "2027-01-03")
        erin.fill("#id_ends_at_1", "00:00:00")
        save(erin)
        assert "Next 90 days" in messages(erin)
        freeze = Freeze.objects.get()
        assert freeze.starts_at == utc(2026, 12, 20, 8)  # midnight Pacific

        erin.goto(f"{erin.base}/admin/releases/windowpolicy/add/")
        erin.fill("#id_name", "Saturday mornings")
        erin.fill("#id_rrule", "FREQ=WEEKLY;BYDAY=SA")
        erin.fill("#id_start_time", "08:00")
        erin.fill("#id_duration_minutes", "120")
        erin.fill("#id_effective_from", "2027-01-01")
        erin.fill("#id_justification", "Weekend maintenance for EU customers.")
        save(erin)
        change = RuleChange.objects.get(target="policy")
        assert erin.url.endswith(f"/admin/rules/rulechange/{change.pk}/change/")
        assert not WindowPolicy.objects.filter(name="Saturday mornings").exists()

        morgan = desk(browser, live_server, "morgan")
        morgan.goto(f"{morgan.base}/admin/rules/rulechange/{change.pk}/change/")
        assert "Weekend maintenance for EU customers." in morgan.content()
        morgan.get_by_role("button", name="Approve").click()
        morgan.wait_for_load_state("load")
        assert WindowPolicy.objects.filter(name="Saturday mornings").exists()
        shot(morgan, "rule-change-approved")

        erin.goto(f"{erin.base}/admin/releases/component/add/")
        erin.fill("#id_name", "Mobile app")  # the slug fills itself in, as the desk suggests
        erin.select_option("#id_kind", "client")
        save(erin)
        assert Component.objects.filter(slug="mobile-app").exists()

        erin.goto(f"{erin.base}/admin/notifications/customeraccount/add/")
        erin.fill("#id_name", "Globex")
        erin.select_option("#id_tier", "key")
        erin.fill("#id_contacts-0-name", "Hank Scorpio")
        erin.fill("#id_contacts-0-email", "hank@globex.example")
        save(erin)
        assert CustomerAccount.objects.get().contacts.get().email == "hank@globex.example"

        subscriber = Subscriber.objects.create(
            channel="email", email="reader@example.com", confirmed_at=MONDAY
        )
        erin.goto(f"{erin.base}/admin/notifications/subscriber/{subscriber.pk}/change/")
        erin.uncheck("#id_on_items")
        save(erin)
        subscriber.refresh_from_db()
        assert not subscriber.on_items

        from notifications import outbox
        from notifications.messages import Content

        outbox.queue(
            key="k", kind="released", content=Content("Released: x", "Body", {}),
            recipients=outbox.topic_recipients("released", None), at=MONDAY,
        )  # fmt: skip
        Delivery.objects.update(status="dead", attempts=8)
        erin.goto(f"{erin.base}/admin/notifications/delivery/")
        erin.check("input[name=_selected_action]")
        erin.select_option("select[name=action]", "retry")
        erin.click("button[name=index]")
        erin.wait_for_load_state("load")
        assert "queued again" in messages(erin)

        erin.goto(f"{erin.base}/admin/preferences/")
        erin.select_option("#id_time_zone", "Europe/Paris")
        erin.click("input[type=submit]")
        erin.wait_for_load_state("load")
        assert "Times in Europe/Paris" in erin.content()
        erin.goto(f"{erin.base}/admin/releases/freeze/{freeze.pk}/change/")
        assert erin.input_value("#id_starts_at_1") == "09:00:00"  # the same instant, in Paris
