"""Conditional GET for everything public (pages, feeds, the notes API): validators made of what
changed and of the clock (notes.selectors.public_version), so a revalidation costs two queries.

Pages and feeds go further: their body is kept in the cache every worker shares (Redis when
configured) under that validator, so a client without one — everyone, the first time, during an
outage — gets the page another worker rendered, for the price of a revalidation. The validator
names what the page shows (what changed, and the latest instant at which the clock changed
it), so an entry is never stale: a new release, an edit or a window opening makes a new one.
The notes API, which negotiates its format, keeps its data the same way (``shared_data``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import partial, wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from rest_framework.response import Response

from accounts import ratelimit
from notes import selectors
from releases.windows import get_zone


def _etag(request, *args, windows: bool = False, day: bool = False, **kwargs) -> str:
    # The address (scheme, host, path and query string) is part of what a page shows: feeds and
    # calendars link absolutely to the host asked. The digest is stable across processes
    # (Python's hash() is not), so every gunicorn worker agrees on it. The view reads the same
    # instant (request.now), so the page and its validator agree on what was public.
    request.now = timezone.now()
    path = address(request)
    version = selectors.public_version(request.now, windows=windows)
    if day:
        # A page that marks today (and shows this month when asked for no date) changes at
        # local midnight too.
        version += f"-{request.now.astimezone(display_zone()):%Y%m%d}"
    return f'"{version}-{path}"'


def address(request) -> str:
    """A short digest of the absolute URL asked for, for validators and cache keys."""
    return hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()[:12]


def display_zone():
    return get_zone(settings.DISPLAY_TIME_ZONE)


def request_now(request) -> dt.datetime:
    return getattr(request, "now", None) or timezone.now()


# An entry names its content, so it never goes stale; this only bounds what the cache holds.
PAGE_SECONDS = 3600
# A page is kept once a second reader asks for it within this time of the first.
SEEN_SECONDS = 600
# At most this many bodies are kept an hour, by every worker together: a made-up URL asked
# twice passes the second-reader rule, so the budget is what bounds the cache. Once it is spent,
# a page is rendered for each reader until the hour turns, as without the cache.
PAGES_KEPT_PER_HOUR = 2000
# Headers a page's view sets that belong with its body (middleware adds the rest each time).
_KEPT = (
    "Content-Type",
    "Content-Disposition",
    "Content-Language",
    "Cache-Control",
    "Vary",
    "Last-Modified",  # feeds say when their newest entry changed
)


# Tests give each test its own (tests/conftest.py): test databases repeat the same states.
KEY_SALT = ""


def page_key(etag: str, kind: str = "page") -> str:
    """Where a page's body (or an API view's data) is kept: its ETag (digested, so any length
    fits the key)."""
    return f"{kind}:{KEY_SALT}{hashlib.sha256(etag.encode()).hexdigest()[:40]}"


def _budget_allows() -> bool:
    """Count one body about to be kept; is it within this hour's budget?"""
    verdict = ratelimit.hit("pages-kept", KEY_SALT or "all", limit=PAGES_KEPT_PER_HOUR, period=3600)
    return verdict.allowed


def _for_everyone(request, response) -> bool:
    """Nothing in the page is its reader's own, so another reader may be given it: it read no
    session or user (SessionMiddleware would add Vary: Cookie), no CSRF token and no message,
    sets no cookie, is not private and varies on no request header."""
    session = getattr(request, "session", None)
    cache_control = response.get("Cache-Control", "").lower()
    return not (
        (session is not None and session.accessed)
        or request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
        or getattr(getattr(request, "_messages", None), "used", False)
        or response.cookies
        or "private" in cache_control
        or "no-store" in cache_control
        or response.has_header("Vary")
    )


def shared_page(etag_func):
    """Conditional GET (a 304 for a client's current ETag), and a 200's body from the shared
    cache, keyed by the ETag (which holds the address: scheme, host, path and query string),
    from a page's second reader on. For pages and feeds, which look the same to everyone at
    one address."""
    return _shared(etag_func, "page", keep=_body, restore=_from_body, shareable=_for_everyone)


def shared_data(etag_func):
    """``shared_page`` for a public API view: it negotiates its format (JSON, the browsable
    page), so what is kept is the data it renders, not a body; and only data rendered for an
    anonymous reader, which is what anyone may read (DRF reads the session to learn who asks,
    so the page's test of a session read does not apply)."""
    return _shared(
        etag_func,
        "data",
        keep=lambda response: response.data,
        restore=Response,
        shareable=lambda request, response: not request.user.is_authenticated,
    )


def _body(response) -> tuple:
    return response.content, [(h, response[h]) for h in _KEPT if response.has_header(h)]


def _from_body(stored) -> HttpResponse:
    body, headers = stored
    response = HttpResponse(body)
    for name, value in headers:
        response[name] = value
    return response


def _shared(etag_func, kind: str, *, keep, restore, shareable):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in ("GET", "HEAD"):
                return view(request, *args, **kwargs)
            etag = etag_func(request, *args, **kwargs)
            if (answer := get_conditional_response(request, etag=etag)) is not None:
                return answer
            key = page_key(etag, kind)
            stored = cache.get(key)
            if stored is not None:
                response = restore(stored)
            else:
                response = view(request, *args, **kwargs)
                # Kept from its second reader on: a page asked for once (a URL made up to fill
                # the cache, a query nobody repeats) leaves a small mark that expires, no body;
                # and the hour's budget bounds what one asked twice can keep.
                if (
                    response.status_code == 200
                    and not response.streaming
                    and shareable(request, response)
                    and not cache.add(f"seen:{key}", 1, timeout=SEEN_SECONDS)
                    and _budget_allows()
                ):
                    cache.set(key, keep(response), timeout=PAGE_SECONDS)
            if response.status_code == 200 and not response.has_header("ETag"):
                response["ETag"] = etag
            return response

        return wrapped

    return decorator


public = shared_page(_etag)
public_api = shared_data(_etag)
# Pages that say whether each component's window is open now.
public_with_windows = shared_page(partial(_etag, windows=True))
# Changes with what changed and the day (windows.ics: its time zones reach years from today).
public_daily = shared_page(partial(_etag, day=True))
# The calendar: windows, and which day is today.
public_calendar = shared_page(partial(_etag, windows=True, day=True))
