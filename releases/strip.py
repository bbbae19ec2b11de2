"""A release's life on one line: the numbers for the timeline strip on its desk page (SVG).

Plain Python: instants in, coordinates and labels out; the template
(admin/releases/release/strip.html) only writes them into SVG elements. Time runs left to
right over everything shown: the window that holds the scheduled start (from the engine), the
scheduled run (start + expected duration) and each step of the release's life from its
timeline. The window and the run are what people look at, and a release is often scheduled
and announced days before them: drawn to one scale, three hours would be a sliver at the end
of a week. So the window and run get most of the width, to scale, and what happened long
before or after gets a stretch of its own at either side, to its own scale, past a break in
the axis (drawn as one). Labels that would collide are stacked in lanes above the axis, so
none hides another; the same instants are listed in a table beside it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from lib.instants import local_and_utc
from lib.zones import iso_utc
from releases.models import Release, ReleaseEvent
from releases.windows import Window

# The steps of a release's life, as the strip names them (releases.timeline has the sentences).
STEPS = {
    "scheduled": "Scheduled",
    "announce": "Announced",
    "start": "Started",
    "complete": "Completed",
    "verify": "Verified",
    "rollback": "Rolled back",
    "cancel": "Cancelled",
}

WIDTH = 720
MARGIN = 16  # left and right, so a mark at either end is not cut off
SIDE = 0.24  # the share of the width a stretch before or after the focus gets
BREAK = 14  # the gap in the axis between a side stretch and the focus
LANE = 32  # height of one row of labels
CHAR = 6.6  # estimated width of one character at the strip's label size (11 px)
GAP = 10  # the least room between two labels in one lane
BAND_HEIGHT = 22
AXIS_LABELS = 52  # room under the bands for the axis's tick labels and the key


@dataclass(frozen=True)
class Mark:
    """One instant: a tick on the axis and a two-line label (what; when, local)."""

    key: str  # "announce", "scheduled_start", …
    name: str  # "Announced"
    at: dt.datetime
    when: str  # "Wed 02 Dec 00:10"
    full: str  # local and UTC, in full
    x: float
    lane: int
    label_y: float
    anchor: str  # "start" or "end": labels near the right edge run leftwards

    @property
    def iso(self) -> str | None:
        return iso_utc(self.at)

    @property
    def leader_top(self) -> float:
        """Where its dashed line up from the axis stops: just under its label."""
        return self.label_y + 17


@dataclass(frozen=True)
class Band:
    """A span drawn as a bar: the window, or the scheduled run."""

    key: str  # "window" | "run"
    name: str
    start: dt.datetime
    end: dt.datetime
    x: float
    width: float
    y: float
    height: float
    full: str  # "Wed 02 Dec 2026 00:00 PST (08:00 UTC) – …"


@dataclass(frozen=True)
class Tick:
    x: float
    text: str


@dataclass(frozen=True)
class Strip:
    title: str
    description: str
    width: int
    height: int
    axis_y: float
    bands: list[Band]
    marks: list[Mark]
    ticks: list[Tick]
    segments: list[Segment]  # the axis: one line each, a break between two
    rows: list[tuple[str, dt.datetime, dt.datetime | None]]  # the table: what, from, until
    zone: str

    @property
    def tick_bottom(self) -> float:
        return self.axis_y + BAND_HEIGHT + 4

    @property
    def tick_text_y(self) -> float:
        return self.axis_y + BAND_HEIGHT + 16

    @property
    def key_y(self) -> float:
        """The key under the axis: which bar is the window, which the run."""
        return self.axis_y + BAND_HEIGHT + 34

    @property
    def key(self) -> list[tuple[int, Band]]:
        """Each bar's swatch and name in the key, side by side: (x offset, band)."""
        return [(i * 170, band) for i, band in enumerate(self.bands)]

    @property
    def breaks(self) -> list[float]:
        """Where the axis breaks: the middle of each gap between two segments."""
        return [round((a.x2 + b.x1) / 2, 1) for a, b in itertools.pairwise(self.segments)]


@dataclass(frozen=True)
class Segment:
    """A stretch of the axis: [start, end) drawn from x1 to x2, each to its own scale."""

    start: dt.datetime
    end: dt.datetime
    x1: float
    x2: float
    focus: bool = False

    def x(self, instant: dt.datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        share = (instant - self.start).total_seconds() / span
        return round(self.x1 + share * (self.x2 - self.x1), 1)


def _segments(
    t0: dt.datetime, t1: dt.datetime, focus: tuple[dt.datetime, dt.datetime]
) -> list[Segment]:
    """The focus to scale; what lies further from it than its own length on either side,
    in a stretch of its own past a break. Nearer than that, the focus just widens."""
    lo, hi = focus
    length = max(hi - lo, dt.timedelta(hours=1))
    before, after = lo - t0 > length, t1 - hi > length
    lo, hi = (lo if before else t0), (hi if after else t1)
    inner = WIDTH - 2 * MARGIN
    left = MARGIN + (SIDE * inner if before else 0)
    right = WIDTH - MARGIN - (SIDE * inner if after else 0)
    segments = []
    if before:
        segments.append(Segment(t0, lo, MARGIN, left - BREAK))
    segments.append(Segment(lo, hi, left, right, focus=True))
    if after:
        segments.append(Segment(hi, t1, right + BREAK, WIDTH - MARGIN))
    return segments


def _scale(segments: list[Segment]):
    # An instant on the edge of the focus (the window's opening) belongs to the focus.
    ordered = sorted(segments, key=lambda s: not s.focus)

    def x(instant: dt.datetime) -> float:
        for segment in ordered:
            if segment.start <= instant <= segment.end:
                return segment.x(instant)
        return segments[0].x(instant) if instant < segments[0].start else segments[-1].x(instant)

    return x


def _lanes(points: list[tuple[float, float]]) -> list[tuple[int, str]]:
    """A lane and an anchor for each label (x, width), in time order: the first lane where it
    does not touch the label before it."""
    ends: list[float] = []  # rightmost x used in each lane
    placed = []
    for x, width in points:
        anchor = "end" if x + width > WIDTH - MARGIN / 2 else "start"
        left, right = (x - width, x) if anchor == "end" else (x, x + width)
        lane = next((i for i, end in enumerate(ends) if end + GAP <= left), len(ends))
        if lane == len(ends):
            ends.append(right)
        else:
            ends[lane] = right
        placed.append((lane, anchor))
    return placed


# Tick steps to choose from, shortest first: about six ticks whatever the span.
STEPS_BETWEEN_TICKS = [
    dt.timedelta(hours=h) for h in (1, 2, 3, 6, 12, 24, 48, 7 * 24, 14 * 24, 28 * 24)
]


def _ticks(segment: Segment, zone: ZoneInfo) -> list[Tick]:
    """Ticks at round local hours (or midnights) within a segment."""
    t0, t1, x = segment.start, segment.end, segment.x
    span = t1 - t0
    step = next((s for s in STEPS_BETWEEN_TICKS if span / s <= 7), STEPS_BETWEEN_TICKS[-1])
    local = t0.astimezone(zone)
    if step >= dt.timedelta(days=1):
        # Local midnights, every step's worth of days.
        cursor = dt.datetime.combine(local.date(), dt.time(), tzinfo=zone)
        days = step.days
        ticks = []
        while cursor.astimezone(dt.UTC) <= t1:
            if cursor.astimezone(dt.UTC) >= t0:
                ticks.append(Tick(x(cursor.astimezone(dt.UTC)), f"{cursor:%a %d %b}"))
            cursor = dt.datetime.combine(cursor.date() + dt.timedelta(days=days), dt.time(), zone)
        return ticks
    hours = int(step.total_seconds() // 3600)
    cursor = local.replace(minute=0, second=0, microsecond=0)
    ticks = []
    instant = cursor.astimezone(dt.UTC)
    while instant <= t1:
        wall = instant.astimezone(zone)
        if instant >= t0 and wall.hour % hours == 0 and wall.minute == 0:
            text = f"{wall:%a %d %b}" if wall.hour == 0 else f"{wall:%H:%M}"
            ticks.append(Tick(x(instant), text))
        instant += dt.timedelta(hours=1)  # by elapsed hours: right across a DST change
    return ticks


def release_strip(
    release: Release, events: Iterable[ReleaseEvent], window: Window | None, zone: ZoneInfo
) -> Strip:
    """The strip of ``release``: ``window`` (the one holding its scheduled start, or None),
    its scheduled run, and the steps among ``events``, with local times in ``zone``."""
    steps = [(e.action, STEPS[e.action], e.at) for e in events if e.action in STEPS]
    instants = [release.scheduled_start, release.expected_end, *(at for _, _, at in steps)]
    if window is not None:
        instants += [window.start, window.end]
    t0, t1 = min(instants), max(instants)
    if t1 - t0 < dt.timedelta(hours=1):
        t1 = t0 + dt.timedelta(hours=1)
    focus = [release.scheduled_start, release.expected_end]
    if window is not None:
        focus += [window.start, window.end]
    segments = _segments(t0, t1, (min(focus), max(focus)))
    x = _scale(segments)

    def when(instant: dt.datetime) -> str:
        return f"{instant.astimezone(zone):%a %d %b %H:%M %Z}"

    points = [("scheduled_start", "Scheduled start", release.scheduled_start)]
    points += [(key, name, at) for key, name, at in steps]
    points.sort(key=lambda p: p[2])
    # Two lines each: the name, then the time; as wide as the longer.
    sizes = [(x(at), CHAR * max(len(name), len(when(at)))) for _, name, at in points]
    lanes = _lanes(sizes)
    lane_count = max((lane for lane, _ in lanes), default=0) + 1
    top = 8
    axis_y = top + lane_count * LANE + 12
    marks = [
        Mark(
            key,
            name,
            at,
            when(at),
            local_and_utc(at, zone),
            xs,
            lane,
            # Lane 0 is nearest the axis; each further lane one row higher.
            axis_y - (lane + 1) * LANE + 4,
            anchor,
        )
        for (key, name, at), (xs, _), (lane, anchor) in zip(points, sizes, lanes, strict=True)
    ]
    bands = []
    if window is not None:
        bands.append(
            _band("window", "Window", window.start, window.end, x, axis_y, BAND_HEIGHT, zone)
        )
    bands.append(
        _band(
            "run",
            f"Scheduled run ({release.expected_duration_minutes} min)",
            release.scheduled_start,
            release.expected_end,
            x,
            axis_y + 5,
            BAND_HEIGHT - 10,
            zone,
        )
    )
    rows: list[tuple[str, dt.datetime, dt.datetime | None]] = []
    if window is not None:
        rows.append(("Window", window.start, window.end))
    rows.append(
        (
            f"Scheduled run ({release.expected_duration_minutes} min)",
            release.scheduled_start,
            release.expected_end,
        )
    )
    rows += [(name, at, None) for _, name, at in steps]
    title = f"Timeline of {release}"
    if window is None:
        where = (
            "an exceptional release: no regular window"
            if release.kind == Release.Kind.EXCEPTIONAL
            else "no window holds its scheduled start"
        )
    else:
        where = f"its window {when(window.start)} – {when(window.end)}"
    description = "; ".join(
        [
            f"{title}, times in {zone.key}: {where}",
            f"scheduled run {when(release.scheduled_start)} – {when(release.expected_end)}",
            *(f"{name} {when(at)}" for _, name, at in steps),
        ]
    )
    return Strip(
        title=title,
        description=description + ".",
        width=WIDTH,
        height=int(axis_y + BAND_HEIGHT + AXIS_LABELS),
        axis_y=axis_y,
        bands=bands,
        marks=marks,
        # Ticks where the scale is the focus's; a side stretch is read from its marks' labels.
        ticks=_ticks(next(s for s in segments if s.focus), zone),
        segments=segments,
        rows=rows,
        zone=zone.key,
    )


def _band(key, name, start, end, x, y, height, zone) -> Band:
    left, right = x(start), x(end)
    return Band(
        key,
        name,
        start,
        end,
        left,
        max(round(right - left, 1), 3.0),  # a short span still shows
        y,
        height,
        f"{local_and_utc(start, zone)} – {local_and_utc(end, zone)}",
    )
