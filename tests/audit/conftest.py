"""Audit fixtures: verify's verdict in one call, and the latest entry."""

from __future__ import annotations

from audit import services as audit
from audit.models import Entry


def problems(**kwargs) -> list[str]:
    """Everything verify reports, chain first; [] when the log is intact."""
    report = audit.verify(**kwargs)
    assert report.ok == (not (report.broken or report.unreconciled))
    return report.broken + report.unreconciled


def last() -> Entry:
    return Entry.objects.order_by("-seq").first()
