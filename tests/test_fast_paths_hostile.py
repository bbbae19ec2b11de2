"""The fast paths (the gate outside DRF's cycle, the shared page cache, the key cache) read as
a hostile client would: each answer is what the full path gives, for every input."""

import datetime as dt

import pytest
from django.http import QueryDict
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from releases import gate
from releases.models import Freeze

pytestmark = pytest.mark.django_db


def test_the_gates_fast_answer_escapes_line_separators_as_drf_does(api_component):
    """A freeze's reason may hold U+2028 (one line, no control character): DRF's renderer
    escapes it (JSON that stays valid JavaScript); the fast path must give the same bytes."""
    Freeze.objects.create(
        reason="Year\u2028end\u2029freeze",
        starts_at=dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
    )
    query = "component=items-api&at=2026-11-26T09:00:00Z"
    response = APIClient().get(f"/api/v1/gate/?{query}")
    expected = JSONRenderer().render(gate.ask(QueryDict(query), team=False))
    assert response.status_code == 200
    assert b"\\u2028" in expected
    assert response.content == expected
