"""The probes and their samples in the desk (the admin). status/admin.py imports this module.

Probes are configured here by staff with the status.probe permission (Operations, release
engineers); samples are read only: the probes write them. Instants are shown in the desk's zone
next to UTC, and the samples' date range is typed as text (no date hierarchy: it would count
millions of rows by month on every page).
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_q.tasks import async_task

from accounts.desk import DeskTimeMixin
from accounts.middleware import desk_zone
from lib.admin import ReadOnlyAdmin
from lib.zones import named
from releases.windows import range_error
from status.models import Probe, ProbeSample


@admin.register(Probe)
class ProbeAdmin(DeskTimeMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "component",
        "status_now",
        "last_run_at",
        "consecutive_failures",
        "incident",
        "is_active",
    ]
    list_filter = ["is_active", "last_up", "component", "method"]
    list_select_related = ["component", "open_incident"]
    search_fields = ["name", "url"]
    actions = ["run_now"]
    readonly_fields = [
        "status_now",
        "last_run_at",
        "consecutive_failures",
        "incident",
        "recovered_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "component", "is_active"]}),
        (
            "What is asked",
            {
                "fields": [
                    "url",
                    "method",
                    "expected_status",
                    "body_contains",
                    "timeout_seconds",
                    "interval_minutes",
                ],
                "description": "Private and loopback addresses are allowed: probes are set up "
                "by staff and often watch internal health checks. Redirects are not followed.",
            },
        ),
        ("When it fails", {"fields": ["failures_to_open"]}),
        (
            "Now",
            {"fields": ["status_now", "last_run_at", "consecutive_failures", "incident",
                        "recovered_at"]},
        ),
    ]  # fmt: skip

    @admin.display(description="status now")
    def status_now(self, probe):
        status = probe.status_at(timezone.now())
        return {"up": "Up", "down": "Down"}.get(status, "No data")

    @admin.display(description="incident")
    def incident(self, probe):
        incident = probe.open_incident
        if incident is None:
            return "—"
        link = format_html(
            '<a href="{}">#{}</a>',
            reverse("admin:status_incident_change", args=[incident.pk])
            if _has_incident_admin()
            else "#",
            incident.pk,
        )
        if incident.is_open and probe.recovered_at:
            return format_html("{} — recovered: consider resolving", link)
        return link if incident.is_open else format_html("{} (resolved)", link)

    @admin.action(description="Run the selected probes now", permissions=["change"])
    def run_now(self, request, queryset):
        # Off the request: a probe may take its whole timeout (up to a minute) to answer.
        active = list(queryset.filter(is_active=True).values_list("pk", flat=True))
        skipped = queryset.count() - len(active)
        if active:
            async_task("status.tasks.run_probes", active, group="probes")
        samples = reverse("admin:status_probesample_changelist")
        self.message_user(
            request,
            format_html(
                '{} probe(s) asked now; their answers appear in <a href="{}">Probe samples</a> '
                "within their timeout.",
                len(active),
                samples,
            ),
            messages.SUCCESS,
        )
        if skipped:
            skipped_said = f"{skipped} inactive probe(s) skipped: activate them first."
            self.message_user(request, skipped_said, messages.WARNING)


def _has_incident_admin() -> bool:
    from status.models import Incident

    return admin.site.is_registered(Incident)


class DateRangeFilter(admin.ListFilter):
    """Samples from one date to another (both included), typed as YYYY-MM-DD in the desk's zone."""

    title = "date (desk's zone)"
    template = "admin/status/date_range_filter.html"
    names = ("at_from", "at_until")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.values: dict[str, str] = {}
        for name in self.names:
            if name in params:
                value = params.pop(name)
                self.values[name] = (value[-1] if isinstance(value, list) else value).strip()
        self.zone = named(desk_zone(request.user))
        self.request = request

    def has_output(self):
        return True

    def expected_parameters(self):
        return list(self.names)

    def choices(self, changelist):
        kept = [
            (name, value)
            for name, values in changelist.params.items()
            if name not in self.names and name not in ("p", "e")
            for value in (values if isinstance(values, list) else [values])
        ]
        yield {
            "from": self.values.get("at_from", ""),
            "until": self.values.get("at_until", ""),
            "hidden": kept,
            "zone": self.zone.key,
            "clear": changelist.get_query_string(remove=list(self.names)),
        }

    def _date(self, name: str) -> dt.date | None:
        raw = self.values.get(name)
        if not raw:
            return None
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            messages.error(self.request, f"“{raw}” is not a date: type it as YYYY-MM-DD.")
            return None
        if problem := range_error(day):
            messages.error(self.request, problem)
            return None
        return day

    def queryset(self, request, queryset):
        since, until = self._date("at_from"), self._date("at_until")
        if since:
            queryset = queryset.filter(at__gte=dt.datetime.combine(since, dt.time(), self.zone))
        if until:
            end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), self.zone)
            queryset = queryset.filter(at__lt=end)
        return queryset


@admin.register(ProbeSample)
class ProbeSampleAdmin(DeskTimeMixin, ReadOnlyAdmin):
    list_display = ["at", "probe", "up", "latency_ms", "status_code", "error"]
    list_filter = ["up", "probe", "error", DateRangeFilter]
    list_select_related = ["probe"]
    show_full_result_count = False  # counting millions of rows for every page is not worth it
    fields = ["probe", "at_shown", "up", "latency_ms", "status_code", "error"]
    readonly_fields = fields

    @admin.display(description="at (local, UTC)")
    def at_shown(self, sample):
        from lib.instants import html

        return html(sample.at)
