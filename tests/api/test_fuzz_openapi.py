"""The API does what its OpenAPI document says: schemathesis fuzzes every operation in process.

As a release engineer, as a senior manager and anonymously, each operation gets a bounded number
of generated requests (valid and invalid); every answer must be a documented status with a body
that matches the documented schema, and never a 5xx. Bounded to fit CI: FUZZ_EXAMPLES per
operation and role (raise it locally to dig deeper).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from accounts.services import apikey_create
from notes import services as notices
from releases import services
from tests.helpers import NOW, WED_WINDOW, utc

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
# Schema-valid is not rule-valid: a release outside every window, a duplicate version, a notice
# for a release with no impact are refused with a 400 naming the field, by design.
LENIENT = [positive_data_acceptance]


@pytest.fixture
def api_app(db, monkeypatch):
    """The real WSGI application, in the test's transaction (as Django's test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, engineer, manager, make_release, client_component):
    """Something for the operations to find: releases in several states, a notice, a freeze."""
    from releases.models import Freeze

    shipped = make_release(version="1.0.0")
    for step in (services.release_announce, services.release_start, services.release_complete):
        shipped = step(release=shipped, by=engineer, at=WED_WINDOW)
    make_release(version="1.1.0", scheduled_start=utc(2026, 12, 3, 8))
    perceptible = make_release(
        version="2.0.0", impact="perceptible", scheduled_start=utc(2027, 1, 6, 8)
    )
    notice = notices.notice_create(release=perceptible, by=engineer, at=NOW, headline="Keys")
    Freeze.objects.create(reason="Year end", starts_at=utc(2026, 12, 24), ends_at=utc(2027, 1, 2))
    return {"release": shipped, "notice": notice}


def fuzz(app, headers=None) -> None:
    """Every operation, valid and invalid requests; fail with every broken one, not the first."""
    spec = SchemaGenerator().get_schema(request=None, public=True)
    failures: list[str] = []
    schema = schemathesis.openapi.from_dict(spec)
    schema.app = app  # every request, the checks' own included, goes to the app in process
    schema.config.update(base_url="http://testserver")
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @FUZZ
            def run(case):
                case.call_and_validate(headers=headers, excluded_checks=LENIENT)

            try:
                run()
            except Unsatisfiable:
                continue  # nothing to negate (an operation without parameters)
            except (Exception, BaseExceptionGroup) as exc:  # report every operation that broke
                failures.append(f"{operation.label} ({mode.value}): {exc}".strip()[:3000])
    assert not failures, "\n\n".join(failures)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # report, don't shrink: CI time is bounded
    suppress_health_check=list(HealthCheck),
)


def _key(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {apikey_create(user=user, name='fuzz')[1]}"}


def test_as_a_release_engineer(api_app, world, engineer):
    fuzz(api_app, _key(engineer))


def test_as_a_senior_manager(api_app, world, manager):
    fuzz(api_app, _key(manager))


def test_anonymously(api_app, world):
    fuzz(api_app)


def test_the_fuzzed_document_is_the_served_one(client, db):
    """The fixtures build the document in process; this is what /api/schema/ serves too."""
    import yaml

    served = yaml.safe_load(client.get("/api/schema/").content)
    generated = SchemaGenerator().get_schema(request=None, public=True)
    assert served["paths"].keys() == generated["paths"].keys()
