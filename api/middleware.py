"""Requests no view should ever see: refused at the door with a clear 4xx."""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse

from api.problems import PROBLEM_CONTENT_TYPE, problem


class RefuseControlCharactersMiddleware:
    """A NUL (or other C0 control character) in the path or query string is refused.

    PostgreSQL cannot hold NUL in text, so a slug or filter carrying one would fail deep in a
    query; no legitimate link contains control characters at all.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/") and _too_long(request):
            # DRF reads a body whole, past Django's own limit: refuse it before anyone reads it.
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return JsonResponse(
                problem(413, f"The request body is larger than {limit} bytes.", code="too_large"),
                status=413,
                content_type=PROBLEM_CONTENT_TYPE,
            )
        raw = request.path + request.META.get("QUERY_STRING", "")
        decoded = request.path + "".join(
            f"{key}{''.join(values)}" for key, values in request.GET.lists()
        )
        if _has_control(decoded) or "%00" in raw:
            detail = "The address contains a control character (such as NUL); remove it."
            if request.path.startswith("/api/"):
                return JsonResponse(
                    problem(400, detail, code="bad_request"),
                    status=400,
                    content_type=PROBLEM_CONTENT_TYPE,
                )
            return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _too_long(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None
