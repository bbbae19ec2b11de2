"""Updates and a resolution at once: one resolution, and nothing after "Back to normal"
(real threads, each with its own PostgreSQL connection)."""

import datetime as dt
import threading

from django.db import connection

from status import services
from tests.helpers import postgres_only, threaded_db

pytestmark = [postgres_only, threaded_db]


def test_updates_racing_a_resolution_never_follow_it(operator, api_component):
    incident = services.incident_open(
        title="Writes fail", impact="major_outage", components=[api_component],
        body="Investigating.", by=operator, at=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    barrier = threading.Barrier(8)
    outcomes = []

    def worker(i):
        try:
            barrier.wait()
            if i % 2:
                services.incident_resolve(incident=incident, by=operator)
            else:
                services.incident_update(incident=incident, body=f"update {i}", by=operator)
            outcomes.append("ok")
        except services.IncidentRefused:
            outcomes.append("refused")
        except Exception as exc:  # anything else is the failure this test looks for
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(outcomes) <= {"ok", "refused"}, outcomes
    incident.refresh_from_db()
    assert incident.updates.filter(state="resolved").count() == 1
    assert not incident.updates.filter(at__gt=incident.resolved_at).exists()
