"""The audit log's interface (being built): every governed fact is appended here, in the
transaction that makes the change.

- ``record(action=, subject=, actor=, at=, before=, after=)`` appends one entry.
- ``register(model, fields)`` names a model whose rows are governed, and which of their fields
  an entry's digest covers (``audit verify`` reconciles the rows with the log).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

_registry: dict[type, list[str]] = {}


def register(model: type, fields: list[str]) -> None:
    """Declare a governed model and the fields whose values the log vouches for."""
    _registry[model] = list(fields)


def record(
    *,
    action: str,
    subject: Any,
    actor=None,
    at: dt.datetime,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    """Append one entry for ``subject`` (a model instance, or a ("type", id) pair)."""
    return None
