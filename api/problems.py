"""One error shape for the whole API: RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

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


def problem_exception_handler(exc, context):
    """DRF's handler, reshaped into problem+json; unknown exceptions still become a 500."""
    # DRF turns Django's Http404 and PermissionDenied into its own exceptions only internally.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
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
    return Response(
        body,
        status=response.status_code,
        headers={k: v for k, v in response.items() if k.lower() != "content-type"},
        content_type=PROBLEM_CONTENT_TYPE,
    )


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
