"""The API's JSON parser: any body it cannot read is a 4xx with a sentence, never a 500."""

from __future__ import annotations

import io

from django.conf import settings
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser


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
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body nests too deeply.") from None
