"""The built-in probers: steady traffic to one service, every request recorded.

Every prober is open-loop, like a real clinic: requests are *scheduled* at a fixed rate
whether or not earlier ones came back, so an outage shows up as a burst of failures at the
cut's time instead of one stuck request hiding it. A small thread pool sends them; a request
that hangs (a black-holed link) only holds its own thread until its timeout.

:class:`Prober` is that scheduler, shared: it times each request, writes its
:class:`~harness.timeline.RequestRecord` (``source`` "probe", ``service`` the target's name),
feeds the live stats and the tap. A protocol supplies only :meth:`Prober._attempt` -- one
request, returned as an :class:`Attempt` -- and, when it has a choice, :meth:`Prober._choose`.
Which prober a target gets is decided by its protocol: :func:`harness.probe.make_prober`.

:class:`FhirProber` (``fhir-r4``) mixes three operations (weights from the experiment's
``probe.mix``):

* ``create`` -- ``POST /Patient`` with a unique identifier; ok on 201
* ``read``   -- ``GET /Patient/{id}`` of a patient this prober created and saw acknowledged;
  ok on 200 (a 404 for an acknowledged write is an error: possibly lost data). The patients
  read are a uniform sample of every acknowledged create (reservoir sampling): at most
  :data:`CREATED_KEPT` are kept, so a soak's memory does not grow with its creates (~220
  bytes each); the ledger check reads every write back from the timeline, not from here.
* ``search`` -- ``GET /Patient?identifier=...`` of the same; ok on 200 with a Bundle

Locust replaces this for load; the prober stays for cheap smoke runs and for measuring.
"""

from __future__ import annotations

import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import httpx

from harness.probe.httpcommon import error_kind, http_client, identity
from harness.probe.stats import LiveStats
from harness.probe.target import ProbeTarget
from harness.timeline import RequestRecord, RequestTap, TimelineWriter

IDENTIFIER_SYSTEM = "urn:hchaos:probe"
CREATED_KEPT = 10_000
OPERATIONS = ("read", "create", "search")


@dataclass(frozen=True)
class ProberSettings:
    """How to probe: the ``target``, ``rate`` requests/s, each bounded by ``timeout`` seconds;
    ``mix`` the operation weights (``fhir-r4`` only: the other protocols have one operation and
    ignore it); ``run_id`` makes written identifiers unique to the run; ``seed`` the choices."""

    target: ProbeTarget
    rate: float
    timeout: float
    mix: Mapping[str, float]
    run_id: str
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.rate > 0 or not self.timeout > 0:
            raise ValueError(f"probe of {self.target.service!r}: rate ({self.rate}) and timeout ({self.timeout}) "
                             "must be > 0")
        if self.target.protocol == "fhir-r4" and not any(self.mix.get(op, 0) > 0 for op in OPERATIONS):
            raise ValueError(f"probe of {self.target.service!r}: the mix gives no weight to any of "
                             f"{', '.join(OPERATIONS)}")


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one request, as its protocol judged it: the protocol-specific fields of its
    :class:`~harness.timeline.RequestRecord` (time, service and source are the scheduler's)."""

    ok: bool
    status: int | None = None
    error: str | None = None
    served_by: str | None = None
    datacenter: str | None = None
    resource_id: str | None = None
    version: str | None = None
    write_key: str | None = None
    accepted_by: str | None = None
    message_id: str | None = None
    ack_code: str | None = None


class Prober(ABC):
    """Sends ``settings.rate`` requests/s to ``settings.target`` from :meth:`start` until :meth:`stop`.

    Contract for subclasses: :meth:`_attempt` sends one request and never raises for anything the
    service or the network does (it returns a failed :class:`Attempt`); if it raises anyway (a
    bug), the request is still recorded once, as an error named after the exception.
    """

    operation: ClassVar[str] = "read"
    """The operation recorded when the protocol has only one (see :meth:`_choose`)."""

    def __init__(self, settings: ProberSettings, timeline: TimelineWriter, stats: LiveStats | None = None,
                 tap: RequestTap | None = None) -> None:
        self.settings = settings
        self.target = settings.target
        self._timeline = timeline
        self.stats = stats or LiveStats()
        self._tap = tap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._random = random.Random(settings.seed)
        # Enough threads for every request that can be in flight at once (each holds one for at
        # most the timeout), with slack: a full pool would delay requests and hide the outage.
        self.workers = max(4, int(settings.rate * settings.timeout * 1.5) + 2)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="probe")

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._schedule, name="probe-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling, wait for requests in flight (bounded by the timeout), close. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True)
        if not self._closed:
            self._closed = True
            self._close()

    def _close(self) -> None:
        """Release the protocol's connections (after the last request completed); default: none."""
        return

    def _schedule(self) -> None:
        interval = 1.0 / self.settings.rate
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
        """The next request's operation (called from the scheduler thread only)."""
        return self.operation

    # -- one request ---------------------------------------------------------------------

    def _one_request(self, operation: str) -> None:
        start_wall = time.time()
        start = time.perf_counter()
        try:
            attempt = self._attempt(operation)
        except Exception as error:  # a bug: still exactly one record, never a silent pool thread
            attempt = Attempt(ok=False, error=type(error).__name__)
        duration = time.perf_counter() - start
        service = self.target.service
        self._timeline.append(RequestRecord(
            t=start_wall, duration=duration, source="probe", service=service, operation=operation,
            ok=attempt.ok, status=attempt.status, error=attempt.error, served_by=attempt.served_by,
            datacenter=attempt.datacenter, resource_id=attempt.resource_id, version=attempt.version,
            write_key=attempt.write_key, accepted_by=attempt.accepted_by, message_id=attempt.message_id,
            ack_code=attempt.ack_code))
        self.stats.add(start_wall, duration, attempt.ok, attempt.served_by)
        if self._tap is not None:
            self._tap(service, start_wall, duration, attempt.ok)

    @abstractmethod
    def _attempt(self, operation: str) -> Attempt:
        """Send one ``operation`` request and judge it (see the class docstring's contract)."""


class FhirProber(Prober):
    """``fhir-r4``: the read/create/search mix of the module docstring, against ``target.base_url``."""

    def __init__(self, settings: ProberSettings, timeline: TimelineWriter, stats: LiveStats | None = None,
                 tap: RequestTap | None = None) -> None:
        super().__init__(settings, timeline, stats, tap)
        assert settings.target.base_url is not None  # ProbeTarget guarantees it for fhir-r4
        self._created: list[tuple[str, str]] = []  # (resource id, identifier value), acknowledged: a sample
        self._acknowledged = 0  # creates acknowledged so far (the sample is drawn from them all)
        self._created_lock = threading.Lock()
        self._sequence = 0
        self._client = http_client(settings.target.base_url, settings.timeout, self.workers, "application/fhir+json")
        self._ops = [op for op in OPERATIONS if settings.mix.get(op, 0) > 0]
        self._weights = [settings.mix[op] for op in self._ops]

    def _close(self) -> None:
        self._client.close()

    def _choose(self) -> str:
        op = self._random.choices(self._ops, self._weights)[0]
        if op != "create":
            with self._created_lock:
                if not self._created:
                    return "create"  # nothing to read yet
        return op

    def _attempt(self, operation: str) -> Attempt:
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
            served_by, datacenter = identity(response)
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
        except (httpx.HTTPError, ValueError) as exc:
            error = error_kind(exc)
        return Attempt(ok=ok, status=status, error=error, served_by=served_by, datacenter=datacenter,
                       resource_id=f"Patient/{resource_id}" if resource_id else None, version=version,
                       write_key=write_key, accepted_by=accepted_by)

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
            return f"{self.settings.run_id}-{self._sequence}"

    def _create(self, identifier: str) -> httpx.Response:
        patient = {
            "resourceType": "Patient",
            "identifier": [{"system": IDENTIFIER_SYSTEM, "value": identifier}],
            "name": [{"family": "Probe", "given": [f"P{identifier.rsplit('-', 1)[-1]}"]}],
            "birthDate": "1970-01-01",
        }
        return self._client.post("/Patient", json=patient, headers={"Content-Type": "application/fhir+json"})
