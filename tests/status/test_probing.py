"""The probes against local HTTP servers: what counts as up, how failures are classified, the
incident that consecutive failures open (once), recovery, rollups, pruning and the command."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from accounts import roles
from status import probing
from status.models import Incident, Level, Probe, ProbeRollup, ProbeSample
from tests.conftest import NOW

Result = probing.Result
Error = ProbeSample.Error
FIVE = dt.timedelta(minutes=5)


# --- The check --------------------------------------------------------------------------------


def test_up(server):
    result = probing.check(f"{server.base}/ok", body_contains="all good", timeout=5)
    assert result.up and result.status_code == 200 and result.error == ""
    assert result.latency_ms is not None and 0 <= result.latency_ms < 2000


def test_head_is_up_without_reading_a_body(server):
    result = probing.check(f"{server.base}/ok", method="HEAD", timeout=5)
    assert result.up and result.status_code == 200


def test_a_500_is_down_with_its_status(server):
    result = probing.check(f"{server.base}/fail", timeout=5)
    assert (result.up, result.status_code, result.error) == (False, 500, Error.WRONG_STATUS)


def test_an_expected_status_other_than_200(server):
    assert probing.check(f"{server.base}/fail", expected_status=500, timeout=5).up


def test_slower_than_the_timeout_is_a_timeout(server):
    result = probing.check(f"{server.base}/slow", timeout=1)
    assert (result.up, result.error) == (False, Error.TIMEOUT)
    assert 900 <= result.latency_ms < 1900


def test_the_wrong_body_is_down(server):
    result = probing.check(f"{server.base}/other", body_contains="all good", timeout=5)
    assert (result.up, result.status_code, result.error) == (False, 200, Error.BODY_MISMATCH)


def test_a_closed_port_is_connection_refused(closed_port):
    result = probing.check(f"http://127.0.0.1:{closed_port}/", timeout=2)
    assert (result.up, result.status_code, result.error) == (False, None, Error.REFUSED)


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (socket.gaierror(-2, "Name or service not known"), Error.DNS),
        (ssl.SSLCertVerificationError("certificate verify failed"), Error.TLS),
        (TimeoutError(), Error.TIMEOUT),
        (ConnectionRefusedError(), Error.REFUSED),
        (ConnectionResetError(), Error.OTHER),
    ],
)
def test_failures_are_classified(exc, error):
    assert probing.classify(exc) == error


def test_a_url_that_is_not_http_is_down_not_an_exception():
    assert probing.check("ftp://127.0.0.1/", timeout=1) == Result(False, None, None, Error.OTHER)


# --- Running and recording ---------------------------------------------------------------------


def test_run_due_probes_records_each_due_probe_once(server, make_probe, closed_port):
    up = make_probe(f"{server.base}/ok")
    down = make_probe(f"http://127.0.0.1:{closed_port}/")
    idle = make_probe(f"{server.base}/ok", is_active=False)
    assert probing.run_due_probes(NOW) == 2
    assert probing.run_due_probes(NOW + dt.timedelta(minutes=2)) == 0  # not due yet
    assert probing.run_due_probes(NOW + FIVE) == 2
    up.refresh_from_db()
    down.refresh_from_db()
    assert (up.last_up, up.last_run_at, up.consecutive_failures) == (True, NOW + FIVE, 0)
    assert (down.last_up, down.consecutive_failures) == (False, 2)
    assert list(down.samples.values_list("error", flat=True)) == [Error.REFUSED] * 2
    assert not idle.samples.exists()
    assert up.status_at(NOW + FIVE) == "up" and down.status_at(NOW + FIVE) == "down"
    assert up.status_at(NOW + dt.timedelta(hours=1)) == "no data"


def _fail(probe, times, start, *, result=None):
    result = result or Result(False, 3, 500, Error.WRONG_STATUS)
    for i in range(times):
        probing.record(probe.pk, result, start + i * FIVE)
    return start + times * FIVE


def test_consecutive_failures_open_exactly_one_incident(make_probe, component, operator):
    probe = make_probe("http://127.0.0.1:9/", name="Items API health")
    at = _fail(probe, 2, NOW)
    assert not Incident.objects.exists()
    at = _fail(probe, 1, at)
    incident = Incident.objects.get()
    assert incident.opened_automatically and incident.is_open
    assert list(incident.components.all()) == [component]
    assert incident.owner == operator and incident.impact == Level.PARTIAL
    assert incident.started_at == NOW + 2 * FIVE
    assert "failed 3 times in a row" in incident.updates.get().body
    probe.refresh_from_db()
    assert probe.open_incident == incident and probe.consecutive_failures == 3
    _fail(probe, 5, at)
    assert Incident.objects.count() == 1
    # Operations are told at once that a probe opened it (and customers, as for any incident).
    from notifications.models import Message

    [told] = Message.objects.filter(kind="status.probe")
    assert [d.address for d in told.deliveries.all()] == [operator.email]
    assert "Confirm or correct it" in told.text


def test_recovery_does_not_resolve_and_a_new_streak_does_not_open_another(make_probe, operator):
    probe = make_probe("http://127.0.0.1:9/")
    at = _fail(probe, 3, NOW)
    incident = Incident.objects.get()
    probing.record(probe.pk, Result(True, 20, 200), at)
    probe.refresh_from_db()
    incident.refresh_from_db()
    assert incident.is_open and incident.state == Incident.State.INVESTIGATING
    assert incident.updates.count() == 1  # nothing posted automatically
    assert probe.recovered_at == at and probe.open_incident == incident
    assert probe.consecutive_failures == 0
    _fail(probe, 4, at + FIVE)
    assert Incident.objects.count() == 1
    probe.refresh_from_db()
    assert probe.recovered_at is None  # down again: no "consider resolving"


def test_after_a_person_resolves_the_next_streak_opens_a_new_incident(make_probe, operator):
    from status import services

    probe = make_probe("http://127.0.0.1:9/")
    at = _fail(probe, 3, NOW)
    first = Incident.objects.get()
    # Resolved while the probe still fails: no second incident for the same streak.
    services.incident_resolve(incident=first, by=operator, at=at)
    at = _fail(probe, 2, at)
    assert Incident.objects.count() == 1
    probing.record(probe.pk, Result(True, 20, 200), at)
    probe.refresh_from_db()
    assert probe.open_incident is None and probe.recovered_at is None
    _fail(probe, 3, at + FIVE)
    assert Incident.objects.count() == 2
    assert Incident.objects.open().get() != first


def test_unreachable_is_a_major_outage_and_a_probe_threshold_wins(make_probe, operator):
    probe = make_probe("http://127.0.0.1:9/", failures_to_open=1)
    probing.record(probe.pk, Result(False, 1, None, Error.REFUSED), NOW)
    assert Incident.objects.get().impact == Level.MAJOR


def test_the_setting_is_the_default_threshold(make_probe, operator, settings):
    settings.PROBE_FAILURES_TO_OPEN = 5
    probe = make_probe("http://127.0.0.1:9/")
    at = _fail(probe, 4, NOW)
    assert not Incident.objects.exists()
    _fail(probe, 1, at)
    assert Incident.objects.count() == 1


def test_without_anyone_to_own_it_no_incident_is_opened_and_it_is_logged(make_probe, caplog):
    probe = make_probe("http://127.0.0.1:9/")
    _fail(probe, 3, NOW)
    assert not Incident.objects.exists()
    assert "nobody can own an incident" in caplog.text
    probe.refresh_from_db()
    assert probe.consecutive_failures == 3 and probe.open_incident is None


def test_a_superuser_owns_it_when_operations_is_empty(make_probe, django_user_model):
    boss = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    _fail(make_probe("http://127.0.0.1:9/"), 3, NOW)
    assert Incident.objects.get().owner == boss


def test_real_failures_over_http_open_the_incident(server, make_probe, operator):
    server.switch = "fail"
    probe = make_probe(f"{server.base}/switch")
    for i in range(3):
        probing.run_due_probes(NOW + i * FIVE)
    assert Incident.objects.open().count() == 1
    server.switch = "ok"
    probing.run_due_probes(NOW + 3 * FIVE)
    probe.refresh_from_db()
    assert probe.last_up and probe.recovered_at == NOW + 3 * FIVE
    assert Incident.objects.open().count() == 1


# --- Rollups and pruning -------------------------------------------------------------------------


def test_rollups_count_and_take_percentiles_of_successful_answers(make_probe):
    probe = make_probe("http://127.0.0.1:9/", failures_to_open=100)
    hour = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)
    for i, latency in enumerate([70, 10, 100, 40, 20, 90, 30, 60, 50, 80]):
        probing.record(probe.pk, Result(True, latency, 200), hour + dt.timedelta(minutes=i))
    for i in range(2):  # failures: counted, but their latency is not the service's speed
        probing.record(
            probe.pk, Result(False, 10_000, None, Error.TIMEOUT), hour.replace(minute=30 + i)
        )
    probing.record(probe.pk, Result(True, 500, 200), hour + dt.timedelta(hours=1))
    h10 = ProbeRollup.objects.get(probe=probe, period="hour", start=hour)
    assert (h10.samples, h10.up_samples, h10.p50_ms, h10.p95_ms) == (12, 10, 50, 100)
    h11 = ProbeRollup.objects.get(probe=probe, period="hour", start=hour + dt.timedelta(hours=1))
    assert (h11.samples, h11.up_samples, h11.p50_ms, h11.p95_ms) == (1, 1, 500, 500)
    day = ProbeRollup.objects.get(probe=probe, period="day", start=hour.replace(hour=0))
    assert (day.samples, day.up_samples, day.p50_ms, day.p95_ms) == (13, 11, 60, 500)
    assert ProbeRollup.objects.filter(probe=probe).count() == 3


def test_a_bucket_with_only_failures_has_no_percentiles(make_probe):
    probe = make_probe("http://127.0.0.1:9/", failures_to_open=100)
    _fail(probe, 2, NOW)
    hour = ProbeRollup.objects.get(probe=probe, period="hour")
    assert (hour.samples, hour.up_samples, hour.p50_ms, hour.p95_ms) == (2, 0, None, None)
    assert hour.uptime == 0.0


def test_percentile_is_nearest_rank():
    assert probing.percentile([], 0.5) is None
    assert probing.percentile([7], 0.95) == 7
    assert probing.percentile(list(range(1, 101)), 0.95) == 95
    assert probing.percentile(list(range(1, 101)), 0.50) == 50


def test_prune_removes_old_samples_and_keeps_rollups(make_probe):
    probe = make_probe("http://127.0.0.1:9/")
    old, recent = NOW - dt.timedelta(days=40), NOW - dt.timedelta(days=1)
    probing.record(probe.pk, Result(True, 10, 200), old)
    probing.record(probe.pk, Result(True, 10, 200), recent)
    assert probing.prune(keep_days=30, now=NOW) == 1
    assert list(ProbeSample.objects.values_list("at", flat=True)) == [recent]
    assert ProbeRollup.objects.filter(probe=probe).count() == 4  # both hours and both days
    assert ProbeRollup.objects.get(period="day", start=old.replace(hour=0)).samples == 1
    with pytest.raises(ValueError, match="at least one day"):
        probing.prune(keep_days=0, now=NOW)


# --- The command -----------------------------------------------------------------------------


def test_command_run_all_and_prune(server, make_probe, time_machine):
    time_machine.move_to(NOW, tick=False)
    probe = make_probe(f"{server.base}/ok")
    out = StringIO()
    call_command("probes", "run", stdout=out)
    assert out.getvalue().strip() == "1 probe(s) run."
    call_command("probes", "run", stdout=out)  # not due again yet
    assert out.getvalue().splitlines()[-1] == "0 probe(s) run."
    call_command("probes", "run", "--all", stdout=out)
    assert out.getvalue().splitlines()[-1] == "1 probe(s) run."
    assert probe.samples.count() == 2
    time_machine.move_to(NOW + dt.timedelta(days=10), tick=False)
    call_command("probes", "prune", "--keep-days", "5", stdout=out)
    assert (
        out.getvalue().splitlines()[-1] == "2 sample(s) older than 5 day(s) deleted; rollups kept."
    )
    assert not ProbeSample.objects.exists()
    assert ProbeRollup.objects.get(probe=probe, period="hour").samples == 2
    with pytest.raises(CommandError, match="keep at least 1 day"):
        call_command("probes", "prune", "--keep-days", "0")


def test_the_schedule_exists_and_operations_may_run_probes(db):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="status: run due probes")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "status.tasks.run_due_probes",
        "I",
        1,
        -1,
    )
    perms = set(
        Group.objects.get(name=roles.OPERATIONS).permissions.values_list("codename", flat=True)
    )
    assert {"add_probe", "change_probe", "view_probesample"} <= perms


def test_probe_bounds_are_validated(component):
    from django.core.exceptions import ValidationError

    probe = Probe(name="x", url="ftp://example.com/", component=component, timeout_seconds=61)
    with pytest.raises(ValidationError) as invalid:
        probe.full_clean()
    assert {"url", "timeout_seconds"} <= set(invalid.value.message_dict)
    head = Probe(
        name="y",
        url="http://10.0.0.5/health",
        component=component,
        method="HEAD",
        body_contains="ok",
    )
    with pytest.raises(ValidationError) as invalid:
        head.full_clean()
    assert set(invalid.value.message_dict) == {"body_contains"}  # a private address is fine
