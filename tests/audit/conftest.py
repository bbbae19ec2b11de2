"""Audit fixtures: an auditor, a release with a full history, and verify's verdict in one call."""

from __future__ import annotations

import pytest

from accounts import roles
from audit import services as audit
from audit.models import Entry
from tests.helpers import WED_WINDOW, client_for, make_user


@pytest.fixture
def auditor(django_user_model):
    return make_user(django_user_model, "ada", roles.AUDITORS)


@pytest.fixture
def auditor_api(auditor):
    return client_for(auditor)


@pytest.fixture
def shipped(make_release, engineer):
    """A release scheduled, announced, started, completed and verified through the services."""
    from releases import services

    release = make_release()
    for step in (
        services.release_announce,
        services.release_start,
        services.release_complete,
        services.release_verify,
    ):
        release = step(release=release, by=engineer, at=WED_WINDOW)
    return release


def problems(**kwargs) -> list[str]:
    """Everything verify reports, chain first; [] when the log is intact."""
    report = audit.verify(**kwargs)
    assert report.ok == (not (report.broken or report.unreconciled))
    return report.broken + report.unreconciled


def last() -> Entry:
    return Entry.objects.order_by("-seq").first()
