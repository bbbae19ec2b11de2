"""The probes in the desk: their state at a glance, "run now", and the read-only samples."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.contrib.auth.models import Group
from django.urls import NoReverseMatch, clear_url_caches, reverse
from django.utils import timezone

import status.admin_probes  # noqa: F401 - registers the admins (status/admin.py will import it)
from accounts import roles
from status import probing
from status.models import Incident, ProbeSample

Result = probing.Result


@pytest.fixture(autouse=True)
def _admin_urls():
    """The admin's URLs are built when the URLconf is first imported: if that happened before
    this module registered the probe admins, build them again."""
    try:
        reverse("admin:status_probe_changelist")
    except NoReverseMatch:
        import config.urls

        importlib.reload(config.urls)
        clear_url_caches()


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_user("opal", "opal@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.OPERATIONS))
    return user


def test_the_list_says_status_failures_and_consider_resolving(client, operator, make_probe):
    now = timezone.now()
    probe = make_probe("http://10.0.0.5/health", name="Search health")
    for i in range(3):
        probing.record(
            probe.pk, Result(False, 5, 500, "wrong_status"), now - dt.timedelta(minutes=15 - 5 * i)
        )
    quiet = make_probe("http://127.0.0.1:9/", name="Never run")
    client.force_login(operator)
    page = client.get(reverse("admin:status_probe_changelist")).content.decode()
    assert "Search health" in page and "Down" in page and "Never run" in page and "No data" in page
    incident = Incident.objects.get()
    assert f"#{incident.pk}" in page
    probing.record(probe.pk, Result(True, 5, 200), now)
    page = client.get(reverse("admin:status_probe_changelist")).content.decode()
    assert "recovered: consider resolving" in page and "Up" in page
    assert quiet.consecutive_failures == 0


def test_run_now_asks_the_selected_probes(client, operator, make_probe, server):
    probe = make_probe(f"{server.base}/ok")
    idle = make_probe(f"{server.base}/ok", is_active=False)
    client.force_login(operator)
    response = client.post(
        reverse("admin:status_probe_changelist"),
        {"action": "run_now", "_selected_action": [probe.pk, idle.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "1 probe(s) asked now" in page and "1 inactive probe(s) skipped" in page
    assert probe.samples.get().up and not idle.samples.exists()


def test_samples_are_read_only_and_filtered_by_typed_dates(client, operator, make_probe, settings):
    settings.TEAM_TIME_ZONE = "UTC"
    probe = make_probe("http://127.0.0.1:9/", failures_to_open=100)
    for day in (1, 2, 3):
        probing.record(
            probe.pk, Result(day != 2, 7, 200), dt.datetime(2026, 11, day, 12, tzinfo=dt.UTC)
        )
    client.force_login(operator)
    url = reverse("admin:status_probesample_changelist")
    page = client.get(url, {"at_from": "2026-11-02", "at_until": "2026-11-02"}).content.decode()
    assert "02 Nov 2026 12:00" in page
    assert "01 Nov 2026 12:00" not in page and "03 Nov 2026 12:00" not in page
    page = client.get(url, {"at_from": "02/11/2026"}).content.decode()
    assert "is not a date: type it as YYYY-MM-DD" in page
    page = client.get(url, {"up__exact": "0"}).content.decode()
    assert "02 Nov 2026 12:00" in page and "01 Nov 2026 12:00" not in page
    sample = ProbeSample.objects.first()
    assert client.get(reverse("admin:status_probesample_add")).status_code == 403
    change = client.post(reverse("admin:status_probesample_change", args=[sample.pk]), {"up": "on"})
    assert change.status_code == 403
