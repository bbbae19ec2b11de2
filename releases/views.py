"""The windows' public calendar: every window policy and freeze, to subscribe to (webcal)."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from releases import feeds
from releases.models import Freeze, WindowPolicy


@require_safe
def windows_ics(request):
    """Every window policy and freeze as a calendar to subscribe to (webcal)."""
    body = feeds.windows_calendar(
        WindowPolicy.objects.with_scope(),
        Freeze.objects.with_scope(),
        now=timezone.now(),
        host=request_host(request),
    )
    return calendar_response(body, "nightshift-windows.ics")


def request_host(request) -> str:
    return request.get_host().split(":")[0] or "nightshift"


def calendar_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response
