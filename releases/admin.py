from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from releases import selectors
from releases.models import RECURRENCE_FIELDS, Component, Freeze, WindowPolicy, scope_errors
from releases.templatetags.instants import instant

UPCOMING = dt.timedelta(weeks=8)


class ScopeForm(forms.ModelForm):
    """The scope rule (all, or a non-empty list) — the model's clean() checks the rest."""

    def clean(self):
        cleaned = super().clean()
        for field, message in scope_errors(
            cleaned.get("applies_to_all", False), cleaned.get("components")
        ).items():
            self.add_error(field, message)
        return cleaned


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "kind"]
    list_filter = ["kind"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}


class ScopedAdmin(admin.ModelAdmin):
    form = ScopeForm
    filter_horizontal = ["components"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_scope()


@admin.register(WindowPolicy)
class WindowPolicyAdmin(ScopedAdmin):
    list_display = [
        "name",
        "rrule",
        "start_time",
        "duration_minutes",
        "zone",
        "effective_from",
        "effective_until",
        "scope_label",
    ]
    search_fields = ["name", "rrule"]
    list_filter = ["zone", "applies_to_all"]
    readonly_fields = ["upcoming_windows"]
    fieldsets = [
        (None, {"fields": ["name"]}),
        ("When", {"fields": RECURRENCE_FIELDS}),
        ("Scope", {"fields": ["applies_to_all", "components"]}),
        ("Next eight weeks", {"fields": ["upcoming_windows"]}),
    ]

    @admin.display(description="Windows it yields")
    def upcoming_windows(self, obj: WindowPolicy | None):
        if obj is None or obj.pk is None:
            return "Save the policy to see its windows."
        now = timezone.now()
        occurrences = obj.recurrence().occurrences(now, now + UPCOMING)
        if not occurrences:
            return "No window in the next eight weeks."
        freezes = selectors.window_calendar().freezes
        rows = []
        for occ in occurrences:
            closing = [f.reason for f in freezes if f.occurrences(occ.start, occ.end)]
            rows.append((instant(occ.start), instant(occ.end), "; ".join(closing) or "—"))
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            "<table><thead><tr><th>Opens</th><th>Closes</th><th>Freezes overlapping</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            body,
        )


@admin.register(Freeze)
class FreezeAdmin(ScopedAdmin):
    list_display = ["reason", "starts_at", "ends_at", "rrule", "scope_label"]
    search_fields = ["reason"]
    list_filter = [("rrule", admin.EmptyFieldListFilter), "applies_to_all"]
    date_hierarchy = "starts_at"
    fieldsets = [
        (None, {"fields": ["reason"]}),
        ("One-off (UTC)", {"fields": ["starts_at", "ends_at"]}),
        ("Recurring (instead of one-off)", {"fields": RECURRENCE_FIELDS}),
        ("Scope", {"fields": ["applies_to_all", "components"]}),
    ]
