"""The probes' dashboard's repeated markup, built in Python.

A dashboard of 20 probes repeats 90 bars, 90 daily rows and 168 hourly rows per probe: some
7,000 iterations that Django's template loops render in about half a second, and these string
joins in a few milliseconds. What is written here is only dates and figures formatted here
(nothing a user typed), and the markup is what the template would have written. The same 90
days and 168 hours head every probe's rows, so their labels are formatted once.
"""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.utils.safestring import mark_safe

from status.selectors import BAR_HEIGHT, BAR_WIDTH, ProbeStatus, percent

# Dates, hours and percentages formatted here hold no character HTML escapes (<>&'"): the rows
# are written without escape(), which was a third of their cost.


@lru_cache(maxsize=1024)
def _day(date) -> str:
    return f"{date:%a %d %b %Y}"


@lru_cache(maxsize=4096)
def _hour(start) -> str:
    return f"{start:%a %d %b %H:%M}"


@lru_cache(maxsize=4096)
def _percent(value) -> str:
    return percent(value)


register = template.Library()


@register.simple_tag
def probe_bar_rects(p: ProbeStatus):
    """The 90-day strip's rectangles, each titled with its day and figure (a tooltip)."""
    return mark_safe(  # noqa: S308 - built from escaped values only
        "".join(
            f'<rect x="{bar.x}" y="0" width="{BAR_WIDTH}" height="{BAR_HEIGHT}" '
            f'class="bar-{bar.level}"><title>{_title(bar)}</title></rect>'
            for bar in p.bars
        )
    )


@register.simple_tag
def probe_day_rows(p: ProbeStatus):
    """The daily uptime table's rows."""
    return mark_safe(  # noqa: S308 - built from escaped values only
        "".join(
            f"<tr><td>{_day(bar.date)}</td><td>{_percent(bar.uptime)}</td>"
            f"<td>{bar.samples}</td></tr>"
            for bar in p.bars
        )
    )


def _title(bar) -> str:
    if bar.uptime is None:
        return f"{_day(bar.date)}: no data"
    return f"{_day(bar.date)}: {_percent(bar.uptime)} up ({bar.samples} samples)"


def _ms(value: int | None) -> str:
    return "no data" if value is None else str(value)


@register.simple_tag
def probe_hour_rows(p: ProbeStatus):
    """The hourly latency table's rows."""
    return mark_safe(  # noqa: S308 - built from escaped values only
        "".join(
            f"<tr><td>{_hour(point.start)}</td><td>{_ms(point.p50_ms)}</td>"
            f"<td>{_ms(point.p95_ms)}</td></tr>"
            for point in p.latency
        )
    )
