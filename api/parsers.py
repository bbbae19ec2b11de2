"""The API's JSON parser: any body it cannot read is a 4xx with a sentence, never a 500."""

from __future__ import annotations

import io

from django.conf import settings
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser


class BodyTooLarge(APIException):
    status_code = 413
    default_code = "too_large"
    default_detail = "The request body is too large."


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, bounded: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 (DRF reads
    the stream whole, past Django's own limit), and deep nesting is refused like bad JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body nests too deeply.") from None
        if _holds_nul(data):
            # No text Nightshift keeps may hold NUL (PostgreSQL refuses it), whichever field.
            raise ParseError("The body holds a NUL character (\\u0000); remove it.")
        return data


def _holds_nul(value) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _refuse_nul_in_form(data):
    if any(_holds_nul([key, *values]) for key, values in data.lists()):
        raise ParseError("The body holds a NUL character; remove it.")


class SafeFormParser(FormParser):
    """Form bodies (curl -d) with the same rule: no NUL in any value."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _refuse_nul_in_form(data)
        return data


class SafeMultiPartParser(MultiPartParser):
    """Multipart bodies (the browsable API's forms) with the same rule."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _refuse_nul_in_form(parsed.data)
        return parsed
