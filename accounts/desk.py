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


def confirm_first(modeladmin, request, queryset, *, title: str, consequence: str, run):
    """An admin action that cannot be undone asks first, on a page saying what will happen.

    Returns the confirmation page, or None once confirmed (after ``run(queryset)``), as admin
    actions do.
    """
    from django.contrib.admin import helpers
    from django.template.response import TemplateResponse

    if request.POST.get("confirmed") == "yes":
        run(queryset)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "consequence": consequence,
        "objects": list(queryset),
        "action": request.POST.get("action"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/confirm_action.html", context)
