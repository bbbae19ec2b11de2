"""Any SQLite database, named by DATABASE_URL or not, holds several gunicorn workers' writes."""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.common import ROOT, gunicorn, manage, production_env

pytestmark = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="an SQLite test: the PostgreSQL run has its own concurrency tests",
)
SETUP = """
from django.contrib.auth.models import Group, User
from accounts.services import apikey_create
from releases.models import Component, Release
import datetime as dt
engineer = User.objects.create_user("erin", is_staff=True)
engineer.groups.add(Group.objects.get(name="Release engineers"))
component = Component.objects.create(slug="items-api", name="Items API", kind="api")
release = Release.objects.create(
    component=component, version="1.0.0", title="Many items", owner=engineer,
    scheduled_start=dt.datetime(2199, 1, 7, 8, 30, tzinfo=dt.UTC),
)
print(release.pk, apikey_create(user=engineer, name="load")[1])
"""


def test_280_concurrent_writes_under_four_workers_all_land(tmp_path):
    database = tmp_path / "elsewhere.sqlite3"
    env = production_env(DATABASE_URL=f"sqlite:///{database}", NIGHTSHIFT_VAR_DIR=str(tmp_path))
    manage(env, "migrate", "--noinput")
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SETUP],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    release_id, key = out[-2], out[-1]

    with gunicorn(env, workers=4) as port:

        def add(number: int) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            body = json.dumps({"release": int(release_id), "title": f"item {number}"})
            conn.request(
                "POST",
                "/api/v1/items/",
                body=body,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            status = conn.getresponse().status
            conn.close()
            return status

        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = Counter(pool.map(add, range(280)))

    assert statuses == {201: 280}
    with sqlite3.connect(database) as db:
        (items,) = db.execute("SELECT COUNT(*) FROM releases_releaseitem").fetchone()
        (events,) = db.execute(
            "SELECT COUNT(*) FROM releases_releaseevent WHERE action = 'item_added'"
        ).fetchone()
    assert (items, events) == (280, 280)  # each write whole: the item and its timeline entry
