from django.contrib import admin, messages
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import apikey_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
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
        plaintext = obj.set_new_secret()
        obj.save()
        messages.warning(
            request,
            f"The new key is {plaintext} — copy it now: it is not stored and is never shown again.",
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        now = timezone.now()
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            apikey_revoke(key=key, at=now)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
