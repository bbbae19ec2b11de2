"""Admin pieces every app's desk shares (Django only)."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record people read and never edit in the desk (a log, measurements)."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
