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

from releases import selectors as release_selectors
from releases.models import RulesRevision
from status import selectors
from status.models import Incident, IncidentUpdate, Probe, ProbeSample, SupportContacts


def _probe_revision() -> str:
    """What the probes' dashboard depends on besides the hour: the newest sample, the probes."""
    samples, probes = ProbeSample._meta.db_table, Probe._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM {samples}), "  # noqa: S608 - model names
            f"(SELECT COUNT(*) FROM {probes} WHERE is_active), "
            f"(SELECT MAX(last_run_at) FROM {probes})"
        )
        parts = ":".join(str(value) for value in cursor.fetchone())
    return hashlib.sha256(parts.encode()).hexdigest()[:24]


def probes_section(now) -> str:
    """The probes' dashboard as HTML, from the cache every worker shares (Redis when set).

    It changes when a sample arrives, a probe is switched on or off, or the UTC hour turns (its
    buckets move): those make the key, so a new sample shows at once and a thousand readers
    during an outage cost one render per sample. A probe renamed shows with its next sample.
    """
    key = f"status:probes:{_probe_revision()}:{now:%Y%m%d%H}"
    html = cache.get(key)
    if html is None:
        dashboard = selectors.probe_dashboard(now)
        html = render_to_string("status/_probes.html", {"dashboard": dashboard})
        cache.set(key, html, timeout=3600)
    return mark_safe(html)  # noqa: S308 - our own template's output, escaped when rendered


def status_version(now) -> str:
    """Changes whenever a status page may: an update, an incident edit, the contacts, the
    rules (the next window shown), a window opening or closing, or a new probe sample."""
    updates, incidents = IncidentUpdate._meta.db_table, Incident._meta.db_table
    support, revision = SupportContacts._meta.db_table, RulesRevision._meta.db_table
    samples, probes = ProbeSample._meta.db_table, Probe._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM {updates}), "  # noqa: S608 - model names
            f"(SELECT COALESCE(SUM(version), 0) FROM {incidents}), "
            f"(SELECT MAX(updated_at) FROM {support}), "
            f"(SELECT token FROM {revision} WHERE id = 1), "
            f"(SELECT MAX(id) FROM {samples}), (SELECT COUNT(*) FROM {probes})"
        )
        parts = [str(value) for value in cursor.fetchone()]
    parts.append(str(release_selectors.last_window_change(now)))
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:24]


def _etag(request, *args, **kwargs) -> str:
    request.now = timezone.now()
    path = hashlib.sha256(request.get_full_path().encode()).hexdigest()[:12]
    return f'"{status_version(request.now)}-{path}"'


public_status = condition(etag_func=_etag)


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
