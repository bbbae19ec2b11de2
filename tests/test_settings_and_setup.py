"""Settings fail loudly, deploy checks are clean, SQLite is tuned, demo data is idempotent."""

import contextlib
import io
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db.backends.sqlite3.base import DatabaseWrapper

from approvals.models import ApprovalRequest
from config.env import env_bool, env_int, env_list
from releases.models import Component, Release

ROOT = Path(__file__).resolve().parent.parent


def test_env_helpers_refuse_bad_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL='maybe' is not a boolean"):
        env_bool("X_BOOL", default=False)
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int("X_INT", 1, minimum=1)
    monkeypatch.setenv("X_LIST", "a.example, b.example,")
    assert env_list("X_LIST", []) == ["a.example", "b.example"]
    monkeypatch.setenv("X_BOOL", "Yes")
    assert env_bool("X_BOOL", default=False) is True


def _manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.setdefault("DEBUG", "1")  # a development run, unless a test says otherwise
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 20 + "-production-secret-for-the-deploy-check-only-0123456789",
    "ALLOWED_HOSTS": "nightshift.example.com",
}


def test_deploy_check_is_clean_with_debug_off(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION,
        NIGHTSHIFT_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_without_a_secret_key_fails_loudly(tmp_path):
    result = _manage(
        "check", DEBUG="0", ALLOWED_HOSTS="x.example", NIGHTSHIFT_VAR_DIR=str(tmp_path)
    )
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_unset_debug_means_production_and_refuses_to_start_without_a_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "NIGHTSHIFT_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr and "DEBUG=1" in result.stderr
    dev_key = _manage("check", DEBUG="0", SECRET_KEY="dev-only-insecure-key-never-in-production")
    assert dev_key.returncode != 0 and "not the development key" in dev_key.stderr


def test_sqlite_is_tuned_for_concurrent_writers(tmp_path, django_db_blocker):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("this run uses PostgreSQL (DATABASE_URL)")
    config = {**settings.DATABASES["default"], "NAME": str(tmp_path / "probe.sqlite3")}
    wrapper = DatabaseWrapper(config, alias="probe")
    with django_db_blocker.unblock():
        try:
            with wrapper.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                assert cursor.fetchone()[0] == "wal"
                cursor.execute("PRAGMA busy_timeout")
                assert cursor.fetchone()[0] == 20000
            assert wrapper.transaction_mode == "IMMEDIATE"
        finally:
            wrapper.close()


@pytest.mark.django_db
def test_demo_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("demo", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="engineer").exists()


@pytest.mark.django_db
def test_demo_never_changes_an_existing_users_password(settings):
    settings.DEBUG = True
    get_user_model().objects.create_user("manager", password="my-own-long-password")
    call_command("demo", stdout=io.StringIO())
    assert authenticate(username="manager", password="my-own-long-password") is not None
    assert authenticate(username="manager", password="nightshift-demo") is None
    assert authenticate(username="engineer", password="nightshift-demo") is not None


@pytest.mark.django_db
def test_demo_is_idempotent_and_prints_the_password(settings):
    settings.DEBUG = True
    for _ in range(2):
        out = io.StringIO()
        call_command("demo", stdout=out)
    assert "password: nightshift-demo" in out.getvalue()
    assert Component.objects.count() == 3
    users = get_user_model().objects.filter(
        username__in=["engineer", "manager", "manager2", "operator"]
    )
    assert users.count() == 4 and all(u.is_staff for u in users)
    roles = {u.username: list(u.groups.values_list("name", flat=True)) for u in users}
    assert roles == {
        "engineer": ["Release engineers"],
        "manager": ["Senior management"],
        "manager2": ["Senior management"],
        "operator": ["Operations"],
    }
    assert authenticate(username="manager2", password="nightshift-demo") is not None
    assert "already there" in out.getvalue()
    states = Counter(Release.objects.values_list("state", flat=True))
    assert states["verified"] >= 30 and states["rolled_back"] == 1
    rolled = Release.objects.get(state="rolled_back")
    assert rolled.rollback.restored.version < rolled.version
    assert Release.objects.filter(kind="exceptional", state="announced").count() == 1
    assert ApprovalRequest.objects.get().status == "pending"
    assert Release.objects.filter(impact="perceptible", state="planned").count() == 1
    # The history went through the services: every past release has its whole timeline.
    verified = Release.objects.filter(state="verified").first()
    assert list(verified.events.values_list("action", flat=True)) == [
        "scheduled",
        "announce",
        "start",
        "complete",
        "verify",
    ]
    # The outbox shows what the demo's news would have sent, and none of it is sent.
    from notifications.models import Delivery

    # The resolved outage in the log: four steps, to status subscribers; the two major ones
    # to the key account's contacts too.
    from status.models import Incident

    [outage] = Incident.objects.all()
    assert outage.state == "resolved" and outage.updates.count() == 4
    from status.models import Probe  # live probes of the demo server itself

    assert sorted(Probe.objects.values_list("url", flat=True)) == [
        "http://127.0.0.1:8000/api/v1/gate/?component=items-api",
        "http://127.0.0.1:8000/healthz",
    ]
    status_news = Delivery.objects.filter(message__kind="status.update")
    assert Counter(status_news.values_list("address", flat=True)) == {
        "reader@example.com": 4, "ops@example.com": 4,
        "hank@globex.example": 2, "iris@globex.example": 2,
    }  # fmt: skip
    assert set(status_news.values_list("status", flat=True)) == {"skipped"}
    others = Delivery.objects.exclude(message__kind="status.update")
    assert sorted(others.values_list("message__kind", "address", "status")) == [
        ("approval.needed", "manager2@example.com", "skipped"),
        ("approval.needed", "manager@example.com", "skipped"),
        ("notice.published", "hank@globex.example", "skipped"),
        ("notice.published", "iris@globex.example", "skipped"),
        ("notice.published", "ops@example.com", "skipped"),
        ("notice.published", "reader@example.com", "skipped"),
    ]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"NOTICE_REMINDER_DAYS": "14,seven"}, "give whole days before the tentative date"),
        (
            {"DELIVERY_LEASE_SECONDS": "10", "WEBHOOK_TIMEOUT_SECONDS": "5"},
            "must be at least three times WEBHOOK_TIMEOUT_SECONDS=5",
        ),
        ({"WEBHOOK_TIMEOUT_SECONDS": "30", "DELIVERY_LEASE_SECONDS": "90"}, "a third of the task"),
    ],
)
def test_notification_settings_that_would_break_delivery_fail_loudly(tmp_path, env, words):
    result = _manage("check", NIGHTSHIFT_VAR_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert words in result.stderr


def test_the_task_cluster_is_configured_so_the_outbox_stays_the_source_of_truth(settings):
    q = settings.Q_CLUSTER
    # retry above timeout, or the ORM broker hands a still-running task to a second worker.
    assert q["retry"] > q["timeout"]
    # Failures are acknowledged and bounded; the sweeper, not the broker, retries deliveries.
    assert q["ack_failures"] is True and 1 <= q["max_attempts"] <= 10
    assert q["catch_up"] is False  # a cluster back after a night away runs each schedule once
    # Django's PostgreSQL pool breaks inside the forked cluster: it must not be switched on.
    assert "pool" not in settings.DATABASES["default"].get("OPTIONS", {})


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="make run is the SQLite embedded default; once is enough",
)
def test_make_run_serves_on_its_port_says_where_to_go_last_and_stops_within_seconds(tmp_path):
    import signal
    import time
    import urllib.request

    from bench.common import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PORT=str(port), NIGHTSHIFT_VAR_DIR=str(tmp_path))
    run = subprocess.Popen(
        ["make", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = run.stdout.readline()
            lines.append(line)
            if "(password nightshift-demo)" in line:
                break
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
        output = "".join(lines)
        assert f"Release desk:  http://127.0.0.1:{port}/admin/" in output
        assert "Subject:" not in output  # the demo's history sends no e-mail
        family = _descendants(run.pid)
        assert len(family) >= 4  # devserver, the cluster and its workers, runserver
        run.send_signal(signal.SIGTERM)  # to make itself, as a process manager would
        started = time.monotonic()
        run.wait(timeout=20)
        while time.monotonic() - started < 10 and any(_alive(pid) for pid in family):
            time.sleep(0.2)
        assert not [pid for pid in family if _alive(pid)]
        assert time.monotonic() - started < 10
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(todo.pop())], capture_output=True, text=True
        ).stdout.split()
        for child in map(int, children):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has exited


@pytest.mark.django_db
def test_every_schedule_runs_a_task_that_exists_and_a_broken_one_is_reported():
    from django_q.models import Schedule

    from lib.checks import schedules_resolve

    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"releases: flag missed windows", "status: chase late incident updates"} <= names
    assert schedules_resolve(databases=["default"]) == []
    Schedule.objects.create(name="renamed", func="notifications.tasks.gone", minutes=1)
    [error] = schedules_resolve(databases=["default"])
    assert error.id == "nightshift.E001"
    assert "'renamed' runs 'notifications.tasks.gone'" in error.msg


@pytest.mark.django_db
def test_the_icon_browsers_ask_for_is_the_one_every_page_names(client, engineer):
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301
    icon = answer["Location"]
    assert icon.endswith(".svg") and finders.find("nightshift/favicon.svg")
    link = f'<link rel="icon" type="image/svg+xml" href="{icon}">'
    assert link in client.get("/status/").content.decode()
    client.force_login(engineer)
    assert link in client.get("/admin/").content.decode()
