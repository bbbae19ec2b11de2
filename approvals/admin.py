"""The senior managers' approvals inbox."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.desk import DeskTimeMixin
from accounts.middleware import desk_zone
from approvals import services
from approvals.models import ApprovalDecision, ApprovalRequest
from lib.instants import html as instant
from lib.instants import zone_label
from lib.zones import named
from releases import hooks, selectors
from releases.models import Release
from releases.windows import lasting


class DecisionInline(admin.TabularInline):
    model = ApprovalDecision
    extra = 0
    can_delete = False
    fields = ["approver", "verdict", "comment", "at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DecideForm(forms.Form):
    comment = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Required to reject."
    )


def distance_to_windows(request: ApprovalRequest, calendar=None) -> str:
    """How far the slot lies from the nearest regular window of its component."""
    calendar = calendar or selectors.window_calendar()
    slug = request.release.component.slug
    week = dt.timedelta(days=8)
    around = calendar.windows(request.slot_start - week, request.slot_end + week, slug)
    if any(w.start < request.slot_end and request.slot_start < w.end for w in around):
        return "Overlaps a regular window"
    before = [w for w in around if w.end <= request.slot_start]
    after = [w for w in around if w.start >= request.slot_end]
    gaps = []
    if before:
        gaps.append((request.slot_start - before[-1].end, "after the previous window closes"))
    if after:
        gaps.append((after[0].start - request.slot_end, "before the next window opens"))
    if not gaps:
        return "No regular window within a week"
    gap, where = min(gaps)
    return f"{lasting(gap)} {where}"


class InboxChangeList(ChangeList):
    """Works out each row's distance to the windows with one calendar for the whole page."""

    def get_ordering(self, request, queryset):
        if self.params.get("o"):  # the reader sorted by a column
            return super().get_ordering(request, queryset)
        # Not the model's newest-first: pending first, most urgent, oldest.
        return ["_pending", "_urgency", "created_at", "pk"]

    def get_results(self, request):
        super().get_results(request)
        calendar = selectors.window_calendar()
        for obj in self.result_list:
            obj.window_distance = distance_to_windows(obj, calendar)


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(DeskTimeMixin, admin.ModelAdmin):
    list_display = ["__str__", "urgency", "status", "slot", "requester", "created_at", "distance"]
    list_filter = ["status", "urgency"]
    search_fields = ["release__version", "release__title", "justification"]
    inlines = [DecisionInline]
    change_form_template = "admin/approvals/approvalrequest/change_form.html"
    fields = [
        "release_link",
        "release_items",
        "slot",
        "distance",
        "urgency",
        "justification",
        "requester",
        "waives_notice",
        "status",
        "created_at",
        "decided_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).for_list().inbox_order()

    def has_add_permission(self, request):
        return False  # asked for from the release, in the API

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Release")
    def release_link(self, obj):
        url = reverse("admin:releases_release_change", args=[obj.release_id])
        return format_html('<a href="{}">{}</a> — {}', url, obj.release, obj.release.title)

    @admin.display(description="Items")
    def release_items(self, obj):
        rows = [
            (i.get_type_display(), i.title, " (breaking)" if i.breaking else "")
            for i in obj.release.items.all()
        ]
        return format_html_join(mark_safe("<br>"), "[{}] {}{}", rows) or "—"

    @admin.display(description="Slot")
    def slot(self, obj):
        return format_html("{} – {}", instant(obj.slot_start), instant(obj.slot_end))

    @admin.display(description="Distance to the regular windows")
    def distance(self, obj):
        return getattr(obj, "window_distance", None) or distance_to_windows(obj)

    def get_changelist(self, request, **kwargs):
        return InboxChangeList

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["decide_form"] = DecideForm()
        context["can_decide"] = obj is not None and obj.status == ApprovalRequest.Status.PENDING
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        decide = self.admin_site.admin_view(self.decide_view)
        ask = self.admin_site.admin_view(ask_view)
        return [
            path("<int:pk>/decide/", decide, name="approvals_approvalrequest_decide"),
            path("ask/<int:release_id>/", ask, name="approvals_approvalrequest_ask"),
            *super().get_urls(),
        ]

    def decide_view(self, request, pk):
        approval = self.get_object(request, str(pk))
        if request.method != "POST" or approval is None:
            raise Http404("No such request.")
        form = DecideForm(request.POST)
        form.is_valid()
        verdict = "reject" if "reject" in request.POST else "approve"
        try:
            services.request_decide(
                request=approval,
                by=request.user,
                verdict=verdict,
                comment=form.cleaned_data.get("comment", ""),
            )
        except services.ApprovalRefused as exc:
            messages.error(request, f"{exc.detail} [{exc.code}]")
        except services.ApprovalInvalid as exc:
            for message in exc.errors.values():
                messages.error(request, message)
        else:
            approval.refresh_from_db()
            messages.success(request, f"{approval}: {approval.get_status_display().lower()}.")
        return HttpResponseRedirect(
            reverse("admin:approvals_approvalrequest_change", args=[approval.pk])
        )


# --- On a release's page: its authorization, and asking for one -----------------------------------


class AskForm(forms.Form):
    urgency = forms.ChoiceField(choices=ApprovalRequest.Urgency.choices, initial="high")
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why this cannot wait for a regular window (senior management reads it).",
    )
    slot_start = forms.SplitDateTimeField(widget=admin.widgets.AdminSplitDateTime)
    slot_end = forms.SplitDateTimeField(widget=admin.widgets.AdminSplitDateTime)
    waives_notice = forms.BooleanField(
        required=False,
        help_text="Approving also waives the advance notice's lead time (perceptible releases).",
    )

    def __init__(self, *args, zone_text: str, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("slot_start", "slot_end"):
            self.fields[name].label = f"{name.replace('_', ' ').capitalize()} ({zone_text})"


def approval_panel(request, release) -> str:
    """The release's authorization on its page: where it stands, and how to ask."""
    if release.kind != release.Kind.EXCEPTIONAL:
        return ""
    latest = release.approval_requests.order_by("-created_at", "-id").first()
    can_ask = release.state in ("planned", "announced") and (
        latest is None or latest.status not in services.LIVE
    )
    ask_url = reverse("admin:approvals_approvalrequest_ask", args=[release.pk])
    if latest is None:
        status = "No authorization yet: an exceptional release starts only in an approved slot."
    else:
        link = reverse("admin:approvals_approvalrequest_change", args=[latest.pk])
        status = format_html(
            '<a href="{}">Request #{}</a>: <strong>{}</strong> — slot {} – {} ({})',
            link,
            latest.pk,
            latest.get_status_display(),
            instant(latest.slot_start),
            instant(latest.slot_end),
            latest.get_urgency_display().lower(),
        )
    ask = (
        format_html('<a class="button" href="{}">Request approval…</a>', ask_url) if can_ask else ""
    )
    return format_html(
        '<div class="panel approval"><h2>Authorization</h2><p>{}</p>{}</div>', status, ask
    )


hooks.register_panel(approval_panel)


def ask_view(request, release_id):
    """An engineer asks senior management to authorize an exceptional release."""
    release = Release.objects.select_related("component").filter(pk=release_id).first()
    if release is None:
        raise Http404("No such release.")
    zone_text = zone_label(named(desk_zone(request.user)))
    form = AskForm(request.POST or None, zone_text=zone_text)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.request_create(release=release, by=request.user, **form.cleaned_data)
        except services.ApprovalRefused as exc:
            messages.error(request, f"{exc.detail} [{exc.code}]")
        except services.ApprovalInvalid as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, f"Asked senior management: {created}.")
            return HttpResponseRedirect(reverse("admin:releases_release_change", args=[release.pk]))
    context = {
        **admin.site.each_context(request),
        "title": f"Request approval for {release}",
        "release": release,
        "form": form,
        "opts": ApprovalRequest._meta,
    }
    return TemplateResponse(request, "admin/approvals/approvalrequest/ask.html", context)
