"""Typed records of the run's timeline.

Every record has ``kind`` and ``t`` (wall-clock start, seconds since the Unix epoch, from
``time.time()``): one clock for requests, faults, phases and processes, so checkers can
align them. Records are flat (no nesting) so that the JSON-lines file maps one-to-one onto
a columnar table later (Arrow/Parquet) without reshaping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any, Literal, TypeAlias

RunPhase = Literal["up", "steady_state", "faults", "recovery", "checks"]
"""The phases of a run, in the order they happen (what a :class:`PhaseRecord` marks). Checks judge
only some of them: :data:`harness.experiment.checks.JudgedPhase`."""
ProcessAction = Literal["start", "ready", "kill", "stop", "vanished"]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request sent by a probe or load user.

    ``ok`` is the request's outcome as the client judged it (expected status); ``error`` is a
    short error kind ("timeout", "connect", "http-503", ...) when not ok. ``served_by`` and
    ``datacenter`` come from the service's response headers when there was a response.

    Identifiers the data checkers need, for writes: ``resource_id`` (``Type/id`` for the
    load, the bare Patient id for the prober) and ``version`` for FHIR; ``message_id``
    (MSH-10) and ``ack_code`` (MSA-1) for HL7; ``instance_uid`` (SOP Instance UID) for
    DICOM. ``write_key`` is how to find a FHIR write again whatever its outcome (the search
    for the client's own identifier, ``Observation?identifier=system|value``): set on every
    create attempt, so the ledger also finds writes that exist though never acknowledged.
    ``accepted_by`` is who accepted an acknowledged write and in which term, when the service
    says so (the EHR's ``meta.source``, ``"ehr-a#1"``): the split-brain checker's input.
    ``persona`` and ``user`` (a stable id per simulated user) are set by the load.

    Degraded mode (the clinicians' care application): ``mode`` is what the application said it
    was in when it answered (``"normal"`` or ``"downtime"``), ``as_of`` the time (epoch seconds)
    of the data a downtime answer was built from (its snapshot), ``downtime_id`` the identifier
    from a reserved range an order or registration got while queued, and ``patient`` the
    patient the request was about (for identity checks).
    """

    t: float
    duration: float
    source: str
    service: str
    operation: str
    ok: bool
    status: int | None = None
    error: str | None = None
    served_by: str | None = None
    datacenter: str | None = None
    resource_id: str | None = None
    version: str | None = None
    persona: str | None = None
    user: str | None = None
    message_id: str | None = None
    ack_code: str | None = None
    instance_uid: str | None = None
    write_key: str | None = None
    accepted_by: str | None = None
    mode: str | None = None
    as_of: float | None = None
    downtime_id: str | None = None
    patient: str | None = None
    kind: Literal["request"] = "request"


RequestTap: TypeAlias = Callable[[str, float, float, bool], None]
"""Called with (service, t, duration, ok) for each completed request, by whoever records it
(prober, load), from its own thread: for live decisions such as halt conditions."""


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """A fault injected or healed (``action``), written when the action completed: ``t`` when
    the action started, ``ended`` when it had taken effect (every toxic added or removed, every
    link switched, every process killed or restarted). They differ by a round trip, or by tens
    of seconds when Toxiproxy is slow to remove a toxic (its issue #558). ``ended`` is absent in
    timelines written before it existed: read it through :attr:`effective_end`."""

    t: float
    action: Literal["inject", "heal"]
    fault: str
    fault_type: str
    target: str
    duration: float = 0.0
    ended: float | None = None
    kind: Literal["fault"] = "fault"

    @property
    def effective_end(self) -> float:
        """When the action had taken effect (``t`` for a record without ``ended``)."""
        return self.t if self.ended is None else self.ended


@dataclass(frozen=True, slots=True)
class PhaseRecord:
    """A phase of the run started or ended."""

    t: float
    phase: RunPhase
    action: Literal["start", "end"]
    kind: Literal["phase"] = "phase"


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A process of the topology changed state (started, ready, killed, stopped; ``vanished``:
    its container was removed by someone else during the run)."""

    t: float
    name: str
    action: ProcessAction
    pid: int | None = None
    kind: Literal["process"] = "process"


@dataclass(frozen=True, slots=True)
class HaltRecord:
    """A halt condition was crossed: the run stopped its faults early (``reason`` says why)."""

    t: float
    condition: str
    service: str
    reason: str
    kind: Literal["halt"] = "halt"


@dataclass(frozen=True, slots=True)
class AbortRecord:
    """``hchaos abort`` stopped the run: its faults were healed at once and it ended early
    (``by``: who asked, as ``user@host pid N``; ``reason``: the reason they gave)."""

    t: float
    by: str
    reason: str
    kind: Literal["abort"] = "abort"


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """A notification an application sent to the out-of-band channel (the notification sink,
    outside both data centers): ``event`` ("downtime", "restored"), ``source`` (the application
    instance), ``t`` when the sink received it, ``sent_at`` when the application says it sent it."""

    t: float
    event: str
    source: str
    sent_at: float | None = None
    reason: str | None = None
    kind: Literal["notification"] = "notification"


TimelineRecord = (RequestRecord | FaultRecord | PhaseRecord | ProcessRecord | HaltRecord | AbortRecord
                  | NotificationRecord)

_TYPES: dict[str, type[TimelineRecord]] = {
    "request": RequestRecord,
    "fault": FaultRecord,
    "phase": PhaseRecord,
    "process": ProcessRecord,
    "halt": HaltRecord,
    "abort": AbortRecord,
    "notification": NotificationRecord,
}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {cls: tuple(f.name for f in fields(cls)) for cls in _TYPES.values()}

REQUEST_FIELDS = frozenset(_FIELD_NAMES[RequestRecord])
"""Every key a request record may have."""

REQUEST_REQUIRED = frozenset(f.name for f in fields(RequestRecord)
                             if f.default is MISSING and f.default_factory is MISSING)
"""The keys a request record must have (fields without a default)."""


def record_to_dict(record: TimelineRecord) -> dict[str, Any]:
    """The record as a flat JSON-ready dict (``None`` fields dropped to keep files small)."""
    # Records are flat, so no deep copy (dataclasses.asdict) is needed: several times faster.
    return {name: value for name in _FIELD_NAMES[type(record)]
            if (value := getattr(record, name)) is not None}


def record_from_dict(data: dict[str, Any]) -> TimelineRecord:
    """Inverse of :func:`record_to_dict`. Raises ``ValueError`` on an unknown kind."""
    kind = data.get("kind")
    cls = _TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown timeline record kind {kind!r}")
    fields = {k: v for k, v in data.items() if k != "kind"}
    return cls(**fields)
