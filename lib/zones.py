"""Which zone instants are shown in, for this request or task: plain Python, no Django.

The window engine words its refusals with it ("Wed 02 Dec 2026 00:00 PST (2026-12-02 08:00
UTC)"), and so do pages and e-mail (lib.instants). A default is configured at start-up (the
public display zone); the desk's requests show the team's zone or the reader's own.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

_default: ZoneInfo | None = None
_zone: contextvars.ContextVar[ZoneInfo | None] = contextvars.ContextVar("zone", default=None)


@lru_cache(maxsize=64)
def named(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def configure(default: str | None) -> None:
    """Set the zone used when no request or task chose one (None: UTC only)."""
    global _default
    _default = named(default) if default else None


def current() -> ZoneInfo | None:
    return _zone.get() or _default


@contextlib.contextmanager
def shown_in(zone: ZoneInfo | str):
    """Show instants in ``zone`` within the block."""
    token = _zone.set(named(zone) if isinstance(zone, str) else zone)
    try:
        yield
    finally:
        _zone.reset(token)


def iso_utc(instant: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as the API, pages' <time> elements and webhooks give instants."""
    if instant is None:
        return None
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
