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

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

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
from harness.experiment.topology_spec import LinkSpec, ServiceSpec, SiteSpec
from harness.safety.allowlist import parse_entry
from harness.services.care import CareOptions
from harness.services.data import DataOptions
from harness.services.ehr import EhrOptions
from harness.services.imaging import ImagingOptions
from harness.services.messaging import MessagingOptions


def _allow_entry(value: str) -> str:
    parse_entry(value)  # raises ValueError saying what is wrong
    return value


AllowEntry = Annotated[str, AfterValidator(_allow_entry)]


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
    """Which topology to run and how its parts are tuned: the sites, services and links (from
    a preset, a file, or written here) and the knobs of the built-in services."""

    file: str | None = Field(default=None, min_length=1, max_length=1000)
    """A topology file (relative to this experiment file) holding any of these keys; keys written
    here as well replace the file's."""

    preset: Literal["reference", "none"] = "reference"
    """Start from this preset: 'reference' is campus -> front door -> the hospital's services in
    dc-a and dc-b (harness/topology/presets/reference.yaml); 'none' starts from nothing."""

    sites: tuple[SiteSpec, ...] = ()
    """Sites added to the preset's (the same name replaces one)."""

    services: tuple[str | ServiceSpec, ...] = ("ehr", "messaging", "imaging", "labs", "scheduling")
    """Which services run. A name picks one of the preset's (messaging, labs and care need the
    EHR; 'care' adds the clinicians' care application on campus and its out-of-band
    notification sink); a mapping declares a service of yours, or changes one of the preset's
    (same name: the keys written replace the preset's). Fewer services start faster."""

    links: tuple[LinkSpec, ...] = ()
    """Links written out (e.g. replication between two of your instances), added to the derived
    ones: every instance behind the front door, every campus client and every dependency gets
    its link without being written."""

    data: DataOptions = DataOptions()
    """Synthetic patients, results, images and schedules loaded at start-up."""

    messaging: MessagingOptions = MessagingOptions()
    """HL7 engines: queue rotation and de-duplication."""

    imaging: ImagingOptions = ImagingOptions()
    """Imaging archive replication."""

    ehr: EhrOptions = EhrOptions()
    """Replication and failover of the patient-record service."""

    care: CareOptions = CareOptions()
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

    service: str | None = Field(default=None, min_length=1)
    """The service probed (default: the EHR when it runs, else the first service). The probe speaks
    what the service speaks: FHIR reads, creates and searches to a fhir-r4 service, QIDO-RS
    searches to dicomweb, HL7 v2 messages over MLLP to hl7v2-mllp, GETs of 'path' to http, TCP
    connects to tcp. It goes through the front door when the service has one, else through the
    campus link of its first instance."""

    path: str = Field(default="/", pattern=r"^/", max_length=2000)
    """For an 'http' service: the path requested."""

    ok_status: tuple[StrictInt, ...] = (200,)
    """For an 'http' service: the statuses that count as a success."""

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


class ComposeConfig(FrozenModel):
    """Which running Compose project ``backend: compose`` attaches to (and what ``hchaos compose``
    names the project it writes)."""

    project: str = Field(default="hchaos-hospital", pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)
    """The Compose project name (the file's 'name:'; `docker compose ls` lists them)."""


class Experiment(FrozenModel):
    """A chaos experiment on the hospital systems: what to run, what to break and when, and
    how to judge the outcome."""

    version: Literal[1]
    """Version of this file format; only 1 exists."""

    name: str = Field(pattern=NAME_PATTERN, max_length=NAME_MAX)
    """Name of the experiment (lowercase letters, digits and '-'), used for run directories."""

    description: str | None = None
    """What the experiment shows, for people reading reports."""

    backend: Literal["local", "docker", "compose"] = "local"
    """Where the systems run: 'local' starts them as processes on this machine, 'docker' in
    containers (one Docker network per site; `make images` builds the images), 'compose' attaches
    to a Compose project already up (`hchaos compose` writes its file; see 'compose')."""

    compose: ComposeConfig = ComposeConfig()
    """The Compose project the 'compose' backend attaches to."""

    allow: tuple[AllowEntry, ...] = Field(default=(), max_length=1000)
    """Hosts (names or IP addresses) and networks (CIDR, e.g. 10.20.0.0/16) outside loopback that
    this run may contact: a staging rehearsal's endpoints, its Toxiproxy, a remote Docker engine.
    Empty: loopback and the run's own containers only. A name not listed is allowed only if every
    address it resolves to is. `hchaos plan` lists every address the run would contact and why."""

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
