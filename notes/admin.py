import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone

from accounts.desk import DeskTimeMixin, confirm_first
from notes import services
from notes.models import AdvanceNotice, NoticeRevision
from releases.models import DEFAULT_ZONE, Release
from releases.windows import get_zone


class RevisionInline(admin.TabularInline):
    model = NoticeRevision
    extra = 0
    can_delete = False
    fields = ["number", "at", "by", "changes"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


# The notice's own zone: its dates are shown and typed as customers will read them.
IN_NOTICE_ZONE = ("tentative_start", "action_deadline")


class NoticeForm(forms.ModelForm):
    """Asks notes.services which values it would refuse, before anything is saved.

    The tentative date and the deadline are shown and typed in the notice's zone (its
    ``tentative_zone``), not the desk's: "00:10" next to "America/Los_Angeles" means 00:10 there.
    """

    class Meta:
        model = AdvanceNotice
        fields = ["release", *sorted(services.EDITABLE)]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zone = get_zone(self.instance.tentative_zone or DEFAULT_ZONE)
        for name in IN_NOTICE_ZONE:
            field = self.fields.get(name)
            if field is None:
                continue
            field.label = f"{AdvanceNotice._meta.get_field(name).verbose_name.capitalize()}"
            field.help_text = "In the notice's time zone (the field above)."
            value = getattr(self.instance, name)
            if value is not None:
                self.initial[name] = value.astimezone(zone).replace(tzinfo=None)
        if "release" in self.fields:
            self.fields["release"].queryset = self.fields["release"].queryset.filter(
                impact=Release.Impact.PERCEPTIBLE
            )

    def clean(self):
        cleaned = super().clean()
        zone_name = cleaned.get("tentative_zone") or self.instance.tentative_zone or DEFAULT_ZONE
        try:
            zone = get_zone(zone_name)
        except ValueError:
            zone = None  # the zone field's own error says it
        desk = timezone.get_current_timezone()
        for name in IN_NOTICE_ZONE:
            value = cleaned.get(name)
            if value is not None and zone is not None:
                # Django read the wall-clock time in the desk's zone; it meant the notice's.
                wall = value.astimezone(desk).replace(tzinfo=None)
                cleaned[name] = wall.replace(tzinfo=zone).astimezone(dt.UTC)
        if self.errors:
            return cleaned
        editing = self.instance.pk is not None
        values = {
            k: cleaned[k]
            for k in (self.changed_data if editing else cleaned)
            if k in services.EDITABLE
        }
        errors = services.notice_errors(
            release=cleaned.get("release") or getattr(self.instance, "release", None),
            notice=self.instance if editing else None,
            values=values,
        )
        for field, message in errors.items():
            self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(AdvanceNotice)
class AdvanceNoticeAdmin(DeskTimeMixin, admin.ModelAdmin):
    """Drafting and publishing notices; every save goes through notes.services."""

    list_display = [
        "headline",
        "release",
        "status",
        "impact_level",
        "tentative_start",
        "published_at",
    ]
    list_filter = ["status", "impact_level", "certainty"]
    search_fields = ["headline", "release__version"]
    list_select_related = ["release__component"]
    readonly_fields = ["status", "revision", "published_at"]
    inlines = [RevisionInline]
    actions = ["publish", "withdraw", "mark_done"]
    form = NoticeForm
    # In the order a writer fills it: what, why it matters, what to do, when.
    fieldsets = [
        (None, {"fields": ["release", "headline", "description"]}),
        ("The change", {"fields": ["nature", "impact_level", "benefits"]}),
        ("What customers must do", {"fields": ["action_required", "action_deadline"]}),
        ("When", {"fields": ["tentative_zone", "tentative_start", "certainty"]}),
        ("State", {"fields": ["status", "revision", "published_at"]}),
    ]

    def view_on_site(self, obj):
        if obj.status == AdvanceNotice.Status.DRAFT:
            return None
        return reverse("notice-detail", args=[obj.pk])

    def save_model(self, request, obj, form, change):
        changed = set(form.changed_data)
        if "tentative_zone" in changed:
            changed |= set(IN_NOTICE_ZONE)  # the same wall-clock time is another instant now
        values = {k: form.cleaned_data[k] for k in changed if k in services.EDITABLE}
        # The form asked notes.services already; a refusal here is a race, and fails loudly.
        if change:
            saved = services.notice_update(notice=obj, by=request.user, **values)
        else:
            saved = services.notice_create(
                release=form.cleaned_data["release"], by=request.user, **values
            )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        # Components follow the release; revisions are written by the services. What the
        # admin's history would have listed, had the formsets saved anything: nothing.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def _step(self, request, queryset, step, done):
        for notice in queryset:
            try:
                step(notice=notice, by=request.user)
                messages.success(request, f"{notice}: {done}.")
            except services.NoticeInvalid as exc:
                messages.error(request, f"{notice}: " + " ".join(exc.errors.values()))
            except services.NoticeRefused as exc:
                messages.error(request, f"{notice}: {exc.detail}")

    @admin.action(description="Publish the selected drafts")
    def publish(self, request, queryset):
        self._step(request, queryset, services.notice_publish, "published")

    @admin.action(description="Withdraw the selected notices…")
    def withdraw(self, request, queryset):
        return confirm_first(
            self,
            request,
            queryset,
            title="Withdraw these notices",
            consequence="Withdrawing cannot be undone: each notice says publicly that its release "
            "will not happen as announced, and key accounts and subscribers are told at once "
            "that they need not act.",
            run=lambda chosen: self._step(request, chosen, services.notice_withdraw, "withdrawn"),
        )

    @admin.action(description="Mark the selected notices done")
    def mark_done(self, request, queryset):
        self._step(request, queryset, services.notice_done, "done")
