from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.desk import DeskTimeMixin, confirm_first
from accounts.models import ApiKey
from accounts.services import apikey_create, apikey_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(DeskTimeMixin, admin.ModelAdmin):
    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["user", "name", *readonly_fields]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # A key's owner and name are fixed once issued; revoke and issue a new one instead.
        return [*self.readonly_fields, "user", "name"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        # Through the service, so the key lands on the audit log with who issued it. The
        # plaintext is kept on the object for this response only: never in a message (a signed,
        # readable cookie) nor anywhere else that outlives the page.
        key, obj.plaintext = apikey_create(user=obj.user, name=obj.name, by=request.user)
        obj.pk, obj.prefix, obj.digest, obj.created_at = (
            key.pk,
            key.prefix,
            key.digest,
            key.created_at,
        )
        obj._state.adding = False

    def response_add(self, request, obj, post_url_continue=None):
        response = TemplateResponse(
            request,
            "admin/accounts/apikey/created.html",
            {
                **self.admin_site.each_context(request),
                "title": f"API key {obj.prefix} created",
                "key": obj,
                "plaintext": obj.plaintext,
                "opts": self.model._meta,
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected keys…")
    def revoke(self, request, queryset):
        def run(chosen):
            now = timezone.now()
            count = 0
            for key in chosen.filter(revoked_at__isnull=True):
                apikey_revoke(key=key, by=request.user, at=now)
                count += 1
            self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)

        return confirm_first(
            self,
            request,
            queryset,
            title="Revoke these keys",
            consequence="Revoking cannot be undone: every pipeline using one of these keys is "
            "refused from its next request. Issue a new key to replace it.",
            run=run,
        )
