"""The one shape of "bad input" every service raises: sentences by field name."""

from __future__ import annotations


class Invalid(Exception):
    """Bad input, by field name; nothing was written. The API answers 400 with ``errors``,
    forms put each sentence on its field."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
