"""How an instant is shown on a page: local display zone and UTC, in a <time datetime> element."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.html import format_html

from lib.instants import local_and_utc
from releases.windows import iso_utc

register = template.Library()

__all__ = ["instant", "local_and_utc"]


@register.simple_tag
def instant(value: dt.datetime | None, empty: str = "—"):
    """<time datetime="…Z">local (UTC)</time>; machine-readable and readable by people."""
    if value is None:
        return empty
    return format_html('<time datetime="{}">{}</time>', iso_utc(value), local_and_utc(value))
