"""The status desk: open an incident, post updates with the next promise, resolve it; the
support contacts (senior management edits them)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import widgets
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts import roles
from accounts.desk import DeskTimeMixin
from accounts.middleware import desk_zone
from lib.instants import html as instant
from lib.instants import zone_label
from lib.zones import named
from notes.rendering import render_markdown
from status import (
    admin_probes,  # noqa: F401 - registers the probes' admin
    services,
)
from status.models import Incident, SupportContacts
from status.models.incidents import OPEN_STATES


def _promise_field(request) -> forms.DateTimeField:
    label = zone_label(named(desk_zone(request.user)))
    return forms.SplitDateTimeField(
        label=f"Next update by ({label})",
        required=False,
        widget=widgets.AdminSplitDateTime,
        help_text="Promise customers the next update; if it is late, you are told, then "
        "senior management.",
    )


class OpenIncidentForm(forms.ModelForm):
    body = forms.CharField(
        label="First update", widget=forms.Textarea, help_text="Markdown: what is known so far."
    )

    class Meta:
        model = Incident
        fields = ["title", "impact", "components", "state", "owner", "public"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = OPEN_STATES
        self.fields["owner"].required = False
        self.fields["owner"].help_text = "Leave empty to own it yourself."
        self.fields["owner"].queryset = services.incident_runners()
        # No default impact: a major outage holds releases and tells key accounts; choose it.
        self.fields["impact"].choices = [("", "---------"), *self.fields["impact"].choices]
        self.fields["impact"].initial = None

    def clean(self):
        cleaned = super().clean()
        errors = services.open_errors(
            title=cleaned.get("title"), impact=cleaned.get("impact"),
            components=cleaned.get("components") or [], body=cleaned.get("body"),
            state=cleaned.get("state"), next_update_by=cleaned.get("next_update_by"),
            owner=cleaned.get("owner"), at=timezone.now(),
        )  # fmt: skip
        for name, message in errors.items():
            self.add_error(name if name in self.fields else None, message)
        return cleaned


class UpdateIncidentForm(forms.ModelForm):
    postmortem_url = forms.URLField(
        label="Postmortem", max_length=500, required=False, assume_scheme="https"
    )
    body = forms.CharField(
        label="Update", widget=forms.Textarea, required=False, help_text="Markdown."
    )

    class Meta:
        model = Incident
        fields = ["title", "components", "state", "impact", "postmortem_url"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.is_open:
            self.fields["state"].choices = OPEN_STATES
        # The last promise is history: the next one is promised afresh (or not at all).
        self.initial.pop("next_update_by", None)

    def clean(self):
        cleaned = super().clean()
        if not self.instance.is_open:
            return cleaned
        posting = cleaned.get("body") or {"state", "impact", "next_update_by"} & set(
            self.changed_data
        )
        if not posting:
            return cleaned  # a correction (title, components, postmortem) without an update
        errors = services.update_errors(
            body=cleaned.get("body"),
            state=cleaned.get("state"),
            impact=cleaned.get("impact"),
            next_update_by=cleaned.get("next_update_by"),
            at=timezone.now(),
        )
        for name, message in errors.items():
            self.add_error(name if name in self.fields else None, message)
        return cleaned


class ResolveForm(forms.Form):
    body = forms.CharField(
        label="Closing note",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=20_000,
        help_text="Optional, Markdown: what happened and what was done. “Back to normal” and "
        "the duration are said either way.",
    )
    postmortem_url = forms.URLField(
        label="Postmortem", max_length=500, required=False, assume_scheme="https"
    )


class OpenOrResolved(admin.SimpleListFilter):
    """The desk opens on what needs doing: the open incidents."""

    title = "open or resolved"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Resolved"), ("all", "All")]

    def value(self):
        return super().value() or "yes"

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.open()
        if self.value() == "no":
            return queryset.filter(state=Incident.State.RESOLVED)
        return queryset


@admin.register(Incident)
class IncidentAdmin(DeskTimeMixin, admin.ModelAdmin):
    list_display = ["title", "impact", "state", "affects", "started_at", "next_update_by", "late"]
    list_select_related = ["owner"]
    change_form_template = "admin/status/incident/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("components")

    @admin.display(description="components")
    def affects(self, obj):
        return ", ".join(c.name for c in obj.components.all())

    def get_urls(self):
        own = [
            path(
                "<int:pk>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="status_incident_resolve",
            )
        ]
        return own + super().get_urls()

    def resolve_view(self, request, pk):
        """Back to normal: a page that says what resolving does, then the service."""
        incident = get_object_or_404(Incident.objects.prefetch_related("components"), pk=pk)
        if not self.has_change_permission(request, incident):
            raise PermissionDenied
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.incident_resolve(
                    incident=incident, by=request.user, body=form.cleaned_data["body"],
                    postmortem_url=form.cleaned_data["postmortem_url"],
                )  # fmt: skip
            except (services.IncidentInvalid, services.IncidentRefused) as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"{incident}: resolved, back to normal.")
            return HttpResponseRedirect(reverse("admin:status_incident_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Resolve {incident}",
            "incident": incident,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/status/incident/resolve.html", context)

    list_filter = [OpenOrResolved, "impact", "state", "public", "components"]
    search_fields = ["title"]
    view_on_site = True

    def get_view_on_site_url(self, obj=None):
        if obj is None or not obj.public:
            return None
        from django.urls import reverse

        return reverse("incident-detail", args=[obj.pk])

    @admin.display(description="late update")
    def late(self, obj):
        return obj.get_escalation_display() if obj.overdue(timezone.now()) else ""

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = UpdateIncidentForm if obj is not None else OpenIncidentForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None or obj.is_open:
            form.base_fields["next_update_by"] = _promise_field(request)
        return form

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["title", "impact", "components", "state", "body"]}),
                ("Who and when", {"fields": ["next_update_by", "owner", "public"]}),
            ]
        summary = ["summary", "timeline"]
        correct = (
            "Correct the incident",
            {
                "fields": ["title", "components"],
                "description": "A typo, or a component found affected later. Customers see it "
                "at once on the status pages; they are told with the next update.",
                "classes": ["collapse"],
            },
        )
        if not obj.is_open:
            return [
                (None, {"fields": summary}),
                ("Postmortem", {"fields": ["postmortem_url"]}),
                correct,
            ]
        return [
            (None, {"fields": summary}),
            (
                "Post an update",
                {"fields": ["body", "state", "impact", "next_update_by"]},
            ),
            ("Postmortem", {"fields": ["postmortem_url"]}),
            correct,
        ]

    def get_readonly_fields(self, request, obj=None):
        return ["summary", "timeline"] if obj is not None else []

    @admin.display(description="incident")
    def summary(self, obj):
        components = ", ".join(c.name for c in obj.components.all())
        state = obj.get_state_display()
        lasted = f"; lasted {services.lasting(obj.duration)}" if obj.duration else ""
        return format_html(
            "{} on {} · {} · since {}{} · owner {} · {}",
            obj.get_impact_display(), components, state, instant(obj.started_at), lasted,
            obj.owner, "public" if obj.public else "internal",
        )  # fmt: skip

    @admin.display(description="timeline")
    def timeline(self, obj):
        rows = [
            (u.get_state_display(), instant(u.at), u.by or "a probe", render_markdown(u.body))
            for u in obj.updates.order_by("-at", "-id")
        ]
        return format_html(
            "<ol class='incident-timeline'>{}</ol>",
            format_html_join("", "<li><strong>{}</strong> · {} · {}<div>{}</div></li>", rows),
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and services.may_run_incidents(
            request.user
        )

    def has_add_permission(self, request):
        return super().has_add_permission(request) and services.may_run_incidents(request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # the outage log keeps every incident

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if not change:
                self._opened = services.incident_open(
                    title=data["title"], impact=data["impact"], components=data["components"],
                    body=data["body"], state=data["state"], owner=data.get("owner"),
                    next_update_by=data.get("next_update_by"), public=data["public"],
                    by=request.user,
                )  # fmt: skip
                obj.pk = self._opened.pk
            elif obj.is_open and data.get("body"):
                services.incident_update(
                    incident=obj, by=request.user, body=data["body"],
                    state=data.get("state"), impact=data.get("impact"),
                    next_update_by=data.get("next_update_by"),
                )  # fmt: skip
            if change and {"title", "components"} & set(form.changed_data):
                services.incident_edit(
                    incident=obj, by=request.user,
                    title=data["title"] if "title" in form.changed_data else None,
                    components=data["components"] if "components" in form.changed_data else None,
                )  # fmt: skip
            if change and "postmortem_url" in form.changed_data:
                services.incident_set_postmortem(
                    incident=obj, url=data.get("postmortem_url") or "", by=request.user
                )
        except (services.IncidentInvalid, services.IncidentRefused) as exc:
            messages.error(request, str(exc))

    def save_related(self, request, form, formsets, change):
        pass  # the services wrote the components with the incident

    def response_add(self, request, obj, post_url_continue=None):
        obj = getattr(self, "_opened", obj)
        return super().response_add(request, obj, post_url_continue)


@admin.register(SupportContacts)
class SupportContactsAdmin(admin.ModelAdmin):
    """One row: what the public /support/ page and the status pages' footer say."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = [
        ("forum_url", "forum_response"),
        ("private_email", "private_response"),
        ("emergency_email", "emergency_response"),
        "emergency_phone",
        "sales_email",
    ]

    def has_add_permission(self, request):
        return roles.is_senior_manager(request.user) and not SupportContacts.objects.exists()

    def has_change_permission(self, request, obj=None):
        return roles.is_senior_manager(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One row: straight to it (or to writing it, the first time).
        if SupportContacts.objects.filter(pk=1).exists():
            return HttpResponseRedirect(reverse("admin:status_supportcontacts_change", args=[1]))
        if self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:status_supportcontacts_add"))
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        services.support_contacts_save(values=values, by=request.user)
