"""What every page of the release desk shares: times in the desk's zone, labelled as such."""

from __future__ import annotations

from django.db import models

from accounts.middleware import desk_zone
from lib.instants import html as instant
from lib.instants import zone_label
from lib.zones import named


def _instant_column(name: str, field: models.DateTimeField):
    def column(obj):
        return instant(getattr(obj, name))

    column.short_description = f"{field.verbose_name} (local, UTC)"
    column.admin_order_field = name
    column.__name__ = f"{name}_shown"
    return column


class DeskTimeMixin:
    """Date-time inputs say which zone they take; date-time columns show local and UTC."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and isinstance(db_field, models.DateTimeField):
            label = zone_label(named(desk_zone(request.user)))
            field.label = f"{field.label or db_field.verbose_name.capitalize()} ({label})"
        return field

    def get_list_display(self, request):
        shown = []
        for name in super().get_list_display(request):
            field = None
            if isinstance(name, str):
                try:
                    field = self.model._meta.get_field(name)
                except Exception:  # a method or property: left as it is
                    field = None
            if isinstance(field, models.DateTimeField):
                shown.append(_instant_column(name, field))
            else:
                shown.append(name)
        return shown
