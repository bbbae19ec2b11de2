"""How an instant is shown to people: local display zone and UTC, in a <time datetime> element."""

from __future__ import annotations

import datetime as dt

from django import template
from django.conf import settings
from django.utils.html import format_html

from releases.windows import get_zone, iso_utc

register = template.Library()


def local_and_utc(instant: dt.datetime) -> str:
    """'Wed 25 Nov 2026 00:00 PST (08:00 UTC)', in the display zone."""
    local = instant.astimezone(get_zone(settings.DISPLAY_TIME_ZONE))
    utc = instant.astimezone(dt.UTC)
    same_day = local.date() == utc.date()
    utc_text = utc.strftime("%H:%M UTC" if same_day else "%a %H:%M UTC")
    return f"{local:%a %d %b %Y %H:%M %Z} ({utc_text})"


@register.simple_tag
def instant(value: dt.datetime | None, empty: str = "—"):
    """<time datetime="…Z">local (UTC)</time>; machine-readable and readable by people."""
    if value is None:
        return empty
    return format_html('<time datetime="{}">{}</time>', iso_utc(value), local_and_utc(value))
