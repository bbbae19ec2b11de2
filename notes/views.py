from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from notes import feeds
from releases import selectors
from releases.models import Component, Freeze, WindowPolicy


@require_safe
def windows_ics(request):
    """Every window policy and freeze as a calendar to subscribe to (webcal)."""
    now = timezone.now()
    body = feeds.windows_calendar(
        WindowPolicy.objects.with_scope(),
        Freeze.objects.with_scope(),
        now=now,
        host=request.get_host().split(":")[0] or "nightshift",
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="nightshift-windows.ics"'
    return response


@require_safe
def home(request):
    """Each component's release status now: open until when, or the next opening."""
    now = timezone.now()
    calendar = selectors.window_calendar()
    rows = [
        {"component": c, "decision": calendar.decide(now, c.slug)}
        for c in Component.objects.order_by("name")
    ]
    return render(request, "notes/home.html", {"now": now, "rows": rows})
