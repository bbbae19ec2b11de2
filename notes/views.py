"""The public site: no login, readable without JavaScript, conditional GET everywhere."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import partial

from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import condition, require_safe

from notes import feeds, selectors
from notes.models import AdvanceNotice
from releases import calendar
from releases import selectors as release_selectors
from releases.models import Component, Freeze, ReleaseItem, WindowPolicy, validate_in_range
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
        version += f"-{request.now.astimezone(_display_zone()):%Y%m%d}"
    return f'"{version}-{path}"'


def _display_zone():
    return get_zone(settings.DISPLAY_TIME_ZONE)


def _now(request) -> dt.datetime:
    return getattr(request, "now", None) or timezone.now()


public = condition(etag_func=_etag)
# Pages that say whether each component's window is open now.
public_with_windows = condition(etag_func=partial(_etag, windows=True))
# The calendar: windows, and which day is today.
public_calendar = condition(etag_func=partial(_etag, windows=True, day=True))


@require_safe
def windows_ics(request):
    """Every window policy and freeze as a calendar to subscribe to (webcal)."""
    body = feeds.windows_calendar(
        WindowPolicy.objects.with_scope(),
        Freeze.objects.with_scope(),
        now=timezone.now(),
        host=_host(request),
    )
    return _calendar_response(body, "nightshift-windows.ics")


@require_safe
@public
def releases_ics(request):
    """Scheduled releases and the tentative dates of advance notices."""
    now = _now(request)
    releases = selectors.public_releases(at=now).filter(
        scheduled_start__gte=now - dt.timedelta(days=90)
    )
    notices = selectors.public_notices().filter(status=AdvanceNotice.Status.PUBLISHED)
    body = feeds.releases_calendar(
        releases,
        notices,
        now=now,
        host=_host(request),
        site=request.build_absolute_uri("/").rstrip("/"),
    )
    return _calendar_response(body, "nightshift-releases.ics")


def _host(request) -> str:
    return request.get_host().split(":")[0] or "nightshift"


def _calendar_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@require_safe
@public_with_windows
def home(request):
    """The next windows and their releases, the latest releases and the upcoming notices."""
    now = _now(request)
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
    now = _now(request)
    zone = _display_zone()
    today = now.astimezone(zone).date()
    view = request.GET.get("view")
    view = view if view in calendar.VIEWS else calendar.MONTH
    day = calendar.shown_date(view, request.GET.get("date"), today)
    components = list(Component.objects.order_by("name").values_list("slug", "name"))
    component = request.GET.get("component") or None
    if component not in {slug for slug, _ in components}:
        component = None
    start, end = calendar.bounds(view, day, zone)
    entries = selectors.public_calendar_entries(start, end, at=now, component=component)
    grid = calendar.layout(view, day, zone, entries, today=today)
    return render(
        request,
        "notes/calendar.html",
        {
            "grid": grid,
            "links": calendar.navigation(grid, component),
            "components": components,
            "component": component,
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
        at=_now(request),
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
    release = selectors.public_release(component, version, at=_now(request))
    if release is None:
        raise Http404("No such public release.")
    return render(request, "notes/release.html", {"note": selectors.release_note(release)})


@require_safe
@public
def notices(request):
    now = _now(request)
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
