"""The rules in the desk: policies and freezes (saving one is a rule change), and the changes
senior management decides on."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.desk import DeskTimeMixin
from approvals.admin import DecideForm, DecisionInline
from lib import text
from lib.instants import html as instant
from releases import selectors
from releases.models import RECURRENCE_FIELDS, Freeze, WindowPolicy, scope_errors
from rules import services
from rules.models import RuleChange, RuleDecision

UPCOMING = dt.timedelta(weeks=8)


def _justification() -> forms.CharField:
    """What senior management reads before deciding (as the API's ``justification``)."""
    return forms.CharField(
        required=False,
        max_length=services.JUSTIFICATION_LIMIT,  # as the service checks (on the field here)
        validators=[text.multi_line],
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the rules should change: senior management reads it before deciding.",
    )


class WhyForm(forms.Form):
    """The justification of a removal (the delete page's only field)."""

    justification = _justification()


class ScopeForm(forms.ModelForm):
    """The scope rule (all, or a non-empty list) — the model's clean() checks the rest."""

    justification = _justification()

    def clean(self):
        cleaned = super().clean()
        for field, message in scope_errors(
            cleaned.get("applies_to_all", False), cleaned.get("components")
        ).items():
            self.add_error(field, message)
        return cleaned


class RuleAdmin(DeskTimeMixin, admin.ModelAdmin):
    """Saving or deleting here is a rule change (rules.services): a tightening is in force at
    once; anything else waits for senior management, and the page says so."""

    form = ScopeForm
    filter_horizontal = ["components"]
    target = ""
    actions = None  # no bulk delete: each removal is a change of its own, with its preview
    readonly_fields = ["version"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_scope()

    def save_model(self, request, obj, form, change):
        values = {k: form.cleaned_data[k] for k in form.fields if k in form.cleaned_data}
        why = values.pop("justification", "")
        request._rule_change = services.rules_change(
            target=self.target,
            operation="update" if change else "create",
            by=request.user,
            obj=self.model.objects.get(pk=obj.pk) if change else None,
            values=values,
            reason=why,
        )
        if request._rule_change.target_id:
            obj.pk = request._rule_change.target_id

    def save_related(self, request, form, formsets, change):
        pass  # the scope is part of the change, written when it takes effect

    # The audit log records every rule change; the admin's own history would say "added" or
    # "deleted" of changes still waiting for approval.
    def log_addition(self, request, obj, message):
        return None

    def log_change(self, request, obj, message):
        return None

    def log_deletions(self, request, queryset):
        return None

    delete_confirmation_template = "admin/rules/delete_confirmation.html"

    def delete_view(self, request, object_id, extra_context=None):
        """Removing a rule proposes a change, with a justification: the page says so and asks
        why. Django's view takes any POST as the confirmation, so a justification it cannot
        take is answered with the page again, saying what to fix, and nothing proposed."""
        why = WhyForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and not why.is_valid():
            request.POST = QueryDict()
        request._why = why
        waiting = (
            services.pending_removal(self.target, int(object_id)) if object_id.isdigit() else None
        )
        context = {
            "title": "Its removal waits for senior management"
            if waiting
            else "Propose removing it",
            "why": why,
            "waiting": waiting,
            **(extra_context or {}),
        }
        try:
            return super().delete_view(request, object_id, context)
        except services.RuleChangeRefused as exc:  # its removal was proposed meanwhile
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(request.path)

    def delete_model(self, request, obj):
        why = getattr(request, "_why", None)
        request._rule_change = services.rules_change(
            target=self.target,
            operation="delete",
            by=request.user,
            obj=obj,
            reason=why.cleaned_data["justification"] if why and why.is_bound else "",
        )

    def _told(self, request, fallback):
        change = getattr(request, "_rule_change", None)
        if change is None or change.status == RuleChange.Status.APPLIED:
            if change is not None:
                self.message_user(request, _summary(change), messages.SUCCESS)
            return fallback()
        self.message_user(
            request,
            f"Proposed as {change}: it takes effect when senior management approves. "
            + _summary(change),
            messages.WARNING,
        )
        return HttpResponseRedirect(reverse("admin:rules_rulechange_change", args=[change.pk]))

    def response_add(self, request, obj, post_url_continue=None):
        return self._told(request, lambda: super(RuleAdmin, self).response_add(request, obj))

    def response_change(self, request, obj):
        return self._told(request, lambda: super(RuleAdmin, self).response_change(request, obj))

    def response_delete(self, request, obj_display, obj_id):
        return self._told(
            request, lambda: super(RuleAdmin, self).response_delete(request, obj_display, obj_id)
        )


def _shown_instant(stored: str):
    """A preview's instant (ISO 8601, as stored) as the desk shows instants; as stored if it
    is not one."""
    try:
        value = dt.datetime.fromisoformat(stored)
    except (TypeError, ValueError):
        return stored
    return instant(value) if value.tzinfo is not None else stored


def _releases(rows: list[dict], empty: str):
    """A preview's list of releases, each with its start in the desk's zone and its owner."""
    if not rows:
        return empty
    shown = [
        (r["component"], r["version"], _shown_instant(r["scheduled_start"]), r["owner"])
        for r in rows
    ]
    return format_html(
        "<ul>{}</ul>", format_html_join("", "<li>{} {} at {} (owner {})</li>", shown)
    )


def _summary(change: RuleChange) -> str:
    preview = change.preview
    parts = [
        f"Next 90 days: +{preview['hours_added']} h / −{preview['hours_removed']} h of windows"
    ]
    if preview["stranded"]:
        names = ", ".join(f"{s['component']} {s['version']}" for s in preview["stranded"])
        parts.append(f"strands {names}")
    if preview.get("fits_again"):
        names = ", ".join(f"{s['component']} {s['version']}" for s in preview["fits_again"])
        parts.append(f"puts {names} back in a window")
    if preview["overlapping_slots"]:
        parts.append(f"overlaps {len(preview['overlapping_slots'])} approved exceptional slot(s)")
    return "; ".join(parts) + "."


@admin.register(WindowPolicy)
class WindowPolicyAdmin(RuleAdmin):
    target = "policy"
    list_display = [
        "name",
        *RECURRENCE_FIELDS,
        "scope_label",
        "version",
    ]
    search_fields = ["name", "rrule"]
    list_filter = ["zone", "applies_to_all"]
    readonly_fields = ["version", "upcoming_windows"]
    fieldsets = [
        (None, {"fields": ["name", "version"]}),
        ("When", {"fields": RECURRENCE_FIELDS}),
        ("Scope", {"fields": ["applies_to_all", "components"]}),
        ("Why (for senior management)", {"fields": ["justification"]}),
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
class FreezeAdmin(RuleAdmin):
    target = "freeze"
    list_display = ["reason", "starts_at", "ends_at", "rrule", "scope_label", "version"]
    search_fields = ["reason"]
    list_filter = [("rrule", admin.EmptyFieldListFilter), "applies_to_all"]
    fieldsets = [
        (None, {"fields": ["reason", "version"]}),
        ("One-off (no end: until lifted)", {"fields": ["starts_at", "ends_at"]}),
        ("Recurring (instead of one-off)", {"fields": RECURRENCE_FIELDS}),
        ("Scope", {"fields": ["applies_to_all", "components"]}),
        ("Why (for senior management, when it loosens a freeze)", {"fields": ["justification"]}),
    ]


# --- Senior management's side -------------------------------------------------------------------


class RuleDecisionInline(DecisionInline):
    model = RuleDecision


@admin.register(RuleChange)
class RuleChangeAdmin(DeskTimeMixin, admin.ModelAdmin):
    """Pending rule changes first; each with the engine's preview of what it would do."""

    list_display = ["__str__", "status", "proposer", "created_at", "impact"]
    list_filter = ["status", "target", "operation"]
    search_fields = ["label", "reason"]
    inlines = [RuleDecisionInline]
    change_form_template = "admin/rules/rulechange/change_form.html"
    fields = [
        "summary",
        "status",
        "justification",
        "proposer",
        "created_at",
        "decided_at",
        "changes",
        "stranded",
        "fits_again",
        "overlapping",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("proposer").inbox_order()

    def has_add_permission(self, request):
        return False  # proposed by saving a policy or freeze

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # read, then decided on (decide_view): no Save that saves nothing

    @admin.display(description="Change")
    def summary(self, obj):
        return str(obj)

    @admin.display(description="Why (the proposer's justification)")
    def justification(self, obj):
        return obj.reason or "— (none given)"

    @admin.display(description="Next 90 days")
    def impact(self, obj):
        return _summary(obj)

    @admin.display(description="Fields (before → after)")
    def changes(self, obj):
        before, after = obj.base or {}, obj.payload or {}
        names = [n for n in (after or before) if before.get(n) != after.get(n)]
        rows = [(n, before.get(n, "—"), after.get(n, "—") if after else "(deleted)") for n in names]
        body = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", rows)
        return format_html("<table><tbody>{}</tbody></table>", body) if rows else "—"

    @admin.display(description="Releases it strands")
    def stranded(self, obj):
        return _releases(
            obj.preview.get("stranded", []), "None: every scheduled release still fits a window."
        )

    @admin.display(description="Stranded releases it puts back in a window")
    def fits_again(self, obj):
        return _releases(obj.preview.get("fits_again", []), "None.")

    @admin.display(description="Approved exceptional slots it overlaps")
    def overlapping(self, obj):
        rows = [
            (
                s["component"],
                s["version"],
                _shown_instant(s["slot_start"]),
                _shown_instant(s["slot_end"]),
            )
            for s in obj.preview.get("overlapping_slots", [])
        ]
        if not rows:
            return "None."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} {}: {} – {}</li>", rows))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        pending = obj is not None and obj.status == RuleChange.Status.PENDING
        context["decide_form"] = DecideForm()
        context["can_decide"] = pending and request.user.pk != obj.proposer_id
        context["can_withdraw"] = pending and request.user.pk == obj.proposer_id
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        decide = self.admin_site.admin_view(self.decide_view)
        return [
            path("<int:pk>/decide/", decide, name="rules_rulechange_decide"),
            *super().get_urls(),
        ]

    def decide_view(self, request, pk):
        change = self.get_object(request, str(pk))
        if request.method != "POST" or change is None:
            raise Http404("No such rule change.")
        form = DecideForm(request.POST)
        form.is_valid()
        try:
            if "withdraw" in request.POST:
                services.rule_change_withdraw(change=change, by=request.user)
            else:
                verdict = "reject" if "reject" in request.POST else "approve"
                services.rule_change_decide(
                    change=change,
                    by=request.user,
                    verdict=verdict,
                    comment=form.cleaned_data.get("comment", ""),
                )
        except services.RuleChangeRefused as exc:
            messages.error(request, f"{exc.detail} [{exc.code}]")
        else:
            change.refresh_from_db()
            messages.success(request, f"{change}: {change.get_status_display().lower()}.")
        return HttpResponseRedirect(reverse("admin:rules_rulechange_change", args=[change.pk]))
