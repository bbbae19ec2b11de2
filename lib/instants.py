"""How an instant is shown to people: in the zone they think in, with UTC beside it.

The zone is the team's (TEAM_TIME_ZONE) on the desk, the reader's own choice if they made one,
and the public display zone (DISPLAY_TIME_ZONE) on the public site and in e-mail. A request
sets it for its duration (accounts.middleware); everything else gets the display zone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.html import format_html

from lib import zones
from lib.zones import iso_utc, shown_in

__all__ = ["display_zone", "html", "iso_utc", "local_and_utc", "shown_in", "zone_label"]


def display_zone() -> ZoneInfo:
    """The zone instants are shown in right now."""
    return zones.current() or zones.named(settings.DISPLAY_TIME_ZONE)


def local_and_utc(instant: dt.datetime, zone: ZoneInfo | None = None) -> str:
    """'Wed 25 Nov 2026 00:00 PST (08:00 UTC)', in the zone people read."""
    try:
        local = instant.astimezone(zone or display_zone())
    except OverflowError:  # a stored instant at datetime's very edge: UTC is all it has
        return f"{instant:%Y-%m-%d %H:%M} UTC"
    utc = instant.astimezone(dt.UTC)
    if local.utcoffset() == dt.timedelta(0) and local.tzname() in ("UTC", "GMT"):
        return f"{utc:%a %d %b %Y %H:%M} UTC"
    same_day = local.date() == utc.date()
    utc_text = utc.strftime("%H:%M UTC" if same_day else "%a %H:%M UTC")
    return f"{local:%a %d %b %Y %H:%M %Z} ({utc_text})"


def zone_label(zone: ZoneInfo | None = None) -> str:
    """'America/Los_Angeles, PST now': how a form field says which zone it takes."""
    zone = zone or display_zone()
    now = dt.datetime.now(zone)
    return f"{zone.key}, {now:%Z} now"


def html(value: dt.datetime | None, empty: str = "—"):
    """<time datetime="…Z">local (UTC)</time>; machine-readable and readable by people."""
    if value is None:
        return empty
    return format_html('<time datetime="{}">{}</time>', iso_utc(value), local_and_utc(value))
