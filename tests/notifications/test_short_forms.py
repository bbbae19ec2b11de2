"""Messages that fit the medium: every kind that reaches customers has a short form of at most
280 characters ending with its public page's link, with nothing internal in it; SMS texts stay
within two segments; and the segment arithmetic itself."""

import datetime as dt

import pytest
import time_machine

from notes import services as notes
from notifications import messages, sms
from notifications.models import Channel, Message
from releases import services as releases
from status import services as incidents
from tests.helpers import NOW, WED_WINDOW
from tests.notes.test_notices import COMPLETE, FAR_WINDOW

pytestmark = pytest.mark.django_db

# Every kind, sorted: those customers (and so channels and phones) receive, and those only the
# team does (by e-mail). A new kind must be put in one of them.
PUBLIC = {
    "items", "released", "rolled_back", "notice.published", "notice.revised",
    "notice.withdrawn", "notice.reminder", "status.update", "channel.test",
}  # fmt: skip
INTERNAL = {
    "approval.needed", "approval.invalidated", "release.missed_window", "release.stranded",
    "rules.change", "rules.decided", "subscription.confirm", "subscription.verify",
    "audit.anchor", "audit.broken", "status.overdue", "status.probe",
}  # fmt: skip
CUT = {
    "items",
    "released",
    "notice.published",
    "notice.revised",
    "notice.reminder",
    "status.update",
}
LONG = "Searching across every archived workspace returns results in under a second " * 3
SECRET = "Rotate the internal signing key on db-7"


def test_every_kind_is_either_public_or_internal():
    assert set(Message.Kind.values) == PUBLIC | INTERNAL and not PUBLIC & INTERNAL


@pytest.fixture
def contents(make_release, engineer, operator, api_component):
    """One Content of each public kind, composed from real objects with long texts."""
    items = [{"title": LONG[:200], "type": "added"} for _ in range(4)]
    items.append({"title": SECRET, "type": "changed", "public": False})
    release = make_release(items=items, title=SECRET)
    with time_machine.travel(NOW, tick=False):
        release = releases.release_announce(release=release, by=engineer, at=NOW)
    start = WED_WINDOW + dt.timedelta(minutes=5)
    done = start + dt.timedelta(minutes=30)
    found = {"items": messages.items_to_be_released(release, WED_WINDOW)}
    with time_machine.travel(done, tick=False):
        release = releases.release_start(release=release, by=engineer, at=start)
        release = releases.release_complete(release=release, by=engineer, at=done)
        found["released"] = messages.released(release)
        release = releases.release_rollback(release=release, by=engineer, reason=SECRET, at=done)
        found["rolled_back"] = messages.rolled_back(release)
    perceptible = make_release(
        version="9.0.0", impact="perceptible", scheduled_start=FAR_WINDOW, title=SECRET
    )
    fields = {**COMPLETE, "headline": LONG[:140], "action_required": LONG * 3}
    notice = notes.notice_create(release=perceptible, by=engineer, at=NOW, **fields)
    notice = notes.notice_publish(notice=notice, by=engineer, at=NOW)
    for kind in ("notice.published", "notice.revised", "notice.withdrawn"):
        found[kind] = messages.notice(notice, kind, ["The date moved"] * 30)
    found["notice.reminder"] = messages.reminder(notice, 7)
    incident = incidents.incident_open(
        title=LONG[:150], impact="major_outage", components=[api_component],
        body=f"**{LONG.strip()}** [details](https://example.com/x)", by=operator, at=NOW,
    )  # fmt: skip
    found["status.update"] = messages.status_update(incident, incident.updates.get(), "opened")
    found["channel.test"] = messages.channel_test(Channel(name="@releases"))
    return found


def test_every_public_kind_has_a_short_form_within_280_with_its_link_and_nothing_internal(
    contents, engineer
):
    assert set(contents) == PUBLIC
    for kind, content in contents.items():
        short = content.short
        assert 0 < len(short) <= sms.SHORT_LIMIT, kind
        link = short.rsplit(" ", 1)[1]
        assert link.startswith("http://127.0.0.1:8000/"), kind
        assert link in content.text, kind  # the same page the long form names
        for internal in (SECRET, engineer.username, engineer.email):
            assert internal not in short and internal not in content.text, kind
        assert "**" not in short and "[details]" not in short, kind  # Markdown read as text
        if kind in CUT:  # too long whole: cut at a word, the link kept
            assert short[: -len(link)].rstrip().endswith("..."), kind
        # Written in GSM-7, so an SMS of it (with its stop link) takes two segments at most.
        assert sms.is_gsm7(short), kind
        text = sms.fit_segments(short, "Stop: http://127.0.0.1:8000/unsubscribe/123.AbCdEfGhIj/")
        assert sms.segments(text) <= 2 and text.endswith("/unsubscribe/123.AbCdEfGhIj/"), kind


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # an extension character costs two
        ("€" * 81, 2),
        ("é" * 160, 1),  # in the GSM alphabet
        ("ł" * 70, 1),  # not: UCS-2, 70 a segment
        ("ł" * 71, 2),
        ("😀" * 35, 1),  # two UTF-16 units each
        ("😀" * 36, 2),
    ],
)
def test_segments_are_counted_as_gateways_count_them(text, count):
    assert sms.segments(text) == count


def test_typography_is_spelled_in_gsm7_and_what_cannot_be_is_cut_to_fit():
    assert sms.plain("“Done” — at last…") == '"Done" - at last...'
    link = "https://status.example.com/r/1/"
    fitted = sms.fit_segments("Zażółć gęślą jaźń " * 20, f"Stop: {link}")
    assert sms.segments(fitted) == 2 and fitted.endswith(link)
    short = sms.fit("word " * 100, link)
    assert len(short) <= 280 and short.endswith(f"... {link}")


def test_an_sms_keeps_the_public_link_and_the_stop_link_whole(contents):
    """The short form is cut for two segments around its links, never through them."""
    from notifications.channels import sms_text
    from notifications.models import Delivery

    for kind, content in contents.items():
        link = content.short.rsplit(" ", 1)[1]
        message = Message(kind=kind, subject=content.subject, short=content.short)
        text = sms_text(message, Delivery(address="+14155550100", subscriber_id=12))
        assert f" {link} Stop: http://127.0.0.1:8000/unsubscribe/12." in text, kind
        assert sms.segments(text) <= 2, kind
        assert "...." not in text, kind
