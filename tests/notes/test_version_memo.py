"""The public validator is remembered until a commit or the clock's next turn (lib.freshness):
at every instant, the remembered version must be the version, the clock's turns (a release made
public, a start, a notice's date, a release leaving releases.ics, a window's edge) and their
neighbours included, walking forward and back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notes import selectors
from releases import services
from releases.models import Release
from tests.helpers import NOW, WED_WINDOW
from tests.notes.test_public_site import published_notice

pytestmark = [
    pytest.mark.django_db(transaction=True),  # remembered only outside transactions
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="PostgreSQL has no data_version: it always asks"
    ),
]
US = dt.timedelta(microseconds=1)


@pytest.fixture
def timeline(make_release, engineer):
    """Releases shipped (public from their completion) and planned, a published notice."""
    shipped = make_release(version="1.0.0")
    for step in (services.release_announce, services.release_start, services.release_complete):
        shipped = step(release=shipped, by=engineer, at=WED_WINDOW + dt.timedelta(minutes=5))
    later = make_release(
        version="2.0.0", impact="perceptible", scheduled_start=WED_WINDOW + dt.timedelta(days=7)
    )
    published_notice(later, engineer, tentative_start=later.scheduled_start)
    make_release(version="3.0.0", scheduled_start=WED_WINDOW + dt.timedelta(days=14))
    turns = set()
    for release in Release.objects.all():
        turns |= {release.scheduled_start, release.scheduled_start + selectors.ICS_HISTORY}
        if release.public_from:
            turns.add(release.public_from)
    return sorted(turns)


def instants(turns):
    near = sorted({t + d for t in turns for d in (-US, dt.timedelta(0), US)})
    steps = [NOW + dt.timedelta(hours=7 * n) for n in range(150)]
    return sorted(set(near + steps))


@pytest.mark.parametrize("windows", [False, True])
def test_the_remembered_version_is_the_version_at_every_instant(timeline, windows):
    walk = instants(timeline)
    for at in [*walk, *reversed(walk)]:  # the clock of a test may go back
        expected, _, _ = selectors._public_version(at, windows=windows)
        assert selectors.public_version(at, windows=windows) == expected, at


def test_a_revalidation_at_an_unchanged_instant_costs_no_query(timeline):
    selectors.public_version(NOW)
    with CaptureQueriesContext(connection) as queries:
        selectors.public_version(NOW + dt.timedelta(seconds=1))
    assert queries.captured_queries == []


def test_a_commit_changes_the_remembered_version(timeline, make_release):
    before = selectors.public_version(NOW)
    make_release(version="4.0.0", scheduled_start=WED_WINDOW + dt.timedelta(days=21))
    assert selectors.public_version(NOW) != before
