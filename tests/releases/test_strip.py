"""The timeline strip on a release's desk page: an SVG of its window, its run and its life."""

import datetime as dt
import itertools
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine

from releases import services, strip
from releases.selectors import window_calendar
from tests.helpers import IN_SLOT, NOW, WED_WINDOW, utc

pytestmark = pytest.mark.django_db
ADMIN = "/admin/releases/release/"
START = WED_WINDOW + dt.timedelta(minutes=30)  # Wed 02 Dec 00:30 PST


@pytest.fixture(autouse=True)
def monday_evening():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rolled_back(make_release, engineer):
    release = make_release(version="2.1.0", scheduled_start=START)
    services.release_announce(release=release, by=engineer, at=NOW + dt.timedelta(hours=2))
    services.release_start(release=release, by=engineer, at=START + dt.timedelta(minutes=5))
    services.release_complete(release=release, by=engineer, at=START + dt.timedelta(minutes=50))
    return services.release_rollback(
        release=release, by=engineer, reason="errors", at=START + dt.timedelta(hours=3)
    )


def marks_of(svg: str) -> list[tuple[str, str, float]]:
    """(key, ISO instant, x of its dot) for each mark, in document order."""
    mark = r'<g class="strip-mark [^"]*" data-key="([^"]+)" data-at="([^"]+)">'
    found = re.findall(mark + r'.*?<circle cx="([\d.]+)"', svg, re.S)
    return [(key, at, float(x)) for key, at, x in found]


def test_the_release_page_draws_its_window_run_and_life_in_order(desk_page):
    start = desk_page.index('<svg class="strip-svg"')
    svg = desk_page[start : desk_page.index("</svg>", start)]
    html = desk_page
    assert '<title id="strip-title">Timeline of items-api 2.1.0</title>' in svg
    desc = re.search(r'<desc id="strip-desc">(.*?)</desc>', svg, re.S).group(1)
    assert "its window Wed 02 Dec 00:00 PST – Wed 02 Dec 03:00 PST" in desc
    assert "scheduled run Wed 02 Dec 00:30 PST – Wed 02 Dec 01:30 PST" in desc
    assert "Rolled back Wed 02 Dec 03:30 PST" in desc
    marks = marks_of(svg)
    assert [key for key, _, _ in marks] == [
        "scheduled",
        "announce",
        "scheduled_start",
        "start",
        "complete",
        "rollback",
    ]
    instants = [dt.datetime.fromisoformat(at) for _, at, _ in marks]
    xs = [x for _, _, x in marks]
    assert instants == sorted(instants) and xs == sorted(xs) and len(set(xs)) == len(xs)
    for name in ("Scheduled", "Announced", "Scheduled start", "Started", "Completed"):
        assert f'<tspan class="strip-name">{name}</tspan>' in svg
    assert "Wed 02 Dec 00:35 PST</tspan>" in svg  # started, in the desk's zone
    window = re.search(r'data-key="window" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    run = re.search(r'data-key="run" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    # The run starts half an hour into the window and ends inside it.
    assert float(window[1]) < float(run[1])
    assert float(run[1]) + float(run[2]) < float(window[1]) + float(window[2])
    # The same instants as a table, local and UTC.
    table = html[html.index('<table class="strip-table">') :]
    table = table[: table.index("</table>")]
    assert "Scheduled run (60 min)" in table and "Rolled back" in table
    assert "Wed 02 Dec 2026 00:35 PST (08:35 UTC)" in table


@pytest.fixture
def desk_page(client, engineer, rolled_back):
    client.force_login(engineer)
    return client.get(f"{ADMIN}{rolled_back.pk}/change/").content.decode()


def test_the_strip_sits_beside_the_lifecycle_buttons(client, engineer, make_release):
    release = make_release(version="2.2.0", scheduled_start=START)
    client.force_login(engineer)
    html = client.get(f"{ADMIN}{release.pk}/change/").content.decode()
    assert f"{ADMIN}{release.pk}/lifecycle/announce/" in html
    assert f"{ADMIN}{release.pk}/confirm/cancel/" in html
    assert html.index('class="lifecycle"') < html.index('class="panel strip"')
    assert '<svg class="strip-svg" role="img"' in html


def test_labels_that_would_collide_go_to_separate_lanes(rolled_back):
    window = window_calendar().window_at(rolled_back.scheduled_start, "items-api")
    drawn = strip.release_strip(
        rolled_back, rolled_back.events.order_by("at", "id"), window, ZoneInfo("Asia/Tokyo")
    )
    assert drawn.zone == "Asia/Tokyo"
    assert [m.when for m in drawn.marks if m.key == "start"] == ["Wed 02 Dec 17:35 JST"]
    # Started, completed and rolled back are minutes apart on a two-day axis: stacked.
    lanes = {m.key: m.lane for m in drawn.marks}
    assert len({lanes["scheduled_start"], lanes["start"], lanes["complete"]}) == 3
    by_lane: dict[int, list[tuple[float, float]]] = {}
    for mark in drawn.marks:
        width = strip.CHAR * max(len(mark.name), len(mark.when))
        left = mark.x - width if mark.anchor == "end" else mark.x
        by_lane.setdefault(mark.lane, []).append((left, left + width))
    for boxes in by_lane.values():
        boxes.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(boxes))
    assert all(0 <= m.x <= drawn.width for m in drawn.marks)


def test_an_exceptional_release_has_no_window_band(make_release):
    release = make_release(version="2.3.0", kind="exceptional", scheduled_start=IN_SLOT)
    drawn = strip.release_strip(
        release, release.events.all(), None, ZoneInfo("America/Los_Angeles")
    )
    assert [b.key for b in drawn.bands] == ["run"]
    assert "an exceptional release: no regular window" in drawn.description
    assert [row[0] for row in drawn.rows] == ["Scheduled run (60 min)", "Scheduled"]
    assert drawn.ticks and drawn.ticks[0].x >= 0
    assert utc(2026, 12, 1) < release.scheduled_start
