"""List pagination: ?page=N&page_size=M (at most 200) for every API list, and cursors for the
long ones (``KeysetPagination``, the releases).

A page that is not a positive whole number (or "last") is a 400 naming the parameter; a page
past the last is a 404 that says how many there are. Both are in the OpenAPI document.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from functools import reduce
from operator import or_

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

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
        return list(self.select_page(queryset, request))

    def select_page(self, queryset, request):
        """The numbered page asked for (``self.page``), its rows not read yet."""
        size = self.get_page_size(request)
        self.page = page_of(
            self.django_paginator_class(queryset, size),
            request.query_params.get(self.page_query_param),
        )
        return self.page

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters


NOT_A_CURSOR = (
    "This is not a cursor this list gave out; follow `next` or `previous` as they are, or "
    "start again without a cursor."
)


def _ordering(queryset) -> list[str]:
    """The queryset's order as field names, ending with the primary key (a cursor's tie-break)."""
    ordering = [str(name) for name in queryset.query.order_by or queryset.model._meta.ordering]
    pk = queryset.model._meta.pk.attname
    if not any(name.lstrip("-") in (pk, "pk") for name in ordering):
        ordering.append(f"-{pk}" if ordering and ordering[-1].startswith("-") else pk)
    return [f"-{pk}" if name == "-pk" else pk if name == "pk" else name for name in ordering]


def _storable(text: str) -> bool:
    """Text every database takes: no NUL (PostgreSQL), no lone surrogate (either driver)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _flip(name: str) -> str:
    return name[1:] if name.startswith("-") else f"-{name}"


def _beyond(ordering: list[str], position: list, backwards: bool, inclusive: bool) -> Q:
    """Rows after ``position`` in ``ordering`` (before it, ``backwards``), the row at it too
    when ``inclusive``.

    Lexicographic: the first field beyond, or equal and the second beyond, and so on. The first
    field's bound is repeated on its own so that the database walks its index from there.
    """
    clauses, equal = [], {}
    for n, (name, value) in enumerate(zip(ordering, position, strict=True)):
        field, descending = name.lstrip("-"), name.startswith("-") != backwards
        op = "lt" if descending else "gt"
        if inclusive and n == len(ordering) - 1:  # the last field is the primary key
            op += "e"
        clauses.append(Q(**equal, **{f"{field}__{op}": value}))
        equal[field] = value
    first, descending = ordering[0].lstrip("-"), ordering[0].startswith("-") != backwards
    return Q(**{f"{first}__{'lte' if descending else 'gte'}": position[0]}) & reduce(or_, clauses)


class KeysetPagination(Pagination):
    """A long list's pages: by cursor (the default), or by number for the first few.

    Without ``?page``, a page is the rows after (or, for ``previous``, before) a position in
    the list's order. That position is the last row's ordering values plus its id: an opaque
    ``cursor`` in the ``next`` and ``previous`` links. Each page then walks the ordering index
    from that position, so a page a million rows in costs what the first page costs. Cursor
    pages carry no ``count``, because counting a long list costs more than showing its page.

    ``?page=N`` keeps the numbered pages and the exact ``count``, as far as ``max_depth`` rows
    in. Offsets scan, so past that depth the answer is a 400 that says to follow ``next``.
    Rows moved while a client walks are neither repeated nor skipped by a cursor.
    """

    cursor_query_param = "cursor"
    max_depth = 10_000
    max_cursor_length = 1_000

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.model = queryset.model
        self.ordering = _ordering(queryset)
        queryset = queryset.order_by(*self.ordering)
        cursor = request.query_params.get(self.cursor_query_param) or None
        self.cursor_mode = not request.query_params.get(self.page_query_param)
        if not self.cursor_mode:
            if cursor:
                raise ValidationError(
                    {self.cursor_query_param: ["Give a cursor or a page number, not both."]}
                )
            return self._numbered(queryset, request)
        size = self.get_page_size(request)
        values, backwards, inclusive = self._decode(cursor) if cursor else (None, False, False)
        if values is not None:
            position = self._position(values)
            queryset = queryset.filter(_beyond(self.ordering, position, backwards, inclusive))
        if backwards:
            queryset = queryset.order_by(*(_flip(name) for name in self.ordering))
        rows = list(queryset[: size + 1])
        more, rows = len(rows) > size, rows[:size]
        if backwards:
            rows.reverse()
        # From an empty page, the way back starts at the position itself: the row there is
        # the last (first) of the page the client came from.
        here = self._encode(values, not backwards, inclusive=True) if values is not None else None
        if backwards:  # came back from a later page: there is one after this
            self.next_cursor = self._cursor(rows[-1], False) if rows else here
            self.previous_cursor = self._cursor(rows[0], True) if more else None
        else:
            self.next_cursor = self._cursor(rows[-1], False) if more else None
            self.previous_cursor = None  # the first page
            if values is not None:
                self.previous_cursor = self._cursor(rows[0], True) if rows else here
        return rows

    def _numbered(self, queryset, request):
        page = self.select_page(queryset, request)
        if page.start_index() > self.max_depth:
            raise ValidationError(
                {
                    self.page_query_param: [
                        f"Pages by number reach {self.max_depth:,} rows in; for older ones "
                        "follow the cursor in `next`, or narrow the list (by date, component)."
                    ]
                }
            )
        self.rows = list(page)
        return self.rows

    def get_next_link(self):
        """Past the depth numbers reach, a numbered page's ``next`` goes on by cursor."""
        if self.page.has_next() and self.page.end_index() >= self.max_depth:
            return self._link(self._cursor(self.rows[-1], False))
        return super().get_next_link()

    def get_paginated_response(self, data):
        if not self.cursor_mode:
            return super().get_paginated_response(data)
        return Response(
            {
                "next": self._link(self.next_cursor),
                "previous": self._link(self.previous_cursor),
                "results": data,
            }
        )

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, self.cursor_query_param, cursor)

    def _cursor(self, row, backwards: bool) -> str:
        fields = [self.model._meta.get_field(name.lstrip("-")) for name in self.ordering]
        return self._encode([field.value_to_string(row) for field in fields], backwards)

    def _encode(self, values: list[str], backwards: bool, *, inclusive: bool = False) -> str:
        data = {"o": self.ordering, "v": values, "b": backwards}
        if inclusive:
            data["i"] = True
        data = json.dumps(data, separators=(",", ":"))
        return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")

    def _invalid(self, message: str) -> ValidationError:
        return ValidationError({self.cursor_query_param: [message]})

    def _decode(self, cursor: str) -> tuple[list[str], bool, bool]:
        """The ordering values, direction and inclusiveness ``cursor`` holds, or a 400 saying
        what is wrong."""
        invalid = self._invalid(NOT_A_CURSOR)
        try:
            if len(cursor) > self.max_cursor_length:
                raise ValueError
            data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            ordering, values, backwards = data["o"], data["v"], data["b"]
            inclusive = data.get("i", False)
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise invalid from None
        if ordering != self.ordering:
            raise self._invalid(
                "This cursor belongs to another ordering; keep the ordering you started "
                "with, or start again without a cursor."
            )
        if not (
            isinstance(backwards, bool)
            and isinstance(inclusive, bool)
            and isinstance(values, list)
            and len(values) == len(ordering)
            and all(isinstance(v, str) and _storable(v) for v in values)
        ):
            raise invalid
        return values, backwards, inclusive

    def _position(self, values: list[str]) -> list:
        """The cursor's values as the ordering fields' Python values (bounded, aware)."""
        position = []
        for name, text in zip(self.ordering, values, strict=True):
            try:
                value = self.model._meta.get_field(name.lstrip("-")).to_python(text)
                if isinstance(value, dt.datetime):
                    value = value.astimezone(dt.UTC) if value.tzinfo else None
                if isinstance(value, int) and not -(2**63) <= value < 2**63:
                    value = None
            except (ValueError, TypeError, OverflowError, DjangoValidationError):
                value = None
            if value is None:
                raise self._invalid(NOT_A_CURSOR)
            position.append(value)
        return position

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "description": "How many match: only on pages asked for by number (`page`).",
                },
                "next": {**link, "description": "The next page (a cursor), or null at the end."},
                "previous": {**link, "description": "The page before, or null at the start."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["description"] = (
                    f"A page by number, with the exact `count`; as far as {self.max_depth:,} "
                    "rows in (beyond, follow `next`)."
                )
        cursor = {
            "name": self.cursor_query_param,
            "required": False,
            "in": "query",
            "description": "Where a page starts: the opaque value in `next` or `previous`.",
            "schema": {"type": "string", "maxLength": self.max_cursor_length},
        }
        return [cursor, *parameters]
