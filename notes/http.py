"""Conditional GET for everything public (pages, feeds, the notes API): validators made of what
changed and of the clock (notes.selectors.public_version), so a revalidation costs two queries."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import partial

from django.conf import settings
from django.utils import timezone
from django.views.decorators.http import condition

from notes import selectors
from releases.windows import get_zone


def _etag(request, *args, windows: bool = False, day: bool = False, **kwargs) -> str:
    # The path and query string are part of what a page shows; the digest is stable across
    # processes (Python's hash() is not), so every gunicorn worker agrees on it. The view reads
    # the same instant (request.now), so the page and its validator agree on what was public.
    request.now = timezone.now()
    path = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:12]
    version = selectors.public_version(request.now, windows=windows)
    if day:
        # A page that marks today (and shows this month when asked for no date) changes at
        # local midnight too.
        version += f"-{request.now.astimezone(display_zone()):%Y%m%d}"
    return f'"{version}-{path}"'


def display_zone():
    return get_zone(settings.DISPLAY_TIME_ZONE)


def request_now(request) -> dt.datetime:
    return getattr(request, "now", None) or timezone.now()


public = condition(etag_func=_etag)
# Pages that say whether each component's window is open now.
public_with_windows = condition(etag_func=partial(_etag, windows=True))
# The calendar: windows, and which day is today.
public_calendar = condition(etag_func=partial(_etag, windows=True, day=True))
