"""Running the probes: the HTTP check, the samples and rollups it leaves, and the incidents that
consecutive failures open.

The check wraps the standard library's ``http.client`` (as the webhook client does): no new
dependency, no proxy taken from the environment, and redirects are never followed, so a probe
reaches exactly the address staff configured. Private and loopback addresses are allowed: see
``Probe.url``.

``run_due_probes`` asks the due probes concurrently (``PROBE_CONCURRENCY`` threads that only do
HTTP: they never touch the database) and records each answer in the calling thread, one
transaction per probe: its sample, its hour and day rollups, its counters and perhaps an
incident. A run the cluster missed leaves no sample: a gap, shown as "no data", never as up.
"""

from __future__ import annotations

import datetime as dt
import http.client
import logging
import math
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import roles
from status.models import Incident, Level, Probe, ProbeRollup, ProbeSample

log = logging.getLogger(__name__)

Error = ProbeSample.Error
MAX_BODY = 1024 * 1024  # what body_contains searches: the first megabyte
USER_AGENT = "Nightshift-Probe/1"


@dataclass(frozen=True)
class Result:
    up: bool
    latency_ms: int | None
    status_code: int | None = None
    error: str = ""


# --- The check -------------------------------------------------------------------------------


def check(
    url: str,
    *,
    method: str = "GET",
    expected_status: int = 200,
    body_contains: str = "",
    timeout: float = 10,
) -> Result:
    """Ask ``url`` once. Up when the status is the expected one and (for GET) the body holds
    ``body_contains``. ``timeout`` bounds the whole exchange, connect to last byte read."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Result(False, None, None, Error.OTHER)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    started = time.perf_counter()
    deadline = started + timeout

    def elapsed_ms() -> int:
        return round((time.perf_counter() - started) * 1000)

    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    status = None
    try:
        conn.request(method, target, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
        sock = conn.sock  # kept: the connection forgets it once a closing response is read
        response = conn.getresponse()
        status = response.status
        body = b""
        if method == "GET" and body_contains and status == expected_status:
            while len(body) < MAX_BODY:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = response.read1(min(65536, MAX_BODY - len(body)))
                if not chunk:
                    break
                body += chunk
        latency = elapsed_ms()
        if time.perf_counter() > deadline:
            return Result(False, latency, status, Error.TIMEOUT)
        if status != expected_status:
            return Result(False, latency, status, Error.WRONG_STATUS)
        if body_contains and method == "GET" and body_contains.encode() not in body:
            return Result(False, latency, status, Error.BODY_MISMATCH)
        return Result(True, latency, status)
    except Exception as exc:  # any failure is a sample, classified; never an exception
        return Result(False, elapsed_ms(), status, classify(exc))
    finally:
        conn.close()


def classify(exc: BaseException) -> str:
    """The short class of a failure, as stored on the sample."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return Error.TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return Error.REFUSED
    if isinstance(exc, socket.gaierror):
        return Error.DNS
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return Error.TLS
    return Error.OTHER


def check_probe(probe: Probe) -> Result:
    return check(
        probe.url,
        method=probe.method,
        expected_status=probe.expected_status,
        body_contains=probe.body_contains,
        timeout=probe.timeout_seconds,
    )


# --- Recording -------------------------------------------------------------------------------


def bucket_start(at: dt.datetime, period: str) -> dt.datetime:
    at = at.astimezone(dt.UTC)
    if period == ProbeRollup.Period.HOUR:
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_end(start: dt.datetime, period: str) -> dt.datetime:
    return start + (dt.timedelta(hours=1) if period == ProbeRollup.Period.HOUR else dt.timedelta(1))


def percentile(sorted_values: list[int], fraction: float) -> int | None:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _roll_up(probe: Probe, sample: ProbeSample) -> None:
    """Add the sample to its hour and day buckets; percentiles recomputed from the bucket's raw
    samples (at most 1,440 a day). Latency counts successful answers only: a timeout's latency
    is the timeout, not the service's speed."""
    for period in ProbeRollup.Period.values:
        start = bucket_start(sample.at, period)
        rollup, _ = ProbeRollup.objects.get_or_create(probe=probe, period=period, start=start)
        latencies = list(
            ProbeSample.objects.filter(
                probe=probe,
                at__gte=start,
                at__lt=bucket_end(start, period),
                up=True,
                latency_ms__isnull=False,
            )
            .order_by("latency_ms")
            .values_list("latency_ms", flat=True)
        )
        ProbeRollup.objects.filter(pk=rollup.pk).update(
            samples=F("samples") + 1,
            up_samples=F("up_samples") + int(sample.up),
            p50_ms=percentile(latencies, 0.50),
            p95_ms=percentile(latencies, 0.95),
        )


def incident_owner():
    """Who owns an incident a probe opens: the first active member of Operations, else the
    first active superuser; None when there is neither."""
    users = get_user_model().objects.filter(is_active=True).order_by("pk")
    return (
        users.filter(groups__name=roles.OPERATIONS).first()
        or users.filter(is_superuser=True).first()
    )


def _impact(error: str) -> str:
    # Unreachable (refused, timed out) is a major outage: nothing answers. Anything else (a
    # wrong status, a wrong body, DNS or TLS trouble on the probe's side) may be partial. A major
    # outage holds the component's regular releases, so it is kept for the clear case.
    return Level.MAJOR if error in (Error.REFUSED, Error.TIMEOUT) else Level.PARTIAL


TITLE_MAX = Incident._meta.get_field("title").max_length


def _open_incident(probe: Probe, result: Result, now: dt.datetime) -> Incident | None:
    from status import services  # services imports the models; keep the import graph flat

    owner = incident_owner()
    if owner is None:
        log.error(
            "Probe %s failed %d times in a row but nobody can own an incident (no active "
            "Operations member, no active superuser): none opened.",
            probe.name,
            probe.consecutive_failures,
        )
        return None
    label = Error(result.error).label if result.error in Error.values else "failed"
    detail = f"{label} (HTTP {result.status_code})" if result.status_code else label
    body = (
        f"The probe “{probe.name}” failed {probe.consecutive_failures} times in a row; "
        f"the last answer: {detail}. This incident was opened automatically; "
        "a person will update it shortly."
    )
    title = f"{probe.component.name}: {probe.name} is failing"
    if len(title) > TITLE_MAX:  # long names must not cost the incident (nor the sample)
        title = title[: TITLE_MAX - 1] + "…"
    try:
        # A savepoint: an incident refused for any reason never rolls back the sample.
        with transaction.atomic():
            return services.incident_open(
                title=title,
                impact=_impact(result.error),
                components=[probe.component],
                body=body,
                by=None,
                owner=owner,
                automatic=True,
                at=now,
            )
    except (services.IncidentInvalid, services.IncidentRefused) as exc:
        log.error("Probe %s: the incident it would open was refused: %s", probe.name, exc)
        return None


def record(probe_id: int, result: Result, now: dt.datetime) -> ProbeSample | None:
    """Keep one answer: the sample, its rollups, the probe's counters and perhaps an incident,
    in one transaction. Returns None if the probe was deleted or deactivated meanwhile."""
    with transaction.atomic():
        probe = (
            Probe.objects.select_for_update(of=("self",))
            .select_related("component", "open_incident")
            .filter(pk=probe_id, is_active=True)
            .first()
        )
        if probe is None:
            return None
        sample = ProbeSample.objects.create(
            probe=probe,
            at=now,
            up=result.up,
            latency_ms=result.latency_ms,
            status_code=result.status_code,
            error="" if result.up else (result.error or Error.OTHER),
        )
        _roll_up(probe, sample)
        probe.last_run_at, probe.last_up = now, result.up
        incident = probe.open_incident
        if result.up:
            probe.consecutive_failures = 0
            if incident is not None and incident.is_open:
                # Recovered: nobody resolves on a probe's word; the desk says "consider it".
                probe.recovered_at = probe.recovered_at or now
            else:
                probe.open_incident, probe.recovered_at = None, None
        else:
            probe.consecutive_failures += 1
            probe.recovered_at = None
            # One incident per failure streak: none while this probe's incident is open, and
            # none either when a person resolved it while the probe still fails (they judged).
            if incident is None and probe.consecutive_failures >= probe.threshold:
                probe.open_incident = _open_incident(probe, result, now)
        probe.save(
            update_fields=[
                "last_run_at",
                "last_up",
                "consecutive_failures",
                "open_incident",
                "recovered_at",
            ]
        )
    return sample


def run_due_probes(now: dt.datetime | None = None, *, everything: bool = False) -> int:
    """Ask each active probe whose interval has passed (every active one with ``everything``)
    and record the answers. Returns how many were recorded."""
    now = now or timezone.now()
    probes = [p for p in Probe.objects.filter(is_active=True) if everything or p.is_due(now)]
    return run(probes, now)


def run(probes: list[Probe], now: dt.datetime) -> int:
    if not probes:
        return 0
    recorded = 0
    workers = min(settings.PROBE_CONCURRENCY, len(probes))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        futures = {pool.submit(check_probe, probe): probe for probe in probes}
        for future in as_completed(futures):
            probe = futures[future]
            try:
                if record(probe.pk, future.result(), now) is not None:
                    recorded += 1
            except Exception:  # one probe's trouble never stops the others' samples
                log.exception("Recording probe %s failed", probe.name)
    return recorded


def prune(*, keep_days: int | None = None, now: dt.datetime | None = None) -> int:
    """Delete raw samples older than ``keep_days`` (PROBE_KEEP_DAYS); rollups stay forever."""
    now = now or timezone.now()
    keep_days = settings.PROBE_KEEP_DAYS if keep_days is None else keep_days
    if keep_days < 1:
        raise ValueError("Keep at least one day of samples: the open buckets are built from them.")
    before = now - dt.timedelta(days=keep_days)
    # The day bucket still open must keep its samples (its percentiles are recomputed from them).
    before = min(before, bucket_start(now, ProbeRollup.Period.DAY))
    deleted = 0
    while True:  # in batches: one long delete would hold SQLite's lock for seconds
        with transaction.atomic():
            ids = list(
                ProbeSample.objects.filter(at__lt=before).values_list("pk", flat=True)[:10_000]
            )
            if not ids:
                return deleted
            deleted += ProbeSample.objects.filter(pk__in=ids).delete()[0]
