"""Writes that matter."""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

from releases.models import RulesRevision


def rules_changed(*, at: dt.datetime | None = None) -> None:
    """Give the rules a new revision token, so every process reloads its window calendar.

    Called by releases.signals on every write to components, policies and freezes (in the
    writer's transaction); call it yourself only after a QuerySet.update() of those.
    """
    RulesRevision.objects.filter(pk=1).update(token=uuid.uuid4(), changed_at=at or timezone.now())
