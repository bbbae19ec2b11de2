"""The public status pages: no login, no JavaScript, conditional GET like the rest of the site."""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.db import connection
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import condition, require_safe

from notes import http
from notes.http import shared_page
from releases import selectors as release_selectors
from releases.models import RulesRevision
from status import selectors
from status.models import Incident, IncidentUpdate, Probe, ProbeSample, SupportContacts


def _fingerprint(*selects: str, extra: tuple = ()) -> str:
    """A short digest of scalar sub-selects (one query) and ``extra`` values: what a cached
    page or section depends on."""
    sql = "SELECT " + ", ".join(f"({select})" for select in selects)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        parts = [str(value) for value in (*cursor.fetchone(), *extra)]
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:24]


_SAMPLES, _PROBES = ProbeSample._meta.db_table, Probe._meta.db_table
# Model names only, never input: the queries are fixed strings.
PROBE_STATE = [
    f"SELECT MAX(id) FROM {_SAMPLES}",  # noqa: S608
    f"SELECT COUNT(*) FROM {_PROBES} WHERE is_active",  # noqa: S608
    f"SELECT MAX(last_run_at) FROM {_PROBES}",  # noqa: S608
]


def probes_section(now) -> str:
    """The probes' dashboard as HTML, from the cache every worker shares (Redis when set).

    It changes when a sample arrives, a probe is switched on or off, or the UTC hour turns (its
    buckets move): those make the key, so a new sample shows at once and a thousand readers
    during an outage cost one render per sample. A probe renamed shows with its next sample.
    """
    key = f"status:probes:{http.KEY_SALT}{_fingerprint(*PROBE_STATE)}:{now:%Y%m%d%H}"
    html = cache.get(key)
    if html is None:
        dashboard = selectors.probe_dashboard(now)
        html = render_to_string("status/_probes.html", {"dashboard": dashboard})
        cache.set(key, html, timeout=3600)
    return mark_safe(html)  # noqa: S308 - our own template's output, escaped when rendered


def status_version(now) -> str:
    """Changes whenever a status page may: an update, an incident edit, the contacts, the
    rules (the next window shown), a window opening or closing, a new probe sample, or a month
    beginning (the outage log's months)."""
    updates, incidents = IncidentUpdate._meta.db_table, Incident._meta.db_table
    support, revision = SupportContacts._meta.db_table, RulesRevision._meta.db_table
    # Public incidents only: an internal one's activity must not show, even as a new ETag.
    return _fingerprint(
        f"SELECT MAX(u.id) FROM {updates} u JOIN {incidents} i ON i.id = u.incident_id "  # noqa: S608 - model names
        "WHERE i.public",
        f"SELECT COALESCE(SUM(version), 0) FROM {incidents} WHERE public",  # noqa: S608
        f"SELECT MAX(updated_at) FROM {support}",  # noqa: S608
        f"SELECT token FROM {revision} WHERE id = 1",  # noqa: S608
        *PROBE_STATE,
        # The outage log lists the last twelve months: it changes as a month begins (UTC).
        extra=(release_selectors.last_window_change(now), f"{now:%Y-%m}"),
    )


def _etag(request, *args, **kwargs) -> str:
    request.now = timezone.now()
    return f'"{status_version(request.now)}-{http.address(request)}"'


public_status = shared_page(_etag)  # pages and the feed: the body from the shared cache
public_status_api = condition(etag_func=_etag)


def _now(request):
    return getattr(request, "now", None) or timezone.now()


@require_safe
@public_status
def status_page(request):
    """Each component now, open incidents with their latest update, and the support contacts."""
    now = _now(request)
    statuses = selectors.component_statuses(now)
    return render(
        request,
        "status/status.html",
        {
            "now": now,
            "statuses": statuses,
            "overall": selectors.overall(statuses),
            "incidents": selectors.open_incidents(),
            "probes": probes_section(now),
            "support": SupportContacts.current(),
        },
    )


@require_safe
@public_status
def history(request):
    """The outage log: every public incident of the last twelve months, by month."""
    now = _now(request)
    return render(
        request,
        "status/history.html",
        {"months": selectors.history(now=now), "support": SupportContacts.current()},
    )


@require_safe
@public_status
def incident_detail(request, pk: int):
    incidents = selectors.with_updates(Incident.objects.public())
    incident = get_object_or_404(incidents, pk=pk)
    return render(
        request,
        "status/incident.html",
        {"incident": incident, "now": _now(request), "support": SupportContacts.current()},
    )


@require_safe
@public_status
def support(request):
    """Who to write to or call, and how fast they answer (edited by senior management)."""
    return render(request, "status/support.html", {"support": SupportContacts.current()})
