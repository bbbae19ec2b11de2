"""The one shape of "bad input" every service raises: sentences by field name."""

from __future__ import annotations


class Invalid(Exception):
    """Bad input, by field name; nothing was written. The API answers 400 with ``errors``,
    forms put each sentence on its field."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class Refused(Exception):
    """The domain's rules say no: a stable code, a sentence, and the HTTP status that fits
    (409 unless said otherwise; 403 when it is who asks). The API answers problem+json with
    the code in ``reasons``."""

    def __init__(self, code: str, detail: str, *, status: int = 409):
        self.code, self.detail, self.status = code, detail, status
        super().__init__(detail)
