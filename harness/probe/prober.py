"""The built-in prober: steady FHIR traffic through the front door, every request recorded.

It is open-loop, like a real clinic: requests are *scheduled* at a fixed rate whether or
not earlier ones came back, so an outage shows up as a burst of failures at the cut's
time instead of one stuck request hiding it. A small thread pool sends them; a request
that hangs (a black-holed link) only holds its own thread until its timeout.

Operations (weights from the experiment's ``probe.mix``):

* ``create`` -- ``POST /Patient`` with a unique identifier; ok on 201
* ``read``   -- ``GET /Patient/{id}`` of a patient this prober created and saw acknowledged;
  ok on 200 (a 404 for an acknowledged write is an error: possibly lost data). The patients
  read are a uniform sample of every acknowledged create (reservoir sampling): at most
  :data:`CREATED_KEPT` are kept, so a soak's memory does not grow with its creates (~220
  bytes each); the ledger check reads every write back from the timeline, not from here.
* ``search`` -- ``GET /Patient?identifier=...`` of the same; ok on 200 with a Bundle

Locust replaces this for load in a later issue; the prober stays for cheap smoke runs.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from harness.probe.stats import LiveStats
from harness.timeline import RequestRecord, RequestTap, TimelineWriter

IDENTIFIER_SYSTEM = "urn:hchaos:probe"
CREATED_KEPT = 10_000
OPERATIONS = ("read", "create", "search")


@dataclass(frozen=True)
class ProbeConfig:
    base_url: str
    service: str
    rate: float
    timeout: float
    mix: Mapping[str, float]
    run_id: str
    seed: int = 0


class Prober:
    """Sends ``rate`` requests/s to ``base_url`` until :meth:`stop`. Start with :meth:`start`."""

    def __init__(self, config: ProbeConfig, timeline: TimelineWriter, stats: LiveStats | None = None,
                 tap: RequestTap | None = None) -> None:
        self.config = config
        self._timeline = timeline
        self.stats = stats or LiveStats()
        self._tap = tap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.Random(config.seed)
        self._created: list[tuple[str, str]] = []  # (resource id, identifier value), acknowledged: a sample
        self._acknowledged = 0  # creates acknowledged so far (the sample is drawn from them all)
        self._created_lock = threading.Lock()
        self._sequence = 0
        workers = max(4, int(config.rate * config.timeout * 1.5) + 2)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        self._client = httpx.Client(base_url=config.base_url, timeout=config.timeout, limits=limits,
                                    headers={"Accept": "application/fhir+json"})
        ops = [op for op in OPERATIONS if config.mix.get(op, 0) > 0]
        self._ops = ops
        self._weights = [config.mix[op] for op in ops]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._schedule, name="probe-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling, wait for requests in flight (bounded by the timeout), close."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True)
        self._client.close()

    def _schedule(self) -> None:
        interval = 1.0 / self.config.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self._one_request, self._choose())
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            elif delay < -1.0:
                next_at = time.monotonic()  # we fell behind (machine stalled): do not burst

    def _choose(self) -> str:
        op = self._random.choices(self._ops, self._weights)[0]
        if op != "create":
            with self._created_lock:
                if not self._created:
                    return "create"  # nothing to read yet
        return op

    # -- one request ---------------------------------------------------------------------

    def _one_request(self, operation: str) -> None:
        start_wall = time.time()
        start = time.perf_counter()
        status: int | None = None
        error: str | None = None
        served_by = datacenter = resource_id = version = write_key = accepted_by = None
        ok = False
        try:
            if operation == "create":
                identifier = self._next_identifier()
                # Known before sending: a create that times out may still exist (the ledger looks).
                write_key = f"Patient?identifier={IDENTIFIER_SYSTEM}|{identifier}"
                response = self._create(identifier)
            else:
                with self._created_lock:
                    resource_id, identifier = self._random.choice(self._created)
                if operation == "read":
                    response = self._client.get(f"/Patient/{resource_id}")
                else:
                    response = self._client.get("/Patient", params={"identifier": f"{IDENTIFIER_SYSTEM}|{identifier}"})
            status = response.status_code
            served_by = response.headers.get("x-served-by")
            datacenter = response.headers.get("x-datacenter")
            expected = 201 if operation == "create" else 200
            ok = status == expected
            if ok and operation == "create":
                body = response.json()
                resource_id = str(body.get("id"))
                version = str(body.get("meta", {}).get("versionId", ""))
                accepted_by = body.get("meta", {}).get("source")
                self._remember(resource_id, identifier)
            elif ok and operation == "search":
                ok = response.json().get("resourceType") == "Bundle"
                error = None if ok else "bad-body"
            if not ok and error is None:
                error = f"http-{status}"
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.ConnectError:
            error = "connect"
        except httpx.RemoteProtocolError:
            error = "disconnected"
        except (httpx.HTTPError, ValueError) as exc:
            error = type(exc).__name__
        duration = time.perf_counter() - start
        self._timeline.append(RequestRecord(
            t=start_wall, duration=duration, source="probe", service=self.config.service, operation=operation,
            ok=ok, status=status, error=error, served_by=served_by, datacenter=datacenter,
            resource_id=f"Patient/{resource_id}" if resource_id else None, version=version, write_key=write_key,
            accepted_by=accepted_by))
        self.stats.add(start_wall, duration, ok, served_by)
        if self._tap is not None:
            self._tap(self.config.service, start_wall, duration, ok)

    def _remember(self, resource_id: str, identifier: str) -> None:
        """Keep an acknowledged create in the bounded uniform sample (Algorithm R)."""
        with self._created_lock:
            self._acknowledged += 1
            if len(self._created) < CREATED_KEPT:
                self._created.append((resource_id, identifier))
            elif (slot := self._random.randrange(self._acknowledged)) < CREATED_KEPT:
                self._created[slot] = (resource_id, identifier)

    def _next_identifier(self) -> str:
        with self._created_lock:
            self._sequence += 1
            return f"{self.config.run_id}-{self._sequence}"

    def _create(self, identifier: str) -> httpx.Response:
        patient = {
            "resourceType": "Patient",
            "identifier": [{"system": IDENTIFIER_SYSTEM, "value": identifier}],
            "name": [{"family": "Probe", "given": [f"P{identifier.rsplit('-', 1)[-1]}"]}],
            "birthDate": "1970-01-01",
        }
        return self._client.post("/Patient", json=patient, headers={"Content-Type": "application/fhir+json"})
