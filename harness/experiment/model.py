"""The experiment: one YAML file, validated into frozen pydantic models.

An experiment runs in four phases: steady state (probe only), faults (the scheduled
faults, each at its own offset), recovery (every fault healed, probe still running), then
checks judge the recorded timeline.

Contract of a validated :class:`Experiment`:

* every fault and check has a ``name`` (missing ones are filled in as ``<type>-<index>``,
  the index counting from 0 in file order), and names are unique among faults and among
  checks;
* every ``failover_time`` check refers to an existing fault (explicitly or, by default,
  the first one), so :meth:`Experiment.measured_fault` cannot fail;
* names of links, data centers and services are NOT checked here: that needs the topology
  (see :mod:`harness.topology`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from harness.durations import Duration, PositiveDuration
from harness.experiment.base import (
    MAX_WEIGHT,
    NAME_MAX,
    NAME_PATTERN,
    SUGGESTIONS,
    FrozenModel,
    Problem,
    StrictFloat,
    StrictInt,
    consistency_error,
    default_label,
    did_you_mean,
    some_of,
)
from harness.experiment.checks import (
    Check,
    FailoverTimeCheck,
    LabTurnaroundCheck,
    ReconnectionCheck,
    RecoveryOrderCheck,
    TimeToDegradedCheck,
)
from harness.experiment.diagnostics import describe_value
from harness.experiment.faults import Fault
from harness.experiment.halts import HaltCondition
from harness.experiment.load import LoadConfig


class EhrConfig(FrozenModel):
    """How the patient-record service replicates and fails over between data centers."""

    replication: Literal["sync", "async"] = "sync"
    """sync: a write is acknowledged once the standby has it (no loss on failover);
    async: acknowledged before it reaches the standby (a power loss can lose writes)."""

    sync_strict: bool = False
    """With sync: off (Patroni's default), a primary that cannot reach its standby within the
    peer timeout acknowledges the write anyway, so a slow or cut link can still lose
    acknowledged writes; on, it refuses the write instead (no loss, less availability)."""

    promote_after: PositiveDuration = 3.0
    """How long the standby waits without hearing from the primary before promoting itself."""

    heartbeat_interval: PositiveDuration = 0.2
    """How often the primary tells the standby it is alive."""

    fencing: bool = False
    """on: a primary needs a lease from a witness at a third site, so an old primary that
    lost contact stops accepting writes and a standby promotes only once the lease expired;
    off: split brain is possible under a partition (on purpose: checkers must catch it)."""

    lease_ttl: PositiveDuration = 2.0
    """With fencing: how long a primary's lease lasts without renewal."""


class DataConfig(FrozenModel):
    """The synthetic hospital every service loads at start-up (deterministic per seed)."""

    seed: StrictInt = Field(default=2024, ge=0, le=2**63 - 1)
    """Same seed, same patients, results, images and schedules (0 to 2**63 - 1: an int64, as
    the services' storage and every language hold it)."""

    patients: StrictInt = Field(default=0, ge=0, le=100_000)
    """How many patients (0 = start empty; 10 to 100 000 for realistic data)."""


class MessagingConfig(FrozenModel):
    """The HL7 v2 engines' store-and-forward behaviour."""

    rotate: bool = True
    """A message that cannot be delivered goes to the back of the queue (Mirth's 'rotate'),
    so one poison message does not block the others; off shows head-of-line blocking."""

    dedup: bool = True
    """Forwarded results carry an identifier from MSH-10 and are created conditionally, so
    retries do not duplicate them at the EHR; off: at-least-once with duplicates."""

    retry_interval: PositiveDuration = 0.5
    """Time between two delivery attempts of a queued message."""

    forward_timeout: PositiveDuration = 5.0
    """How long an engine waits for the EHR's answer to a forwarded result before retrying
    (a short one under a slow link makes at-least-once delivery retry writes that landed)."""


class ImagingConfig(FrozenModel):
    """The imaging archive's asynchronous replica."""

    replication_interval: PositiveDuration = 0.2
    """How often the archive ships new images to the replica in dc-b."""
    qido_empty_status: Literal[200, 204] = 200
    """What a QIDO-RS search that matches nothing answers: ``200`` with ``[]`` (what Orthanc
    and most clients expect) or ``204`` No Content (what PS3.18 8.3.4.4.1 says). Real servers
    differ here, so an experiment can test a client against either."""


class CareConfig(FrozenModel):
    """The clinicians' care application (topology.services: care): its workstations and its
    downtime procedure. The defaults are a hospital that prepared; the knobs let an experiment
    show one that did not (no downtime mode, a snapshot too old)."""

    workstations: StrictInt = Field(default=2, ge=1, le=8)
    """Care application instances on campus (care-1, care-2, ...): workstation groups, each with
    its own links to the front door, so one can stay cut off after recovery."""

    downtime_mode: bool = True
    """on: the application falls back to its read-only snapshot and queues orders when the EHR
    is unreachable; off: no downtime procedure (clinicians get errors)."""

    snapshot_interval: PositiveDuration = 30.0
    """How often the downtime snapshot is refreshed (Epic BCA: typically every 15-60 minutes)."""

    max_snapshot_age: PositiveDuration = 120.0
    """A snapshot older than this is flagged stale by the application itself."""

    breaker_failures: StrictInt = Field(default=3, ge=1, le=1000)
    """Failed calls to a dependency, within breaker_window, that open its circuit breaker."""

    breaker_window: PositiveDuration = 10.0
    """Window over which a breaker counts failures."""

    breaker_reset: PositiveDuration = 2.0
    """Time an open breaker waits before letting one probe call through."""

    dependency_timeout: PositiveDuration = 2.0
    """Each call from the application to a dependency."""

    max_patients: StrictInt = Field(default=200, ge=1, le=100_000)
    """At most this many patients in a downtime snapshot."""

    printer: Literal["ok", "fail"] = "ok"
    """fail: every downtime document fails to print (the application must say so)."""


class FrontDoorConfig(FrozenModel):
    """HAProxy health checks: how fast the front door notices that a backend died or came back."""

    check_interval: PositiveDuration = 0.2
    """Time between two health checks of a backend (HAProxy 'inter')."""

    check_timeout: PositiveDuration = 0.3
    """How long a health check may take before it counts as failed (HAProxy 'timeout check')."""

    fall: StrictInt = Field(default=2, ge=1, le=100)
    """Consecutive failed checks before a backend is taken out of service."""

    rise: StrictInt = Field(default=2, ge=1, le=100)
    """Consecutive successful checks before a backend is put back in service."""

    port: StrictInt | None = Field(default=None, ge=1, le=65535)
    """Fixed port of the front door on 127.0.0.1, for pointing your own clients at it
    (default: a free port chosen at start-up, shown in endpoints.json)."""


class TopologyConfig(FrozenModel):
    """Which topology to run and how its parts are tuned."""

    preset: Literal["reference"] = "reference"
    """The topology: 'reference' is campus -> front door -> the hospital's services in dc-a and dc-b."""

    services: tuple[Literal["ehr", "messaging", "imaging", "labs", "scheduling", "care"], ...] = (
        "ehr", "messaging", "imaging", "labs", "scheduling")
    """Which services to run (messaging, labs and care need the EHR). Fewer services start
    faster. 'care' adds the clinicians' care application on campus and its out-of-band
    notification sink."""

    data: DataConfig = DataConfig()
    """Synthetic patients, results, images and schedules loaded at start-up."""

    messaging: MessagingConfig = MessagingConfig()
    """HL7 engines: queue rotation and de-duplication."""

    imaging: ImagingConfig = ImagingConfig()
    """Imaging archive replication."""

    ehr: EhrConfig = EhrConfig()
    """Replication and failover of the patient-record service."""

    care: CareConfig = CareConfig()
    """The care application's workstations and downtime procedure (with the 'care' service)."""

    front_door: FrontDoorConfig = FrontDoorConfig()
    """Health checking by the front door (HAProxy)."""


class ProbeMix(FrozenModel):
    """Relative weights of the probe's operations. Operations left out weigh 0; at least one
    weight must be above 0."""

    read: StrictFloat = Field(default=0.0, ge=0, le=MAX_WEIGHT)
    """Weight of reads of an existing patient record."""

    create: StrictFloat = Field(default=0.0, ge=0, le=MAX_WEIGHT)
    """Weight of writes (new records): the ones that can be lost."""

    search: StrictFloat = Field(default=0.0, ge=0, le=MAX_WEIGHT)
    """Weight of searches."""

    @model_validator(mode="after")
    def _not_all_zero(self) -> ProbeMix:
        if self.read + self.create + self.search <= 0:
            raise ValueError("at least one of read, create, search must have a weight above 0")
        return self

    def weights(self) -> dict[str, float]:
        """Operation -> weight, for weighted random choice (zero weights included)."""
        return {"read": self.read, "create": self.create, "search": self.search}


class ProbeConfig(FrozenModel):
    """The built-in prober: steady, open-loop requests that the checks are computed from."""

    service: str = Field(default="ehr", min_length=1)
    """The service probed, through the front door (e.g. 'ehr')."""

    rate: StrictFloat = Field(default=20.0, gt=0, le=500)
    """Requests per second (at most 500)."""

    timeout: PositiveDuration = 1.0
    """Time after which a request counts as failed."""

    mix: ProbeMix = ProbeMix(read=6, create=3, search=1)
    """Relative weights of the operations, e.g. {read: 6, create: 3, search: 1}."""


class Phases(FrozenModel):
    """Lengths of the phases around the faults (the fault phase lasts until the last fault ends)."""

    steady_state: PositiveDuration = 5.0
    """Probe-only baseline before the first fault."""

    recovery: Duration = 15.0
    """Time after every fault is healed, to watch the system come back."""


class Experiment(FrozenModel):
    """A chaos experiment on the hospital systems: what to run, what to break and when, and
    how to judge the outcome."""

    version: Literal[1]
    """Version of this file format; only 1 exists."""

    name: str = Field(pattern=NAME_PATTERN, max_length=NAME_MAX)
    """Name of the experiment (lowercase letters, digits and '-'), used for run directories."""

    description: str | None = None
    """What the experiment shows, for people reading reports."""

    backend: Literal["local"] = "local"
    """Where the systems run: 'local' starts them as processes on this machine."""

    topology: TopologyConfig = TopologyConfig()
    """The systems under test and their tuning."""

    probe: ProbeConfig = ProbeConfig()
    """The steady prober that measures availability during the whole run."""

    load: LoadConfig | None = None
    """Clinical load (Locust personas) through the front doors for the whole run; none if left out."""

    phases: Phases = Phases()
    """Lengths of the steady-state and recovery phases."""

    faults: tuple[Fault, ...] = ()
    """Faults injected during the fault phase; may be empty (a baseline run)."""

    checks: tuple[Check, ...] = ()
    """Checks that decide whether the run passed."""

    halt: tuple[HaltCondition, ...] = ()
    """Conditions that stop the run early (faults healed at once, run marked aborted)."""

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_an_integer(cls, value: object) -> object:
        # Literal[1] also accepts True and 1.0 (they compare equal to 1); a version is an integer.
        if isinstance(value, bool | float):
            raise ValueError(f"the format version must be the integer 1, found {describe_value(value)}")
        return value

    @field_validator("faults")
    @classmethod
    def _name_faults(cls, faults: tuple[Fault, ...]) -> tuple[Fault, ...]:
        # Filled in here so that every consumer (runner, journal, reports) can use
        # ``fault.name`` / ``fault.label`` without knowing the fault's index.
        return tuple(
            f if f.name is not None else f.model_copy(update={"name": f.label_at(i)})
            for i, f in enumerate(faults)
        )

    @field_validator("checks")
    @classmethod
    def _name_checks(cls, checks: tuple[Check, ...]) -> tuple[Check, ...]:
        return tuple(
            c if c.name is not None else c.model_copy(update={"name": c.label_at(i)})
            for i, c in enumerate(checks)
        )

    @field_validator("halt")
    @classmethod
    def _name_halts(cls, halts: tuple[HaltCondition, ...]) -> tuple[HaltCondition, ...]:
        return tuple(h if h.name is not None else h.model_copy(update={"name": h.label_at(i)})
                     for i, h in enumerate(halts))

    @model_validator(mode="after")
    def _cross_references(self) -> Experiment:
        fault_names = [(f.label, default_label(f.type, i)) for i, f in enumerate(self.faults)]
        check_names = [(c.label, default_label(c.type, i)) for i, c in enumerate(self.checks)]
        halt_names = [(h.label_at(i), f"halt-{i}") for i, h in enumerate(self.halt)]
        problems = [*_duplicate_names("faults", fault_names), *_duplicate_names("checks", check_names),
                    *_duplicate_names("halt", halt_names)]
        labels = list(dict.fromkeys(f.label for f in self.faults))
        known = set(labels)
        unknown = 0  # unknown references so far: only the first SUGGESTIONS get a did-you-mean
        for index, check in enumerate(self.checks):
            if isinstance(check, ReconnectionCheck) and check.after is not None and check.after not in known:
                problems.append(_unknown_fault(index, check.after, labels, field="after",
                                               suggest=unknown < SUGGESTIONS))
                unknown += 1
            if not isinstance(check, FailoverTimeCheck | RecoveryOrderCheck | TimeToDegradedCheck | LabTurnaroundCheck):
                continue
            if not self.faults:
                problems.append(Problem(
                    ("checks", index),
                    f"a {check.type} check measures the time from a fault, but the experiment has no faults",
                    expected="at least one fault in 'faults'",
                ))
            elif check.fault is not None and check.fault not in known:
                problems.append(_unknown_fault(index, check.fault, labels, suggest=unknown < SUGGESTIONS))
                unknown += 1
        if problems:
            raise consistency_error(problems)
        return self

    # -- computed helpers --------------------------------------------------------------------

    @property
    def fault_phase_duration(self) -> float:
        """Seconds from the start of the fault phase until the last fault is healed (0 if none)."""
        return max((f.ends_at for f in self.faults), default=0.0)

    @property
    def total_duration(self) -> float:
        """Planned length of a run in seconds: steady state + fault phase + recovery."""
        return self.phases.steady_state + self.fault_phase_duration + self.phases.recovery

    def fault_named(self, label: str) -> Fault:
        """The fault whose label is ``label``.

        Raises:
            KeyError: if no fault has that label.
        """
        for fault in self.faults:
            if fault.label == label:
                return fault
        raise KeyError(label)

    def measured_fault(self, check: FailoverTimeCheck | RecoveryOrderCheck | TimeToDegradedCheck | LabTurnaroundCheck
                       ) -> Fault:
        """The fault a ``failover_time`` check of this experiment measures from: the one it
        names, or the first fault. Validation guarantees that it exists."""
        return self.fault_named(check.fault) if check.fault is not None else self.faults[0]


def _duplicate_names(field: str, entries: list[tuple[str, str]]) -> list[Problem]:
    """Problems for every entry whose name an earlier entry already has.

    ``entries`` are ``(name, default name)`` pairs in file order; the default tells us when
    the clash comes from a name the user did not write, which deserves a different message.
    """
    first_index: dict[str, int] = {}
    problems = []
    for index, (label, default) in enumerate(entries):
        if label not in first_index:
            first_index[label] = index
            continue
        earlier = f"{field}[{first_index[label]}]"
        if label == default:
            message = (f"this entry is called {label!r} by default, but {earlier} already uses "
                       "that name; give one of them another name")
        else:
            message = f"the name {label!r} is already used by {earlier}"
        problems.append(Problem(
            (field, index, "name"), message, expected="a name not used by another entry", found=repr(label)
        ))
    return problems


def _unknown_fault(check_index: int, name: str, labels: list[str], field: str = "fault", *,
                   suggest: bool = True) -> Problem:
    close = did_you_mean(name, labels) if suggest else None
    hint = f"did you mean {close!r}? " if close else ""
    return Problem(
        ("checks", check_index, field),
        f"unknown fault {name!r}; {hint}expected one of: {some_of(labels)}",
        expected=f"one of: {some_of(labels)}",
        found=repr(name),
    )
