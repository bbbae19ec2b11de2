from __future__ import annotations

import copy
import datetime as dt

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts import roles
from accounts.desk import DeskTimeMixin
from accounts.middleware import desk_zone
from lib.instants import html as instant
from lib.zones import named
from releases import calendar, hooks, selectors, services, strip, timeline
from releases.lifecycle import TRANSITIONS, available
from releases.models import (
    Component,
    Release,
    ReleaseEvent,
    ReleaseItem,
)
from releases.windows import get_zone, range_error

UPCOMING = dt.timedelta(weeks=8)


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    """Adding a component is free: it gets the windows of every all-components policy."""

    list_display = ["slug", "name", "kind"]
    list_filter = ["kind"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}


# --- The release team's desk ------------------------------------------------------------------


class WindowDateFilter(admin.SimpleListFilter):
    """Releases scheduled on the (Pacific) date of a window in the next four weeks."""

    title = "window date"
    parameter_name = "window_date"

    def lookups(self, request, model_admin):
        now = timezone.now()
        zone = get_zone(settings.DISPLAY_TIME_ZONE)
        days = sorted({w.start.astimezone(zone).date() for w in selectors.upcoming_windows(now)})
        return [(d.isoformat(), f"{d:%a %d %b}") for d in days]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        zone = get_zone(settings.DISPLAY_TIME_ZONE)
        try:
            day = dt.date.fromisoformat(self.value())
        except ValueError:
            return queryset.none()
        if range_error(day):
            return queryset.none()
        start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        return queryset.filter(scheduled_start__gte=start, scheduled_start__lt=end)


class ReleaseForm(forms.ModelForm):
    """Field checks from the model, schedule checks from the same guards the API uses."""

    class Meta:
        model = Release
        fields = [
            "component",
            "version",
            "title",
            "kind",
            "impact",
            "scheduled_start",
            "expected_duration_minutes",
            "owner",
            "notes",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:
            # Only whoever may own a release is offered (the service refuses anyone else).
            self.fields["owner"].queryset = roles.release_engineers().order_by("username")

    def clean(self):
        cleaned = super().clean()
        changed = set(self.changed_data)
        if self.errors or (self.instance.pk and not (changed & (SCHEDULE_KEYS | {"impact"}))):
            return cleaned
        candidate = copy.copy(self.instance)
        for name, value in cleaned.items():
            setattr(candidate, name, value)
        now = timezone.now()
        if self.instance.pk and "impact" in changed:
            for refusal in services.impact_refusals(candidate, at=now):
                self.add_error("impact", refusal.detail)
        if not self.instance.pk or changed & SCHEDULE_KEYS:
            moved = not self.instance.pk or "scheduled_start" in changed
            errors = services.schedule_errors(candidate, at=now, start_moved=moved)
            for field, message in errors.items():
                self.add_error(field if field in self.fields else None, message)
        return cleaned


SCHEDULE_KEYS = services.SCHEDULE_FIELDS | {"owner", "component"}


class ItemInline(admin.TabularInline):
    model = ReleaseItem
    extra = 0

    def get_extra(self, request, obj=None, **kwargs):
        return 1 if obj is None else 0  # a new release starts with a blank item to fill in

    fields = ["title", "type", "breaking", "public", "planned", "shipped", "description"]


class EventInline(admin.TabularInline):
    """The timeline, in sentences: read-only, as the application never changes it."""

    model = ReleaseEvent
    extra = 0
    can_delete = False
    fields = ["when", "what", "state"]
    readonly_fields = fields
    ordering = ["at", "id"]
    verbose_name_plural = "timeline"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="When")
    def when(self, event):
        return instant(event.at)

    @admin.display(description="What happened")
    def what(self, event):
        return timeline.describe(event)

    @admin.display(description="State")
    def state(self, event):
        if event.from_state and event.from_state != event.to_state:
            return f"{event.from_state.replace('_', ' ')} → {event.to_state.replace('_', ' ')}"
        return event.to_state.replace("_", " ")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# One click: these move a release forward and can be followed by the next step; the others
# (irreversible) ask first, on a page that says what will happen. Both from the lifecycle table.
ACTIONS = {name: t for name, t in TRANSITIONS.items() if not t.confirm}
CONFIRMED = {name: t for name, t in TRANSITIONS.items() if t.confirm}


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=2000)

    def __init__(self, *args, required: bool, help_text: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required
        self.fields["reason"].help_text = help_text


@admin.register(Release)
class ReleaseAdmin(DeskTimeMixin, admin.ModelAdmin):
    form = ReleaseForm
    list_display = [
        "version",
        "component",
        "title",
        "kind",
        "impact",
        "state",
        "scheduled",
        "attention",
    ]
    list_filter = [
        "state",
        "component",
        "kind",
        "impact",
        WindowDateFilter,
        ("stranded_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["version", "title"]
    list_select_related = ["component"]
    inlines = [ItemInline, EventInline]
    readonly_fields = ["state", "attention", "started_at", "completed_at", "rollback_summary"]
    change_form_template = "admin/releases/release/change_form.html"
    change_list_template = "admin/releases/release/change_list.html"
    fieldsets = [
        (None, {"fields": ["component", "version", "title", "kind", "impact", "owner", "notes"]}),
        ("Schedule", {"fields": ["scheduled_start", "expected_duration_minutes"]}),
        (
            "Progress",
            {"fields": ["state", "attention", "started_at", "completed_at", "rollback_summary"]},
        ),
    ]

    @admin.display(description="Scheduled", ordering="scheduled_start")
    def scheduled(self, obj):
        return instant(obj.scheduled_start)

    def view_on_site(self, obj):
        """Its public page, once customers may see it (never before)."""
        if not Release.objects.public(at=timezone.now()).filter(pk=obj.pk).exists():
            return None
        return reverse("release-detail", args=[obj.component.slug, obj.version])

    @admin.display(description="Needs")
    def attention(self, obj):
        if obj.stranded_at and obj.state in (Release.State.PLANNED, Release.State.ANNOUNCED):
            return format_html(
                '<strong class="stranded" title="{}">Rescheduling: a rule change left it '
                "outside every window</strong>",
                f"Stranded {obj.stranded_at:%Y-%m-%d %H:%M} UTC",
            )
        return ""

    @admin.display(description="Rollback")
    def rollback_summary(self, obj):
        rollback = getattr(obj, "rollback", None) if obj and obj.pk else None
        if rollback is None:
            return "—"
        restored = rollback.restored.version if rollback.restored else "nothing (first release)"
        return format_html(
            "{} by {}: {} — restored {}",
            instant(rollback.at),
            rollback.by,
            rollback.reason,
            restored,
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("component")
            if obj.state not in (Release.State.PLANNED, Release.State.ANNOUNCED):
                fields += [
                    "version",
                    "title",
                    "kind",
                    "impact",
                    "owner",
                    "scheduled_start",
                    "expected_duration_minutes",
                ]
        return fields

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            possible = available(obj.state)
            context["lifecycle_actions"] = [(t.name, t.label) for t in possible if not t.confirm]
            context["confirmed_actions"] = [(t.name, f"{t.label}…") for t in possible if t.confirm]
            context["panels"] = [html for panel in hooks.panels if (html := panel(request, obj))]
            context["strip"] = release_strip(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        data = {k: form.cleaned_data[k] for k in form.changed_data if k in services.EDITABLE}
        try:
            if change:
                saved = services.release_update(release=obj, by=request.user, **data)
            else:
                fields = {k: v for k, v in form.cleaned_data.items() if k in form.fields}
                saved = services.release_create(by=request.user, **fields)
        except (services.ReleaseInvalid, services.TransitionRefused) as exc:
            # The form checked the same rules a moment ago; only a race gets here.
            raise PermissionDenied(str(exc)) from exc
        obj.pk, obj.state = saved.pk, saved.state
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        if formset.model is not ReleaseItem:
            return super().save_formset(request, form, formset, change)
        release = form.instance
        # What formset.save() would record, for the admin's history message.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            for item_form in formset.forms:
                if not item_form.has_changed() and not item_form.cleaned_data.get("DELETE"):
                    continue
                item = item_form.instance
                fields = {
                    k: item_form.cleaned_data[k]
                    for k in services.ITEM_FIELDS
                    if k in item_form.cleaned_data
                }
                if item_form.cleaned_data.get("DELETE") and item.pk:
                    services.item_remove(item=item, by=request.user)
                    formset.deleted_objects.append(item)
                elif item.pk:
                    changed = {k: fields[k] for k in item_form.changed_data if k in fields}
                    services.item_update(item=item, by=request.user, **changed)
                    formset.changed_objects.append((item, list(changed)))
                elif fields.get("title"):
                    formset.new_objects.append(
                        services.item_add(release=release, by=request.user, **fields)
                    )
        except services.TransitionRefused as exc:
            messages.error(request, " ".join(r.detail for r in exc.refusals))

    def get_urls(self):
        extra = [
            path(
                "calendar/",
                self.admin_site.admin_view(self.calendar_view),
                name="releases_release_calendar",
            ),
            path(
                "<int:pk>/confirm/<str:action>/",
                self.admin_site.admin_view(self.confirm_view),
                name="releases_release_confirm",
            ),
            path(
                "<int:pk>/lifecycle/<str:action>/",
                self.admin_site.admin_view(self.transition_view),
                name="releases_release_transition",
            ),
        ]
        return extra + super().get_urls()

    def _release_or_404(self, request, pk) -> Release:
        release = self.get_object(request, str(pk))
        if release is None:
            raise Http404("No such release.")
        if not self.has_change_permission(request, release):
            raise PermissionDenied
        return release

    def _report(self, request, release, run) -> HttpResponseRedirect:
        try:
            run()
        except services.TransitionRefused as exc:
            for refusal in exc.refusals:
                messages.error(request, f"{refusal.detail} [{refusal.code}]")
        except services.ReleaseInvalid as exc:
            for message in exc.errors.values():
                messages.error(request, message)
        else:
            release.refresh_from_db()
            messages.success(request, f"{release}: {release.get_state_display().lower()}.")
        return HttpResponseRedirect(reverse("admin:releases_release_change", args=[release.pk]))

    def transition_view(self, request, pk, action):
        if request.method != "POST" or action not in ACTIONS:
            raise Http404("No such action.")
        release = self._release_or_404(request, pk)
        return self._report(
            request, release, lambda: ACTIONS[action].service(release=release, by=request.user)
        )

    def confirm_view(self, request, pk, action):
        """Cancel and roll back: a page that says what will happen, then the service."""
        if action not in CONFIRMED:
            raise Http404("No such action.")
        release = self._release_or_404(request, pk)
        spec = CONFIRMED[action]
        form = ReasonForm(
            request.POST or None, required=spec.reason == "required", help_text=spec.reason_help
        )
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            return self._report(
                request,
                release,
                lambda: spec.service(release=release, by=request.user, reason=reason),
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{spec.label} {release}",
            "button": f"{spec.label} {release}",
            "action": action,
            "release": release,
            "form": form,
            "restores": services.previous_live_release(release) if action == "rollback" else None,
            "notice": getattr(release, "advance_notice", None),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/releases/release/confirm.html", context)

    def calendar_view(self, request):
        """Month or week of the team's calendar, in the desk's zone (the reader's own, if set).

        ?view=month|week&date=YYYY-MM-DD&component=<slug>; anything else falls back to this
        month (or week) and every component.
        """
        zone = named(desk_zone(request.user))
        today = timezone.now().astimezone(zone).date()
        query = calendar.read_query(request.GET, zone=zone, today=today, order_by="slug")
        entries = calendar.desk_entries(query.start, query.end, component=query.component)
        grid = calendar.layout(query.view, query.day, zone, entries, today=today, link=admin_link)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Release calendar: {grid.title}",
            "opts": self.model._meta,
            "is_nav_sidebar_enabled": False,  # the grid needs the width
            "grid": grid,
            "links": calendar.navigation(grid, query.component),
            "components": query.components,
            "component": query.component,
        }
        return TemplateResponse(request, "admin/releases/release/calendar.html", context)


def release_strip(request, release: Release) -> strip.Strip:
    """The release's timeline strip, in the desk's zone: the window holding its scheduled start
    (from the engine; none for a start outside every window), its run, its steps."""
    window = selectors.window_calendar().window_at(release.scheduled_start, release.component.slug)
    events = release.events.order_by("at", "id")
    return strip.release_strip(release, events, window, named(desk_zone(request.user)))


def admin_link(entry: calendar.Entry) -> str:
    """The admin page of the object an entry stands for."""
    if entry.ref is None:
        return ""
    label, pk = entry.ref
    app_label, model = label.split(".")
    return reverse(f"admin:{app_label}_{model}_change", args=[pk])
