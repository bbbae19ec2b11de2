from django import forms
from django.contrib import admin, messages

from accounts.desk import DeskTimeMixin
from notes import services
from notes.models import AdvanceNotice, NoticeRevision


class RevisionInline(admin.TabularInline):
    model = NoticeRevision
    extra = 0
    can_delete = False
    fields = ["number", "at", "by", "changes"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class NoticeForm(forms.ModelForm):
    """Asks notes.services which values it would refuse, before anything is saved."""

    class Meta:
        model = AdvanceNotice
        fields = ["release", *sorted(services.EDITABLE)]

    def clean(self):
        cleaned = super().clean()
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

    def save_model(self, request, obj, form, change):
        values = {k: form.cleaned_data[k] for k in form.changed_data if k in services.EDITABLE}
        # The form asked notes.services already; a refusal here is a race, and fails loudly.
        if change:
            saved = services.notice_update(notice=obj, by=request.user, **values)
        else:
            saved = services.notice_create(
                release=form.cleaned_data["release"], by=request.user, **values
            )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        pass  # components follow the release; revisions are written by the services

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

    @admin.action(description="Withdraw the selected notices")
    def withdraw(self, request, queryset):
        self._step(request, queryset, services.notice_withdraw, "withdrawn")

    @admin.action(description="Mark the selected notices done")
    def mark_done(self, request, queryset):
        self._step(request, queryset, services.notice_done, "done")
