"""The release list is built without the serializer's per-field work (release_payloads): it
must render exactly what ReleaseSerializer renders, for releases in every shape."""

import datetime as dt
import json

import pytest
import time_machine
from rest_framework.renderers import JSONRenderer

from releases import services
from releases.models import Release
from releases.serializers import ReleaseSerializer, release_payloads
from tests.helpers import NOW, WED_WINDOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def shapes(make_release, engineer, client_component):
    """Planned without items, announced, shipped twice and rolled back (a version restored),
    cancelled with a reason, exceptional on another component, with Markdown notes."""
    make_release(version="0.1.0", items=[])
    services.release_announce(release=make_release(version="0.2.0", notes="**Bold**"),
                              by=engineer, at=NOW)  # fmt: skip
    for version in ("1.0.0", "1.1.0"):
        release = make_release(version=version)
        with time_machine.travel(NOW, tick=False):
            release = services.release_announce(release=release, by=engineer, at=NOW)
        start = WED_WINDOW + dt.timedelta(minutes=5)
        with time_machine.travel(start, tick=False):
            release = services.release_start(release=release, by=engineer, at=start)
            release = services.release_complete(release=release, by=engineer, at=start)
    services.release_rollback(release=release, by=engineer, reason="Errors", at=start)
    cancelled = make_release(version="2.0.0")
    services.release_cancel(release=cancelled, by=engineer, reason="Not needed", at=NOW)
    make_release(version="3.0.0", component=client_component, kind="exceptional")


def test_the_list_renders_what_the_serializer_renders(shapes, engineer_api):
    releases = list(Release.objects.for_payload().order_by("-scheduled_start", "-id"))
    assert len(releases) == 6 and any(r.state == "rolled_back" for r in releases)
    payloads = release_payloads(releases)
    for release, payload in zip(releases, payloads, strict=True):
        expected = JSONRenderer().render(ReleaseSerializer(release).data)
        assert JSONRenderer().render(payload) == expected, release.version
    listed = engineer_api.get("/api/v1/releases/", {"page_size": 50}).json()["results"]
    assert listed == [
        json.loads(JSONRenderer().render(ReleaseSerializer(r).data)) for r in releases
    ]
