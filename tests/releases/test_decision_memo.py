"""The window engine remembers a decision for the span in which no rule's occurrence starts or
ends, and answers the gate's "now" from it. Whatever the rules, a remembered answer must be the
answer: here a busy calendar (50 policies, 200 freezes, five zones, scoped and not) is asked
about instants that follow each other closely, edges and their neighbours included, and every
answer is compared with a calendar that remembers nothing."""

import datetime as dt
import random

import pytest

from lib import zones
from releases.windows import Freeze, Interval, Policy, Recurrence, WindowCalendar

UTC = dt.UTC
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
ZONES = ["America/Los_Angeles", "Europe/London", "Australia/Lord_Howe", "UTC", "Asia/Tokyo"]
COMPONENTS = [f"c{i}" for i in range(6)]


def rules(rng: random.Random):
    policies = []
    for i in range(50):
        days = ",".join(rng.sample(DAYS, rng.randint(1, 3)))
        rec = Recurrence(
            f"FREQ=WEEKLY;BYDAY={days}", dt.time(rng.randrange(24), rng.choice([0, 30])),
            dt.timedelta(minutes=rng.randint(30, 300)), rng.choice(ZONES), dt.date(2025, 1, 1),
        )  # fmt: skip
        scope = None if i % 3 == 0 else frozenset(rng.sample(COMPONENTS, 2))
        policies.append(Policy(i, f"p{i}", rec, scope))
    freezes = []
    for i in range(200):
        scope = None if i % 4 == 0 else frozenset(rng.sample(COMPONENTS, 2))
        if i % 5 == 0:
            rec = Recurrence(
                f"FREQ=MONTHLY;BYMONTHDAY={rng.randint(1, 28)}", dt.time(rng.randrange(24)),
                dt.timedelta(hours=rng.randint(1, 12)), rng.choice(ZONES), dt.date(2025, 1, 1),
            )  # fmt: skip
            freezes.append(Freeze(1000 + i, f"f{i}", recurrence=rec, components=scope))
        else:
            start = dt.datetime(2026, 11, 1, tzinfo=UTC) + dt.timedelta(
                minutes=rng.randrange(90 * 24 * 60)
            )
            end = start + dt.timedelta(minutes=rng.randint(30, 72 * 60))
            freezes.append(Freeze(1000 + i, f"f{i}", interval=Interval(start, end),
                                  components=scope))  # fmt: skip
    return policies, freezes


def walks(rng: random.Random, calendar: WindowCalendar):
    """Instants as a pipeline asks them: from a start, a few seconds or minutes at a time, and
    every edge near the walk with its neighbours (a microsecond and a second either side)."""
    for _ in range(12):
        at = dt.datetime(2026, 11, 1, tzinfo=UTC) + dt.timedelta(minutes=rng.randrange(86400))
        component = rng.choice(COMPONENTS)
        edges = sorted(
            {e for w in calendar.windows(at, at + dt.timedelta(days=2), component)
             for e in (w.start, w.end)}
            | {e for f in calendar.freezes if f.interval for e in (f.interval.start, f.interval.end)
               if at <= e < at + dt.timedelta(days=2)}
        )  # fmt: skip
        steps = [at + dt.timedelta(seconds=rng.randrange(1, 600) * n) for n in range(40)]
        near = [e + d for e in edges for d in (
            -dt.timedelta(seconds=1), -dt.timedelta(microseconds=1), dt.timedelta(0),
            dt.timedelta(microseconds=1), dt.timedelta(seconds=1))]  # fmt: skip
        yield component, sorted(steps + near)


@pytest.mark.parametrize("zone", [None, "America/Los_Angeles"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_remembered_decision_is_the_decision(seed, zone):
    rng = random.Random(seed)
    policies, freezes = rules(rng)
    remembering = WindowCalendar(policies, freezes)
    with zones.shown_in(zone) if zone else _nowhere():
        asked = 0
        for component, instants in walks(rng, remembering):
            for at in instants:
                fresh = WindowCalendar(policies, freezes).decide(at, component)
                assert remembering.decide(at, component) == fresh, (component, at)
                asked += 1
        assert sum(len(spans) for spans in remembering._memo.values()) > 0  # it did remember
    assert asked > 400


class _nowhere:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_the_gates_rendering_of_remembered_decisions_is_the_apis():
    """decision_json renders a remembered decision's trace and windows once, for every answer
    of its span: each body must still be DRF's rendering of that very answer. Names hold
    quotes, a backslash, accents and the line separators DRF escapes."""
    from rest_framework.renderers import JSONRenderer

    from releases.serializers import decision_json, decision_payload

    rng = random.Random(4)
    policies, freezes = rules(rng)
    odd = ['Year "end"', "back\\slash", "Fête\u2028de\u2029fin", "<b>&</b>"]
    policies = [Policy(p.id, odd[p.id % 4] + p.name, p.recurrence, p.components) for p in policies]
    freezes = [
        Freeze(f.id, odd[f.id % 4] + f.reason, interval=f.interval, recurrence=f.recurrence,
               components=f.components)
        for f in freezes
    ]  # fmt: skip
    calendar = WindowCalendar(policies, freezes)
    rendered = 0
    for component, instants in walks(rng, calendar):
        for at in instants:
            decision = calendar.decide_now(at, component)
            expected = JSONRenderer().render(decision_payload(decision))
            assert decision_json(decision).encode() == expected, (component, at)
            rendered += 1
    assert rendered > 400


def test_the_words_for_an_instant_remembered_per_minute_are_each_zones_own():
    """when() keeps its words per minute: the same instant in two zones, and a zone whose
    offset had seconds (Monrovia until 1972), must each read as strftime reads them."""
    from releases.windows import when

    for name, instant in [
        ("America/Los_Angeles", dt.datetime(2026, 11, 1, 9, 30, 59, 999999, tzinfo=UTC)),
        ("Asia/Tokyo", dt.datetime(2026, 11, 1, 9, 30, 59, 999999, tzinfo=UTC)),
        ("Africa/Monrovia", dt.datetime(1971, 1, 1, 10, 0, 45, tzinfo=UTC)),
        ("Africa/Monrovia", dt.datetime(1971, 1, 1, 10, 0, 15, tzinfo=UTC)),
    ]:
        zone = zones.named(name)
        with zones.shown_in(zone):
            utc = f"{instant:%Y-%m-%d %H:%M} UTC"
            assert when(instant) == f"{instant.astimezone(zone):%a %d %b %Y %H:%M %Z} ({utc})"


def test_the_words_for_a_window_and_the_next_opening_are_each_zones_own():
    """A decision words its window and the next opening once per window and zone: the same
    instants asked in two zones in turn, of one calendar, read each zone's words."""
    weekly = Recurrence("FREQ=WEEKLY;BYDAY=WE,TH,FR", dt.time(0), dt.timedelta(hours=3),
                        "America/Los_Angeles", dt.date(2026, 1, 1))  # fmt: skip
    calendar = WindowCalendar([Policy(1, "default", weekly)])
    inside = dt.datetime(2026, 12, 2, 9, tzinfo=UTC)  # Wed 01:00 PST
    before = dt.datetime(2026, 12, 1, 9, tzinfo=UTC)  # Tue 01:00 PST
    words = {
        "America/Los_Angeles": ("Wed 02 Dec 2026 00:00–03:00 PST", "Wed 02 Dec 2026 00:00 PST"),
        "Asia/Tokyo": ("Wed 02 Dec 2026 17:00–20:00 JST", "Wed 02 Dec 2026 17:00 JST"),
    }
    for _ in range(2):
        for name, (window, opening) in words.items():
            with zones.shown_in(name):
                assert f"inside the window {window} (2026-12-02 08:00–11:00 UTC)." in (
                    calendar.decide(inside, "api").detail
                )
                assert calendar.decide(inside, "api").trace[0].detail == (
                    f"Open {window} (2026-12-02 08:00–11:00 UTC)."
                )
                assert calendar.decide(before, "api").detail.endswith(
                    f"The next window opens at {opening} (2026-12-02 08:00 UTC)."
                )
