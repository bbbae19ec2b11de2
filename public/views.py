"""The public site: no login, readable without JavaScript, conditional GET everywhere
(notes.http)."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from notes import selectors
from notes.http import (
    display_zone,
    public,
    public_calendar,
    public_daily,
    public_with_windows,
    request_now,
)
from notes.models import AdvanceNotice
from public import feeds
from releases import calendar
from releases import feeds as release_feeds
from releases import selectors as release_selectors
from releases.models import Component, Freeze, ReleaseItem, WindowPolicy, validate_in_range


@require_safe
@public
def releases_ics(request):
    """Scheduled releases and the tentative dates of advance notices."""
    now = request_now(request)
    releases = selectors.public_releases(at=now).filter(
        scheduled_start__gte=now - selectors.ICS_HISTORY
    )
    notices = selectors.public_notices().filter(status=AdvanceNotice.Status.PUBLISHED)
    body = feeds.releases_calendar(
        releases,
        notices,
        now=now,
        host=request_host(request),
        site=request.build_absolute_uri("/").rstrip("/"),
    )
    return calendar_response(body, "nightshift-releases.ics")


@require_safe
@public_daily
def windows_ics(request):
    """Every window policy and freeze as recurring events, to subscribe to (webcal). What it
    shows changes with the rules; its time zones reach some years ahead of today."""
    body = release_feeds.windows_calendar(
        WindowPolicy.objects.with_scope(),
        Freeze.objects.with_scope(),
        now=request_now(request),
        host=request_host(request),
    )
    return calendar_response(body, "nightshift-windows.ics")


def request_host(request) -> str:
    return request.get_host().split(":")[0] or "nightshift"


def calendar_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@require_safe
@public_with_windows
def home(request):
    """The next windows and their releases, the latest releases and the upcoming notices."""
    now = request_now(request)
    calendar = release_selectors.window_calendar()
    components = list(Component.objects.order_by("name"))
    rows = [{"component": c, "decision": calendar.decide_now(now, c.slug)} for c in components]
    upcoming = list(
        selectors.public_releases(at=now)
        .filter(scheduled_start__gte=now)
        .order_by("scheduled_start", "id")[:10]
    )
    latest = list(selectors.public_releases(at=now).filter(scheduled_start__lt=now)[:8])
    notices = list(
        selectors.public_notices()
        .filter(status=AdvanceNotice.Status.PUBLISHED, tentative_start__gt=now)
        .order_by("tentative_start")[:5]
    )
    return render(
        request,
        "notes/home.html",
        {
            "now": now,
            "rows": rows,
            "upcoming": upcoming,
            "latest": [selectors.release_note(r) for r in latest],
            "notices": notices,
        },
    )


@require_safe
@public_calendar
def calendar_page(request):
    """A month or a week of windows, freezes, public releases and notices' dates, in the
    display zone. ?view=month|week&date=YYYY-MM-DD&component=<slug>; anything else falls back
    to this month (or week) and every component."""
    now = request_now(request)
    zone = display_zone()
    today = now.astimezone(zone).date()
    query = calendar.read_query(request.GET, zone=zone, today=today)
    entries = selectors.public_calendar_entries(
        query.start, query.end, at=now, component=query.component
    )
    grid = calendar.layout(query.view, query.day, zone, entries, today=today)
    return render(
        request,
        "notes/calendar.html",
        {
            "grid": grid,
            "links": calendar.navigation(grid, query.component),
            "components": query.components,
            "component": query.component,
        },
    )


class NotesFilter(forms.Form):
    component = forms.SlugField(required=False)
    type = forms.ChoiceField(required=False, choices=[("", "All types"), *ReleaseItem.Type.choices])
    start = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput({"type": "date"}),
        validators=[validate_in_range],
    )
    end = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput({"type": "date"}),
        validators=[validate_in_range],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["component"] = forms.ChoiceField(
            required=False,
            choices=[
                ("", "All components"),
                *Component.objects.order_by("name").values_list("slug", "name"),
            ],
        )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("start") and cleaned.get("end") and cleaned["end"] < cleaned["start"]:
            self.add_error("end", "The end date is before the start date.")
        return cleaned


@require_safe
@public
def release_notes(request):
    """Aggregated release notes: by window date, component and type; filtered and paginated."""
    form = NotesFilter(request.GET or None)
    values = form.cleaned_data if form.is_bound and form.is_valid() else {}
    item_type = values.get("type") or None
    releases = selectors.filtered(
        at=request_now(request),
        component=values.get("component") or None,
        item_type=item_type,
        start=values.get("start"),
        end=values.get("end"),
    )
    page = Paginator(releases, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "notes/releases.html",
        {
            "form": form,
            "page": page,
            "sections": selectors.by_day(page, item_type=item_type),
            "query": query.urlencode(),
        },
    )


@require_safe
@public
def release_detail(request, component: str, version: str):
    release = selectors.public_release(component, version, at=request_now(request))
    if release is None:
        raise Http404("No such public release.")
    return render(request, "notes/release.html", {"note": selectors.release_note(release)})


@require_safe
@public
def notices(request):
    now = request_now(request)
    public_notices = list(selectors.public_notices().order_by("tentative_start"))
    upcoming = [
        n
        for n in public_notices
        if n.status == AdvanceNotice.Status.PUBLISHED and n.tentative_start > now
    ]
    past = [n for n in reversed(public_notices) if n not in upcoming]
    return render(request, "notes/notices.html", {"upcoming": upcoming, "past": past})


@require_safe
@public
def notice_detail(request, pk: int):
    notice = get_object_or_404(selectors.public_notices(), pk=pk)
    return render(request, "notes/notice.html", {"notice": notice})
