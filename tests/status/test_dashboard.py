"""The probes' dashboard: gaps (a cluster that was down) are "no data", never uptime; uptime,
bars and latency points come from the rollups; the include renders without script or style."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.template.loader import render_to_string

from status import probing, selectors
from status.models import ProbeRollup

Result = probing.Result
START = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
FIVE = dt.timedelta(minutes=5)


def _run_for(traveller, minutes: int):
    """The cluster's schedule, every 5 minutes, for ``minutes`` (the clock travelling)."""
    for _ in range(minutes // 5):
        probing.run_due_probes()
        traveller.shift(FIVE)


def test_a_cluster_restart_is_a_gap_not_uptime(server, make_probe):
    server.switch = "ok"
    probe = make_probe(f"{server.base}/switch", failures_to_open=100)
    with time_machine.travel(START, tick=False) as traveller:
        _run_for(traveller, 60)  # 10:00–10:55 up: 12 samples
        traveller.shift(dt.timedelta(hours=2))  # the cluster is down: 11:00–12:59 never run
        _run_for(traveller, 30)  # 13:00–13:25 up: 6 samples
        server.switch = "fail"
        _run_for(traveller, 30)  # 13:30–13:55 down: 6 samples
        now = dt.datetime.now(dt.UTC)
    assert now == dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
    assert probe.samples.count() == 24
    hours = dict(
        ProbeRollup.objects.filter(probe=probe, period="hour").values_list("start", "samples")
    )
    assert hours == {START: 12, START.replace(hour=13): 12}  # no rows for 11:00 and 12:00

    [shown] = selectors.probe_dashboard(now)
    # 18 up of 24 sampled — not 18 of 48 (gaps as down), nor 42 of 48 (gaps as up).
    assert shown.uptime == {"24h": 0.75, "7d": 0.75, "30d": 0.75, "90d": 0.75}
    assert shown.status == "down"
    points = {p.start: p for p in shown.latency}
    assert len(shown.latency) == 168
    assert shown.latency[-1].start == now  # the current hour, not measured yet
    for gap in (START.replace(hour=11), START.replace(hour=12), now):
        assert (points[gap].p50_ms, points[gap].p95_ms) == (None, None)
    assert points[START].p50_ms is not None and points[START.replace(hour=13)].p50_ms is not None
    # Every hour before 10:00 had no probe at all: gaps too.
    assert sum(1 for p in shown.latency if p.p50_ms is None) == 168 - 2
    # The chart's lines break at the gap: two separate runs of points (two "M" moves).
    assert shown.chart["p50"].count("M") == 2

    assert len(shown.bars) == 90 and shown.bars[-1].date == now.date()
    assert (shown.bars[-1].uptime, shown.bars[-1].samples, shown.bars[-1].level) == (
        0.75,
        24,
        "down",
    )
    assert all(bar.uptime is None and bar.level == "none" for bar in shown.bars[:-1])

    # Twenty-five hours later, the 24-hour figure has no data at all: None, not 0 % or 100 %.
    later = selectors.probe_dashboard(now + dt.timedelta(hours=25))[0]
    assert later.uptime["24h"] is None and later.uptime["7d"] == 0.75
    assert later.status == "no data"


def _record(probe, at, up=True, latency=10):
    probing.record(
        probe.pk, Result(up, latency, 200 if up else 500, "" if up else "wrong_status"), at
    )


def test_uptime_windows_read_hourly_then_daily_rollups(make_probe):
    probe = make_probe("http://127.0.0.1:9/", failures_to_open=100)
    now = dt.datetime(2026, 11, 30, 12, 30, tzinfo=dt.UTC)
    _record(probe, now - dt.timedelta(hours=1))  # in the last 24 h
    _record(probe, now - dt.timedelta(days=3), up=False)  # 7 days
    _record(probe, now - dt.timedelta(days=20))  # 30 days
    _record(probe, now - dt.timedelta(days=60), up=False)  # 90 days
    _record(probe, now - dt.timedelta(days=100))  # beyond
    [shown] = selectors.probe_dashboard(now)
    assert shown.uptime == {"24h": 1.0, "7d": 0.5, "30d": 2 / 3, "90d": 0.5}
    bars = [bar for bar in shown.bars if bar.uptime is not None]
    assert [(b.date, b.uptime) for b in bars] == [
        (dt.date(2026, 10, 1), 0.0),
        (dt.date(2026, 11, 10), 1.0),
        (dt.date(2026, 11, 27), 0.0),
        (dt.date(2026, 11, 30), 1.0),
    ]


def test_uptime_bars_of_a_probe_and_of_a_component(make_probe, component):
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    a = make_probe("http://127.0.0.1:9/a", failures_to_open=100)
    b = make_probe("http://127.0.0.1:9/b", failures_to_open=100)
    for i in range(3):
        _record(a, now - i * FIVE)
        _record(b, now - i * FIVE, up=i == 0)
    _record(a, now - dt.timedelta(days=1))
    bars = selectors.uptime_bars(a, days=3, now=now)
    assert [(bar.date.day, bar.uptime) for bar in bars] == [(28, None), (29, 1.0), (30, 1.0)]
    bars = selectors.uptime_bars(component.pk, now=now)
    assert len(bars) == 90
    assert (bars[-1].uptime, bars[-1].samples) == (4 / 6, 6)
    assert bars[-2].uptime == 1.0 and bars[-3].uptime is None


def test_no_probes_no_dashboard(db):
    assert selectors.probe_dashboard(START) == []
    assert "No probes are configured." in render_to_string("status/_probes.html", {"dashboard": []})


def test_the_include_renders_bars_lines_and_tables_without_style_or_script(
    make_probe, operator_like
):
    probe = make_probe("http://127.0.0.1:9/", name="Search health")
    for i in range(12):
        _record(probe, START + i * FIVE, latency=20 + i)
    for i in range(3):
        _record(probe, START + dt.timedelta(hours=3) + i * FIVE, up=False)
    _record(probe, START + dt.timedelta(hours=3, minutes=20))  # recovered
    now = START + dt.timedelta(hours=3, minutes=25)
    html = render_to_string(
        "status/_probes.html",
        {"dashboard": selectors.probe_dashboard(now), "show_desk_notes": True},
    )
    assert "Search health" in html and "Items API" in html
    assert re.search(r'class="probe-status status-up">Up<', html)
    assert "Recovered — consider resolving incident #" in html
    assert html.count('class="bar-') == 90 and html.count('class="bar-none"') == 89
    assert 'class="p50" d="M' in html and 'class="p95" d="M' in html
    assert html.count("<tr>") == 2 + 90 + 168
    assert "style=" not in html and "<script" not in html
    assert "http://127.0.0.1" not in html  # a probe's (perhaps internal) URL is never shown
    public = render_to_string("status/_probes.html", {"dashboard": selectors.probe_dashboard(now)})
    assert "consider resolving" not in public


@pytest.fixture
def operator_like(django_user_model):
    from django.contrib.auth.models import Group

    from accounts import roles

    user = django_user_model.objects.create_user("opal", "opal@example.com", "pw")
    user.groups.add(Group.objects.get(name=roles.OPERATIONS))
    return user
