"""Ordering that refuses what it does not know, instead of silently ignoring it."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from releases.serializers import shown


class StrictOrderingFilter(OrderingFilter):
    """DRF's ordering, but ``?ordering=bogus`` is a 400 listing the fields one may order by."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [param.strip() for param in params.split(",")]
            valid = {
                name for name, _ in self.get_valid_fields(queryset, view, {"request": request})
            }
            unknown = [f for f in fields if f.lstrip("-") not in valid]
            if unknown:
                allowed = ", ".join(sorted(valid)) or "nothing here"
                raise ValidationError(
                    {
                        self.ordering_param: [
                            f"Cannot order by '{shown(unknown[0])}'; use one of: {allowed} "
                            "(prefix - for descending)."
                        ]
                    }
                )
        return super().get_ordering(request, queryset, view)
