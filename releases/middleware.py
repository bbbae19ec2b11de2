"""The gate's hot path, ahead of the middleware it has no use for.

Every pipeline asks the gate before every deploy. A GET of the gate that goes well is answered
here, below the middleware every response needs (security headers, the control-character
check, static files, the host check and Content-Length, X-Frame-Options) and above the ones the
gate never reads: sessions, CSRF, the session's user, the desk's time zone, the audit's request,
messages and login lock-outs. GateView authenticates by API key only and answers nothing but
reads, so what it would have said is said here, byte for byte (tests compare the two).

Anything else — another path or method, a request with cookies (a browser, never a pipeline:
the session and CSRF middleware may mend or drop them), a key refused, a throttled client, a
bad parameter — goes on down the stack to GateView, which answers it as every endpoint does,
the call counted once (``accounts.permissions.COUNTED``).
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpResponse
from django.urls import NoReverseMatch, get_script_prefix, reverse, set_script_prefix
from rest_framework import exceptions

from accounts import roles
from accounts.authentication import ApiKeyAuthentication
from accounts.permissions import public_hit
from lib import freshness
from lib.errors import Invalid
from releases import gate


class GateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == _gate_path(settings.ROOT_URLCONF):
            response = answer_fast(request)
            if response is not None:
                return response
        return self.get_response(request)


@functools.lru_cache(maxsize=8)
def _gate_path(urlconf: str) -> str | None:
    """The gate's path as ``request.path_info`` holds it (without a script prefix)."""
    prefix = get_script_prefix()
    set_script_prefix("/")  # reverse() quotes the prefix it adds (a mount path with a space)
    try:
        return reverse("api:gate", urlconf=urlconf)
    except NoReverseMatch:  # a URLconf without the API
        return None
    finally:
        set_script_prefix(prefix)


def answer_fast(request) -> HttpResponse | None:
    """The gate's answer to a GET that goes well (the same JSON, key and throttle as
    GateView's), or None: anything else is GateView's to answer."""
    if request.method != "GET" or (params := _query(request)) is None:
        return None
    if request.META.get("HTTP_COOKIE"):  # a browser: the session and CSRF middleware may
        return None  # mend or drop its cookies, and GateView's answer carries that
    with freshness.one_look():  # the key's and the rules' revisions: one look at the database
        user = None
        if request.META.get("HTTP_AUTHORIZATION"):
            try:
                found = ApiKeyAuthentication().authenticate_shared(request)  # only read
            except exceptions.APIException:  # a key refused: GateView says why
                return None
            if found is None:  # not a Bearer header
                return None
            user = found[0]
        elif not public_hit(request).allowed:
            return None  # its 429
        try:
            body = gate.ask_json(params, team=roles.is_release_team(user))  # as DRF renders it
        except Invalid:
            return None  # its 400
    response = HttpResponse(body.encode(), content_type="application/json")
    response["Allow"] = "GET, HEAD, OPTIONS"  # no Vary: one renderer, nothing negotiated
    return response


def _query(request) -> dict | None:
    """The query string as ``request.GET.get`` reads it (the last value of each name), for a
    plain ASCII one; None for anything else, which ``request.GET`` parses (and refuses)."""
    raw = request.META.get("QUERY_STRING", "")
    if not raw.isascii():
        return None
    try:
        pairs = parse_qsl(
            raw,
            keep_blank_values=True,
            encoding="utf-8",
            max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
        )
    except ValueError:  # too many fields: GateView's 400
        return None
    return dict(pairs)
