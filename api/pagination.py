"""List pagination for every API list: ?page=N&page_size=M (at most 200).

A page that is not a positive whole number (or "last") is a 400 naming the parameter; a page
past the last is a 404 that says how many there are. Both are in the OpenAPI document.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination

from releases.serializers import shown


def _positive(raw: str | None, name: str) -> int | None:
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1 or len(raw) > 9:
        raise ValidationError({name: [f"'{shown(raw)}' is not a page: give a whole number ≥ 1."]})
    return int(raw)


def page_of(paginator: Paginator, raw: str | None):
    """The page ``raw`` names (1 when absent, the last for "last"), or a 400/404 saying why."""
    number = paginator.num_pages if raw == "last" else (_positive(raw, "page") or 1)
    if number > paginator.num_pages:
        raise NotFound(f"There is no page {number}; there are {paginator.num_pages}.")
    return paginator.page(number)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        size = _positive(request.query_params.get(self.page_size_query_param), "page_size")
        if size and size > self.max_page_size:
            raise ValidationError(
                {"page_size": [f"At most {self.max_page_size} per page; ask for more pages."]}
            )
        return size or self.page_size

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        self.page = page_of(paginator, request.query_params.get(self.page_query_param))
        return list(self.page)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters
