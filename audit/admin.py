"""The audit log in the admin: read only, for whoever may view it (senior management, auditors).

No add, change or delete, whatever the permissions say: entries are written by the services
only, and a delete here would be exactly the rewrite the log exists to reveal.
"""

import json

from django.contrib import admin
from django.utils.html import format_html

from audit.models import Anchor, Entry
from lib.admin import ReadOnlyAdmin


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ["seq", "at", "actor_username", "action", "subject_type", "subject_id"]
    list_filter = ["subject_type", "action", ("at", admin.DateFieldListFilter)]
    search_fields = ["=actor_username", "=subject_id", "action"]
    date_hierarchy = "at"
    show_full_result_count = False  # counting a million rows for every page is not worth it
    fields = [
        "seq", "at", "actor_id", "actor_username", "action", "subject_type", "subject_id",
        "before_json", "after_json", "digest", "prev_hash", "hash", "mac",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="before")
    def before_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.before, indent=2, sort_keys=True))

    @admin.display(description="after")
    def after_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.after, indent=2, sort_keys=True))


@admin.register(Anchor)
class AnchorAdmin(ReadOnlyAdmin):
    list_display = ["day", "at", "seq", "hash", "broken"]
    list_filter = [("problem", admin.EmptyFieldListFilter)]
    fields = ["day", "at", "seq", "hash", "problem", "recipients"]
    readonly_fields = fields

    @admin.display(boolean=True, description="broken")
    def broken(self, obj):
        return bool(obj.problem)
