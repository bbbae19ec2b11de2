"""The lifecycle is one table: the API, the desk and the documentation all follow it."""

from pathlib import Path

import pytest

from releases import services
from releases.lifecycle import TRANSITIONS, available

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_every_transition_has_its_service_its_api_action_and_its_row_in_the_docs():
    from releases.api import ReleaseViewSet

    page = ARCHITECTURE.read_text()
    for t in TRANSITIONS.values():
        assert t.service is getattr(services, f"release_{t.name}")
        assert callable(getattr(ReleaseViewSet, t.name)), t.name
        row = f"| `{t.name}` | {', '.join(sorted(t.sources))} | {t.target} | {t.summary} |"
        assert row in page, f"docs/architecture.md lacks: {row}"


@pytest.mark.django_db
def test_the_desk_offers_exactly_what_the_table_allows(admin_client, make_release):
    release = make_release()
    page = admin_client.get(f"/admin/releases/release/{release.pk}/change/").content.decode()
    base = f"/admin/releases/release/{release.pk}"
    offered = {
        name
        for name in TRANSITIONS
        if f"{base}/lifecycle/{name}/" in page or f"{base}/confirm/{name}/" in page
    }
    assert offered == {t.name for t in available("planned")} == {"announce", "cancel"}
    assert f"{base}/confirm/cancel/" in page  # cancel cannot be undone: it asks first
    assert ">Cancel…<" in page and ">Announce<" in page
