"""Promises that hold whatever the order of the steps: each test here sidesteps one promise the
way a hurried or clever user would (another window, a lower impact, a new owner, a reschedule)
and shows it still holds."""

import datetime as dt

import pytest
import time_machine
from django.core import mail

from approvals import services as approvals
from approvals.models import ApprovalRequest
from notes import services as notices
from notes.models import AdvanceNotice
from notifications import causes, outbox, scheduled
from notifications.models import Contact, CustomerAccount, Delivery, Message
from releases import services
from releases.models import Release, ReleaseEvent, ReleaseItem
from tests.helpers import NOW, SLOT, WED_WINDOW, ask, utc

pytestmark = pytest.mark.django_db

JAN_6 = utc(2027, 1, 6, 8, 15)  # a Wednesday window five weeks out
DEC_2_NOON = utc(2026, 12, 2, 12)
DEC_3_WINDOW = utc(2026, 12, 3, 8, 15)  # Thursday's window, long before 6 January
NOTICE = {
    "headline": "Keys replace secrets",
    "description": "Every request carries a key.",
    "tentative_start": JAN_6,
    "nature": "Authentication change.",
    "action_required": "Create a key.",
    "benefits": "Revocable keys.",
    "impact_level": "high",  # 30 days
}


def codes(exc_info) -> list[str]:
    return [r.code for r in exc_info.value.refusals]


@pytest.fixture
def perceptible(make_release):
    return make_release(
        version="10.0.0",
        impact="perceptible",
        scheduled_start=JAN_6,
        items=[{"title": "Shared secrets stop working", "type": "removed", "breaking": True}],
    )


def publish(release, by, at=NOW, **overrides):
    notice = notices.notice_create(release=release, by=by, at=at, **{**NOTICE, **overrides})
    return notices.notice_publish(notice=notice, by=by, at=at)


@pytest.fixture
def told(db):
    """A key account (informed directly of every notice) and a notices subscriber."""
    from notifications.models import Subscriber

    account = CustomerAccount.objects.create(name="Globex", tier="key")
    Contact.objects.create(account=account, name="Hank", email="hank@globex.example")
    Subscriber.objects.create(channel="email", email="reader@example.com", confirmed_at=NOW)


# --- 1. The lead time is measured against the real start --------------------------------------


def test_a_release_noticed_for_january_cannot_start_in_a_december_window(perceptible, engineer):
    publish(perceptible, engineer, at=DEC_2_NOON)  # 30 days: ready 1 January, 12:00 UTC
    release = services.release_announce(release=perceptible, by=engineer, at=DEC_2_NOON)
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_start(release=release, by=engineer, at=DEC_3_WINDOW)
    assert codes(exc) == ["not_its_window", "notice_lead_time"]
    lead = exc.value.refusals[1].detail
    assert (
        "may start from Fri 01 Jan 2027 04:00 PST (2027-01-01 12:00 UTC), "
        "not Thu 03 Dec 2026 00:15 PST (2026-12-03 08:15 UTC)"
    ) in lead
    assert Release.objects.get().state == "announced"


def test_rescheduling_into_the_lead_time_is_refused_and_says_from_when(perceptible, engineer):
    publish(perceptible, engineer, at=DEC_2_NOON)
    release = services.release_announce(release=perceptible, by=engineer, at=DEC_2_NOON)
    with pytest.raises(services.ReleaseInvalid) as exc:
        services.release_update(
            release=release, by=engineer, at=DEC_2_NOON, scheduled_start=DEC_3_WINDOW
        )
    assert (
        "may be scheduled from Fri 01 Jan 2027 04:00 PST (2027-01-01 12:00 UTC)"
        in exc.value.errors["scheduled_start"]
    )
    release.refresh_from_db()
    assert release.scheduled_start == JAN_6
    assert AdvanceNotice.objects.get().revision == 1  # nothing half-written


def test_an_approval_that_waives_the_notice_still_waives_it_at_start(
    make_release, engineer, manager
):
    release = make_release(
        version="11.0.0", kind="exceptional", impact="perceptible", scheduled_start=SLOT[0]
    )
    publish(release, engineer, at=NOW, tentative_start=SLOT[0])  # 30 days: far too late
    request = ask(release, engineer, urgency="critical", waives_notice=True)
    approvals.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    release = services.release_announce(release=release, by=engineer, at=NOW)
    started = services.release_start(release=release, by=engineer, at=SLOT[0])
    assert started.state == "in_progress"


# --- 2. A breaking change is never shipped without an advance notice ---------------------------


def test_a_breaking_item_keeps_a_no_impact_release_from_being_announced(make_release, engineer):
    release = make_release(
        items=[
            {"title": "Old endpoint removed", "type": "removed", "breaking": True},
            {"title": "Internal schema swap", "breaking": True, "public": False},
        ]
    )
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_announce(release=release, by=engineer, at=NOW)
    assert codes(exc) == ["breaking_needs_notice"]
    detail = exc.value.refusals[0].detail
    assert "“Old endpoint removed”" in detail and "Internal schema swap" not in detail


def test_a_breaking_item_added_after_the_announcement_stops_the_start(make_release, engineer):
    release = services.release_announce(release=make_release(), by=engineer, at=NOW)
    services.item_add(release=release, by=engineer, at=NOW, title="Drop v1", breaking=True)
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_start(release=release, by=engineer, at=WED_WINDOW)
    assert codes(exc) == ["breaking_needs_notice"]
    assert "“Drop v1”" in exc.value.refusals[0].detail


def test_once_started_no_item_of_a_no_impact_release_becomes_breaking(make_release, engineer):
    release = services.release_announce(release=make_release(), by=engineer, at=NOW)
    release = services.release_start(release=release, by=engineer, at=WED_WINDOW)
    with pytest.raises(services.TransitionRefused) as added:
        services.item_add(release=release, by=engineer, at=WED_WINDOW, title="X", breaking=True)
    assert codes(added) == ["breaking_needs_notice"]
    item = release.items.filter(public=True).first()
    with pytest.raises(services.TransitionRefused):
        services.item_update(item=item, by=engineer, at=WED_WINDOW, breaking=True)
    assert not ReleaseItem.objects.filter(breaking=True).exists()


def test_impact_cannot_be_lowered_below_what_the_items_require(perceptible, engineer):
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_update(release=perceptible, by=engineer, at=NOW, impact="none")
    assert codes(exc) == ["impact_below_items"]
    assert "“Shared secrets stop working”" in exc.value.refusals[0].detail
    assert Release.objects.get().impact == "perceptible"


def test_lowering_impact_after_publishing_needs_the_notice_withdrawn_first(make_release, engineer):
    release = make_release(version="10.1.0", impact="perceptible", scheduled_start=JAN_6)
    notice = publish(release, engineer)
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_update(release=release, by=engineer, at=NOW, impact="none")
    assert codes(exc) == ["notice_published"]
    notices.notice_withdraw(notice=notice, by=engineer, at=NOW)
    lowered = services.release_update(release=release, by=engineer, at=NOW, impact="none")
    assert lowered.impact == "none"
    trail = list(lowered.events.values_list("action", flat=True))
    assert trail[-2:] == ["notice_withdrawn", "edited"]


def test_the_api_refuses_a_lower_impact_with_a_409_naming_the_items(engineer_api, perceptible):
    response = engineer_api.patch(f"/api/v1/releases/{perceptible.pk}/", {"impact": "none"})
    assert response.status_code == 409
    body = response.json()
    assert body["reasons"][0]["code"] == "impact_below_items"
    assert "Shared secrets stop working" in body["detail"]


# --- 3. The notice follows its release ---------------------------------------------------------


def test_rescheduling_revises_the_notice_date_in_the_same_transaction(
    perceptible, engineer, told, django_capture_on_commit_callbacks
):
    publish(perceptible, engineer)
    thursday = utc(2027, 1, 7, 8, 15)
    with django_capture_on_commit_callbacks(execute=True):
        services.release_update(release=perceptible, by=engineer, at=NOW, scheduled_start=thursday)
    notice = AdvanceNotice.objects.get()
    assert (notice.tentative_start, notice.revision) == (thursday, 2)
    assert notice.revisions.first().changes == [
        "Date moved from Wed 06 Jan 2027 00:15 PST (08:15 UTC) to Thu 07 Jan 2027 00:15 PST "
        "(08:15 UTC)."
    ]
    actions = list(perceptible.events.values_list("action", flat=True))
    assert actions[-2:] == ["rescheduled", "notice_revised"]
    revised = Message.objects.get(kind="notice.revised")
    recipients = set(revised.deliveries.values_list("address", flat=True))
    assert recipients == {"hank@globex.example", "reader@example.com"}


def test_completing_rollback_and_cancelling_give_the_notice_its_outcome(
    make_release, engineer, anon_api, told, django_capture_on_commit_callbacks
):
    def noticed(version, start):
        release = make_release(version=version, impact="perceptible", scheduled_start=start)
        publish(release, engineer, at=start - dt.timedelta(days=31), tentative_start=start)
        return services.release_announce(release=release, by=engineer, at=NOW)

    shipped = noticed("20.0.0", JAN_6)
    for step in (services.release_start, services.release_complete):
        shipped = step(release=shipped, by=engineer, at=JAN_6)
    rolled = noticed("21.0.0", utc(2027, 1, 7, 8, 15))
    for step in (services.release_start, services.release_complete):
        rolled = step(release=rolled, by=engineer, at=utc(2027, 1, 7, 8, 15))
    services.release_rollback(release=rolled, by=engineer, reason="errors", at=utc(2027, 1, 7, 9))
    dropped = noticed("22.0.0", utc(2027, 1, 8, 8, 15))
    with django_capture_on_commit_callbacks(execute=True):
        services.release_cancel(release=dropped, by=engineer, at=NOW)

    statuses = dict(AdvanceNotice.objects.values_list("release__version", "status"))
    assert statuses == {"20.0.0": "done", "21.0.0": "done", "22.0.0": "withdrawn"}
    with time_machine.travel(utc(2027, 1, 2), tick=False):  # before any tentative date
        api = {
            n["release"]: n["outcome"] for n in anon_api.get("/api/v1/notices/").json()["results"]
        }
        listing = anon_api.get("/notices/").content.decode()
    assert api[shipped.pk] == {"code": "shipped", "at": "2027-01-06T08:15:00Z"}
    assert api[rolled.pk] == {"code": "rolled_back", "at": "2027-01-07T09:00:00Z"}
    assert api[dropped.pk] == {"code": "withdrawn", "at": None}
    upcoming = listing[listing.index("Upcoming") : listing.index("Past")]
    assert "Keys replace secrets" not in upcoming  # none of the three is upcoming any more
    assert "shipped" in listing and "rolled back" in listing and "withdrawn" in listing
    told_dropped = [m for m in mail.outbox if m.subject.startswith("[Nightshift] Withdrawn")]
    assert {m.to[0] for m in told_dropped} == {"hank@globex.example", "reader@example.com"}


def test_edits_within_a_few_minutes_reach_customers_as_one_message(
    perceptible, engineer, told, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        notice = publish(perceptible, engineer)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notices.notice_update(notice=notice, by=engineer, at=NOW, benefits="Faster too.")
    with django_capture_on_commit_callbacks(execute=True):
        notices.notice_update(
            notice=notice, by=engineer, at=NOW + dt.timedelta(seconds=0.5), nature="Auth v2."
        )
    assert mail.outbox == []  # held, for edits that follow
    assert list(AdvanceNotice.objects.get().revisions.values_list("number", flat=True)) == [
        3,
        2,
        1,
    ]
    later = causes.revision_hold() + dt.timedelta(minutes=1)
    with (
        time_machine.travel(dt.datetime.now(dt.UTC) + later, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        outbox.sweep()
    to_hank = [m for m in mail.outbox if m.to == ["hank@globex.example"]]
    [revised] = to_hank
    assert "Benefits changed." in revised.body and "Nature of the release changed." in revised.body
    assert "revision 3" in revised.body  # the acknowledgement asks for the latest
    assert len(mail.outbox) == 2  # one each, not one per save
    assert Message.objects.filter(kind="notice.revised").count() == 1


def test_a_held_revision_is_dropped_when_the_notice_is_withdrawn(perceptible, engineer, told):
    notice = publish(perceptible, engineer)
    notices.notice_update(notice=notice, by=engineer, at=NOW, benefits="Faster too.")
    notices.notice_withdraw(notice=notice, by=engineer, at=NOW)
    held = Delivery.objects.filter(message__kind="notice.revised")
    assert set(held.values_list("status", flat=True)) == {"skipped"}


# --- 4. Announcements at the moment the guide names --------------------------------------------


def test_a_no_impact_release_is_public_from_its_window_opening(
    make_release, engineer, client, anon_api, settings
):
    release = services.release_announce(release=make_release(), by=engineer, at=NOW)
    assert release.public_from == WED_WINDOW
    paths = ["/", "/releases/", "/feeds/releases.atom", "/calendar/releases.ics", "/api/v1/notes/"]
    with time_machine.travel(WED_WINDOW - dt.timedelta(minutes=1), tick=False):
        for path in paths:
            assert "1.1.0" not in client.get(path).content.decode(), path
        assert client.get("/releases/items-api/1.1.0/").status_code == 404
        assert anon_api.get("/api/v1/gate/", {"release": release.pk}).status_code == 400
    with time_machine.travel(WED_WINDOW, tick=False):
        for path in paths:
            assert "1.1.0" in client.get(path).content.decode(), path
        assert client.get("/releases/items-api/1.1.0/").status_code == 200


def test_items_are_sent_when_the_window_opens_or_as_early_as_the_setting_says(
    make_release, engineer, settings
):
    from notifications.models import Subscriber

    Subscriber.objects.create(channel="email", email="reader@example.com", confirmed_at=NOW)
    release = services.release_announce(release=make_release(), by=engineer, at=NOW)
    assert scheduled.announce_items(at=WED_WINDOW - dt.timedelta(hours=23)) == 0
    assert scheduled.announce_items(at=WED_WINDOW) == 1
    assert scheduled.announce_items(at=WED_WINDOW + dt.timedelta(minutes=1)) == 0  # once
    text = Message.objects.get(kind="items").text
    assert "in the release window opening Wed 02 Dec 2026 00:00 PST" in text

    settings.ITEMS_ANNOUNCE_HOURS = 24
    early = services.release_announce(
        release=make_release(scheduled_start=utc(2026, 12, 3, 8)), by=engineer, at=NOW
    )
    assert early.public_from == utc(2026, 12, 2, 8)
    assert release.pk != early.pk


def test_a_perceptible_release_is_public_from_its_announcement(perceptible, engineer, client):
    publish(perceptible, engineer, at=NOW - dt.timedelta(days=40))
    release = services.release_announce(release=perceptible, by=engineer, at=NOW)
    assert release.public_from == NOW
    with time_machine.travel(NOW, tick=False):
        assert "10.0.0" in client.get("/releases/").content.decode()


def test_an_exceptional_release_is_public_only_once_authorized_and_from_its_slot(
    make_release, engineer, manager, client
):
    release = make_release(version="3.9.1", kind="exceptional", scheduled_start=SLOT[0])
    release = services.release_announce(release=release, by=engineer, at=NOW)
    assert release.public_from is None
    with time_machine.travel(SLOT[0], tick=False):
        assert "3.9.1" not in client.get("/releases/").content.decode()
    request = ask(release, engineer)
    approvals.request_decide(request=request, by=manager, verdict="approve", at=NOW)
    release.refresh_from_db()
    assert release.public_from == SLOT[0]
    with time_machine.travel(SLOT[0] - dt.timedelta(seconds=1), tick=False):
        assert "3.9.1" not in client.get("/releases/").content.decode()
    with time_machine.travel(SLOT[0], tick=False):
        assert "3.9.1" in client.get("/releases/").content.decode()
    from notifications.models import Subscriber

    Subscriber.objects.create(channel="email", email="reader@example.com", confirmed_at=NOW)
    assert scheduled.announce_items(at=SLOT[0]) == 1
    message = Message.objects.get(kind="items")
    assert "authorized exceptional release" in message.text
    assert "window" not in message.text.lower() and "window" not in str(message.data)


def test_an_invalidated_authorization_takes_the_release_out_of_public_view(
    make_release, engineer, manager
):
    release = make_release(version="3.9.1", kind="exceptional", scheduled_start=SLOT[0])
    release = services.release_announce(release=release, by=engineer, at=NOW)
    approvals.request_decide(request=ask(release, engineer), by=manager, verdict="approve", at=NOW)
    services.item_add(release=release, by=engineer, at=NOW, title="One more thing")
    release.refresh_from_db()
    assert release.approval_requests.get().status == "invalidated"
    assert release.public_from is None


# --- 5. An approval cannot be gamed by changing hands ------------------------------------------


@pytest.fixture
def both(django_user_model):
    """One person who is release engineer and senior manager at once."""
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("dana", email="dana@example.com")
    user.groups.add(*Group.objects.filter(name__in=["Release engineers", "Senior management"]))
    return user


def test_moving_the_owner_away_to_approve_voids_the_request(make_release, engineer, both):
    release = make_release(version="3.9.1", kind="exceptional", scheduled_start=SLOT[0], owner=both)
    request = ask(release, engineer)
    services.release_update(release=release, by=both, at=NOW, owner=engineer)
    request.refresh_from_db()
    assert request.status == "invalidated"
    with pytest.raises(approvals.ApprovalRefused) as exc:
        approvals.request_decide(request=request, by=both, verdict="approve", at=NOW)
    assert exc.value.code == "release_owner"  # owned it since the request was filed
    services.release_update(release=release, by=both, at=NOW, owner=both)
    assert not ApprovalRequest.objects.filter(status__in=["approved", "pending"]).exists()


def test_an_owner_change_voids_a_granted_approval_too(make_release, engineer, manager, both):
    release = make_release(version="3.9.1", kind="exceptional", scheduled_start=SLOT[0])
    release = services.release_announce(release=release, by=engineer, at=NOW)
    approvals.request_decide(request=ask(release, engineer), by=manager, verdict="approve", at=NOW)
    services.release_update(release=release, by=engineer, at=NOW, owner=both)
    with pytest.raises(services.TransitionRefused) as exc:
        services.release_start(release=release, by=engineer, at=SLOT[0])
    assert codes(exc) == ["not_authorized"]


def test_everyone_who_owned_the_release_since_the_request_is_known(make_release, engineer, both):
    release = make_release(version="3.9.1", kind="exceptional", scheduled_start=SLOT[0], owner=both)
    request = ask(release, engineer)
    services.release_update(release=release, by=both, at=NOW, owner=engineer)
    assert approvals.owners_since(request) == {both.pk, engineer.pk}
    edit = ReleaseEvent.objects.get(action="edited")
    assert edit.details["owners"] == [both.pk, engineer.pk]


# --- 6. Conditional requests never hide a change -----------------------------------------------


def test_the_release_etag_covers_its_items(engineer_api, make_release):
    release = make_release()
    before = engineer_api.get(f"/api/v1/releases/{release.pk}/")["ETag"]
    added = engineer_api.post("/api/v1/items/", {"release": release.pk, "title": "More"})
    assert added.status_code == 201
    after = engineer_api.get(f"/api/v1/releases/{release.pk}/")
    assert after["ETag"] != before
    stale = engineer_api.patch(
        f"/api/v1/releases/{release.pk}/", {"title": "Renamed"}, HTTP_IF_MATCH=before
    )
    assert stale.status_code == 412
    fresh = engineer_api.patch(
        f"/api/v1/releases/{release.pk}/", {"title": "Renamed"}, HTTP_IF_MATCH=after["ETag"]
    )
    assert fresh.status_code == 200


def test_the_home_page_validator_changes_when_a_window_opens(client, api_component):
    with time_machine.travel(WED_WINDOW - dt.timedelta(seconds=1), tick=False):
        closed = client.get("/")
    assert "Closed" in closed.content.decode()
    with time_machine.travel(WED_WINDOW, tick=False):
        opened = client.get("/", HTTP_IF_NONE_MATCH=closed["ETag"])
        assert client.get("/", HTTP_IF_NONE_MATCH=opened["ETag"]).status_code == 304
    assert opened.status_code == 200 and "Open" in opened.content.decode()
    with time_machine.travel(WED_WINDOW + dt.timedelta(hours=3), tick=False):
        assert client.get("/", HTTP_IF_NONE_MATCH=opened["ETag"]).status_code == 200


def test_the_notices_validator_changes_when_a_date_passes(perceptible, engineer, client):
    publish(perceptible, engineer)
    with time_machine.travel(JAN_6 - dt.timedelta(seconds=1), tick=False):
        before = client.get("/notices/")
    upcoming = before.content.decode().split("<h2>Past</h2>")[0]
    assert "Keys replace secrets" in upcoming
    with time_machine.travel(JAN_6 + dt.timedelta(seconds=1), tick=False):
        after = client.get("/notices/", HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert "Keys replace secrets" not in after.content.decode().split("<h2>Past</h2>")[0]


def test_a_release_that_missed_its_window_becomes_exceptional_with_kind_alone(
    engineer_api, make_release, engineer
):
    release = services.release_announce(release=make_release(), by=engineer, at=NOW)
    late = utc(2026, 12, 2, 12)  # Wednesday's window closed at 11:00
    with time_machine.travel(late, tick=False):
        changed = engineer_api.patch(f"/api/v1/releases/{release.pk}/", {"kind": "exceptional"})
        assert changed.status_code == 200, changed.json()
        asked = engineer_api.post(
            f"/api/v1/releases/{release.pk}/approval-requests/",
            {
                "justification": "Missed its window; customers wait for the fix.",
                "slot_start": "2026-12-02T13:00:00Z",
                "slot_end": "2026-12-02T15:00:00Z",
            },
        )
    assert changed.json()["kind"] == "exceptional"
    assert asked.status_code == 201, asked.json()


# --- 7. The public gate tells the public nothing private ---------------------------------------


def test_without_a_key_the_gate_answers_only_for_public_releases(
    anon_api, engineer_api, make_release, engineer, manager
):
    planned = make_release(version="0.1.0")
    cancelled = services.release_cancel(release=make_release(version="0.2.0"), by=engineer, at=NOW)
    for release in (planned, cancelled):
        anonymous = anon_api.get("/api/v1/gate/", {"release": release.pk})
        assert anonymous.status_code == 400
        # Word for word what an id that does not exist gets: ids are sequential.
        assert anonymous.json()["errors"]["release"] == [f"Unknown release {release.pk}."]
        assert engineer_api.get("/api/v1/gate/", {"release": release.pk}).status_code == 200
    urgent = make_release(version="3.9.1", kind="exceptional", scheduled_start=SLOT[0])
    urgent = services.release_announce(release=urgent, by=engineer, at=NOW)
    approvals.request_decide(request=ask(urgent, engineer), by=manager, verdict="approve", at=NOW)
    with time_machine.travel(SLOT[0], tick=False):
        public = anon_api.get("/api/v1/gate/", {"release": urgent.pk}).json()
        team = engineer_api.get("/api/v1/gate/", {"release": urgent.pk}).json()
    assert (public["decision"], public["authorization"]) == ("allow", None)
    assert team["authorization"] == str(urgent.approval_requests.get().pk)


@pytest.mark.parametrize("raw", ["²", "١٢", "1" * 30, "-1", "1.0"])
def test_a_release_id_is_ascii_digits_and_anything_else_is_a_400(engineer_api, raw):
    response = engineer_api.get("/api/v1/gate/", {"release": raw, "component": "x"})
    assert response.status_code == 400
    assert "not a release id" in response.json()["errors"]["release"][0]
