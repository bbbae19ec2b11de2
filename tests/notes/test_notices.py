"""Advance notices: the guide's fields, revisions, and the lead time a perceptible release waits."""

import datetime as dt

import pytest

from approvals import services as approvals
from notes import services
from notes.models import AdvanceNotice
from releases import services as releases
from tests.helpers import NOW, ask, utc

pytestmark = pytest.mark.django_db
FAR_WINDOW = utc(2027, 1, 6, 8, 15)  # a Wednesday window five weeks after NOW

COMPLETE = {
    "headline": "API keys replace shared secrets",
    "description": "From January, every request carries an API key.",
    "tentative_start": FAR_WINDOW,
    "nature": "Authentication change.",
    "action_required": "Create a key and send it in `Authorization`.",
    "action_deadline": utc(2027, 1, 5),
    "benefits": "Keys can be revoked one by one.",
    "impact_level": "medium",
}


@pytest.fixture
def perceptible(make_release):
    return make_release(version="10.0.0", impact="perceptible", scheduled_start=FAR_WINDOW)


def test_publishing_needs_every_field_the_guide_names(perceptible, engineer):
    notice = services.notice_create(release=perceptible, by=engineer, at=NOW, headline="Keys")
    with pytest.raises(services.NoticeInvalid) as exc:
        services.notice_publish(notice=notice, by=engineer, at=NOW)
    assert set(exc.value.errors) == {
        "description",
        "tentative_start",
        "nature",
        "action_required",
        "benefits",
    }
    assert (
        exc.value.errors["action_required"]
        == "Publishing needs the action required by the customer."
    )
    assert AdvanceNotice.objects.get().status == "draft"


def test_only_perceptible_releases_get_a_notice(make_release, engineer):
    with pytest.raises(services.NoticeInvalid) as exc:
        services.notice_create(release=make_release(), by=engineer, at=NOW)
    assert "perceptible" in exc.value.errors["release"]


def test_a_perceptible_release_waits_for_its_notice_lead_time(perceptible, engineer):
    with pytest.raises(releases.TransitionRefused) as missing:
        releases.release_announce(release=perceptible, by=engineer, at=NOW)
    assert [r.code for r in missing.value.refusals] == ["notice_missing"]
    notice = services.notice_create(release=perceptible, by=engineer, at=NOW, **COMPLETE)
    with pytest.raises(releases.TransitionRefused) as draft:
        releases.release_announce(release=perceptible, by=engineer, at=NOW)
    assert [r.code for r in draft.value.refusals] == ["notice_not_published"]
    # Published 30 days before the start: medium impact needs 14. Fine.
    services.notice_publish(notice=notice, by=engineer, at=FAR_WINDOW - dt.timedelta(days=30))
    announced = releases.release_announce(release=perceptible, by=engineer, at=NOW)
    assert announced.state == "announced"


def test_a_notice_published_too_late_says_from_when_the_release_may_be_scheduled(
    perceptible, engineer
):
    notice = services.notice_create(
        release=perceptible, by=engineer, at=NOW, **{**COMPLETE, "impact_level": "high"}
    )
    services.notice_publish(notice=notice, by=engineer, at=FAR_WINDOW - dt.timedelta(days=20))
    with pytest.raises(releases.TransitionRefused) as exc:
        releases.release_announce(release=perceptible, by=engineer, at=NOW)
    [refusal] = exc.value.refusals
    assert refusal.code == "notice_lead_time"
    assert "30 days" in refusal.detail and "2027-01-16 08:15 UTC" in refusal.detail


def test_an_approval_that_says_so_waives_the_lead_time(make_release, engineer, manager):
    def urgent(version, waives):
        release = make_release(
            version=version,
            kind="exceptional",
            impact="perceptible",
            scheduled_start=utc(2026, 12, 1, 14, 30),
        )
        request = ask(
            release, engineer, urgency="critical", justification="Breach fix", waives_notice=waives
        )
        approvals.request_decide(request=request, by=manager, verdict="approve", at=NOW)
        return release

    plain = urgent("11.0.0", waives=False)
    with pytest.raises(releases.TransitionRefused) as exc:
        releases.release_announce(release=plain, by=engineer, at=NOW)
    assert [r.code for r in exc.value.refusals] == ["notice_missing"]
    waived = urgent("12.0.0", waives=True)
    releases.release_announce(release=waived, by=engineer, at=NOW)
    started = releases.release_start(release=waived, by=engineer, at=utc(2026, 12, 1, 14, 30))
    assert started.state == "in_progress"
    assert waived.events.get(action="approval_requested").details["waives_notice"] is True


def test_editing_a_published_notice_makes_a_revision_with_what_changed(perceptible, engineer):
    notice = services.notice_create(release=perceptible, by=engineer, at=NOW, **COMPLETE)
    services.notice_publish(notice=notice, by=engineer, at=NOW)
    later = utc(2027, 1, 7, 8, 15)
    services.notice_update(
        notice=notice,
        by=engineer,
        at=NOW + dt.timedelta(days=1),
        tentative_start=later,
        action_required="Create two keys.",
    )
    notice.refresh_from_db()
    assert notice.revision == 2
    latest = notice.revisions.first()
    assert latest.changes == [
        "Date moved from Wed 06 Jan 2027 00:15 PST (08:15 UTC) to Thu 07 Jan 2027 00:15 PST "
        "(08:15 UTC).",
        "Action required changed.",
    ]
    assert perceptible.events.filter(action="notice_revised").exists()


def test_a_published_notice_cannot_lose_a_required_field(perceptible, engineer):
    notice = services.notice_create(release=perceptible, by=engineer, at=NOW, **COMPLETE)
    services.notice_publish(notice=notice, by=engineer, at=NOW)
    with pytest.raises(services.NoticeInvalid) as exc:
        services.notice_update(notice=notice, by=engineer, at=NOW, benefits="  ")
    assert "benefits" in exc.value.errors
    notice.refresh_from_db()
    assert notice.benefits == COMPLETE["benefits"] and notice.revision == 1


def test_an_unknown_zone_is_refused(perceptible, engineer):
    with pytest.raises(services.NoticeInvalid) as exc:
        services.notice_create(release=perceptible, by=engineer, at=NOW, tentative_zone="Mars/Base")
    assert "Mars/Base" in exc.value.errors["tentative_zone"]


@pytest.fixture
def desk(client, engineer):
    client.force_login(engineer)
    return client


def test_the_admin_shows_the_services_refusals_as_form_errors_and_saves_nothing(
    desk, make_release, perceptible, engineer
):
    regular = make_release(version="1.0.0")
    response = desk.post(
        "/admin/notes/advancenotice/add/",
        {
            "release": regular.pk,
            "headline": "x",
            "tentative_zone": "America/Los_Angeles",
            "certainty": "tentative",
            "impact_level": "medium",
            "revisions-TOTAL_FORMS": "0",
            "revisions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    # Only perceptible-impact releases are offered: a regular one is not a valid choice.
    assert "valid choice" in response.context["adminform"].form.errors["release"][0]
    assert not AdvanceNotice.objects.exists()
    notice = services.notice_create(release=perceptible, by=engineer, at=NOW, **COMPLETE)
    services.notice_publish(notice=notice, by=engineer, at=NOW)
    data = {
        "release": perceptible.pk,
        **{k: v for k, v in COMPLETE.items() if "start" not in k and "deadline" not in k},
        "benefits": "",
        "tentative_start_0": "2027-01-06",
        "tentative_start_1": "08:15:00",
        "action_deadline_0": "2027-01-05",
        "action_deadline_1": "00:00:00",
        "tentative_zone": "America/Los_Angeles",
        "certainty": "tentative",
        "revisions-TOTAL_FORMS": "1",
        "revisions-INITIAL_FORMS": "1",
    }
    edited = desk.post(f"/admin/notes/advancenotice/{notice.pk}/change/", data)
    assert edited.status_code == 200
    assert "benefits" in str(edited.context["adminform"].form.errors)
    notice.refresh_from_db()
    assert (notice.benefits, notice.revision) == (COMPLETE["benefits"], 1)


def test_the_desk_adds_and_edits_a_notice_in_the_notices_own_zone(desk, perceptible):
    form = {
        "release": perceptible.pk,
        **{k: v for k, v in COMPLETE.items() if "start" not in k and "deadline" not in k},
        "tentative_zone": "America/Los_Angeles",
        "tentative_start_0": "2027-01-06",
        "tentative_start_1": "00:10:00",  # Pacific, as the notice says
        "action_deadline_0": "",
        "action_deadline_1": "",
        "certainty": "likely",
        "revisions-TOTAL_FORMS": "0",
        "revisions-INITIAL_FORMS": "0",
    }
    added = desk.post("/admin/notes/advancenotice/add/", form)
    assert added.status_code == 302, added.context and added.context["adminform"].form.errors
    notice = AdvanceNotice.objects.get()
    assert notice.tentative_start == utc(2027, 1, 6, 8, 10)
    page = desk.get(f"/admin/notes/advancenotice/{notice.pk}/change/").content.decode()
    assert 'value="00:10:00"' in page  # shown as typed, in the notice's zone
    # The same wall-clock time in another zone is another instant.
    changed = desk.post(
        f"/admin/notes/advancenotice/{notice.pk}/change/",
        {**form, "tentative_zone": "Europe/Paris"},
    )
    assert changed.status_code == 302
    notice.refresh_from_db()
    assert notice.tentative_start == utc(2027, 1, 5, 23, 10)


def test_withdrawing_from_the_desk_asks_first(desk, perceptible, engineer):
    notice = services.notice_create(release=perceptible, by=engineer, at=NOW, **COMPLETE)
    services.notice_publish(notice=notice, by=engineer, at=NOW)
    chosen = {"action": "withdraw", "_selected_action": [notice.pk]}
    asked = desk.post("/admin/notes/advancenotice/", chosen).content.decode()
    assert "cannot be undone" in asked and "need not act" in asked
    assert AdvanceNotice.objects.get().status == "published"
    desk.post("/admin/notes/advancenotice/", {**chosen, "confirmed": "yes"})
    assert AdvanceNotice.objects.get().status == "withdrawn"
