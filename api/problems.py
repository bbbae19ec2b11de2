"""One error shape for the whole API: RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from api.parsers import BodyTooLarge
from lib import errors as domain

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_type(code: str) -> str:
    return f"urn:nightshift:problem:{code.replace('_', '-')}"


def problem(status_code: int, detail: str, *, code: str | None = None, **extra) -> dict:
    """The body of a problem response."""
    title = HTTPStatus(status_code).phrase
    body = {
        "type": problem_type(code) if code else "about:blank",
        "title": title,
        "status": status_code,
        "detail": detail,
    }
    body.update(extra)
    return body


class Refused(exceptions.APIException):
    """A domain refusal with every reason (code + sentence); 409 unless told otherwise."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "refused"

    def __init__(self, detail: str, reasons: list[dict] | None = None, *, status_code=None):
        super().__init__(detail)
        self.reasons = reasons or []
        if status_code is not None:
            self.status_code = status_code


def _first_code(codes) -> str | None:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        codes = list(codes.values())
    for item in codes or ():
        found = _first_code(item)
        if found:
            return found
    return None


def flat_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as the documented shape: field path → list of sentences.

    ``{"items": [{}, {"title": ["…"]}]}`` becomes ``{"items.1.title": ["…"]}``.
    """
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(flat_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list) and any(isinstance(v, dict | list) for v in detail):
        out = {}
        for index, value in enumerate(detail):
            if value:
                out.update(flat_errors(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(item) for item in items]}


def _as_drf(exc):
    """Django's exceptions that an API client's request can cause, as DRF's."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, ProtectedError | RestrictedError):
        names = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        return Refused(
            f"It cannot be deleted: {', '.join(names)} still refer to it.",
            [{"code": "protected", "detail": f"Still referred to by {', '.join(names)}."}],
        )
    if isinstance(exc, RequestDataTooBig):
        return BodyTooLarge()
    # The services' own two shapes of "no", wherever they come from (lib.errors).
    if isinstance(exc, domain.Invalid):
        return exceptions.ValidationError({k: [v] for k, v in exc.errors.items()})
    if isinstance(exc, domain.Refused):
        return Refused(
            exc.detail, [{"code": exc.code, "detail": exc.detail}], status_code=exc.status
        )
    return exc


def problem_exception_handler(exc, context):
    """DRF's handler, reshaped into problem+json; unknown exceptions still become a 500."""
    # DRF turns Django's Http404 and PermissionDenied into its own exceptions only internally.
    exc = _as_drf(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ParseError):
        body = problem(
            400,
            str(exc.detail),
            code="parse_error",
            errors={"body": [str(exc.detail)]},
        )
    elif isinstance(exc, exceptions.ValidationError):
        errors = flat_errors(exc.detail if isinstance(exc.detail, dict) else list(exc.detail))
        fields = ", ".join(errors)
        body = problem(
            response.status_code,
            f"Invalid input: {fields}.",
            code="validation_error",
            errors=errors,
        )
    else:
        code = getattr(exc, "default_code", None) or _first_code(exc.get_codes())
        extra = {}
        if isinstance(exc, Refused):
            extra["reasons"] = exc.reasons
        body = problem(response.status_code, str(exc.detail), code=code, **extra)
    # A person reading the browsable API gets the problem in its page, as HTML; labelled
    # problem+json, that page reached the browser as a wall of source text.
    renderer = getattr(context.get("request"), "accepted_renderer", None)
    as_page = getattr(renderer, "media_type", "") == "text/html"
    return Response(
        body,
        status=response.status_code,
        headers={k: v for k, v in response.items() if k.lower() != "content-type"},
        content_type=None if as_page else PROBLEM_CONTENT_TYPE,
    )


@csrf_exempt  # a POST to a path that does not exist is a 404, not a CSRF failure
def not_found(request, exception=None):
    """Django's 404 for the site; problem+json for anything under /api/."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            problem(404, f"Nothing is found at {request.path}."),
            status=404,
            content_type=PROBLEM_CONTENT_TYPE,
        )
    return page_not_found(request, exception)


def server_error(request):
    """A 500 for anything under /api/ keeps the problem shape; the site keeps Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            problem(500, "The server failed to answer; the error has been logged."),
            status=500,
            content_type=PROBLEM_CONTENT_TYPE,
        )
    from django.views.defaults import server_error as default

    return default(request)


def csrf_failure(request, reason=""):
    """A refused CSRF check: problem+json under /api/ (a browser session without its token)."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            problem(
                403,
                "CSRF check failed: send the CSRF token with a session, or use an API key.",
                code="csrf_failed",
            ),
            status=403,
            content_type=PROBLEM_CONTENT_TYPE,
        )
    from django.views.csrf import csrf_failure as default

    return default(request, reason)


def bad_request(request, exception=None):
    """A 400 Django raised itself (a suspicious or oversized request)."""
    if request.path.startswith("/api/"):
        too_big = isinstance(exception, RequestDataTooBig)
        status_code = 413 if too_big else 400
        detail = "The request body is too large." if too_big else "The request is malformed."
        return JsonResponse(
            problem(status_code, detail), status=status_code, content_type=PROBLEM_CONTENT_TYPE
        )
    from django.views.defaults import bad_request as default

    return default(request, exception)
