"""The checks that judge a run: a union of models discriminated by ``type``.

A check here is only its configuration; the checkers that compute verdicts from the
timeline live in :mod:`harness.checks`. Service names are validated against the topology
elsewhere; which fault a ``failover_time`` check measures from is resolved by
:meth:`harness.experiment.Experiment.measured_fault`.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeAlias, get_args

from pydantic import Field, field_validator

from harness.durations import PositiveDuration
from harness.experiment.base import LABEL_PATTERN, NAME_MAX, FrozenModel, StrictFloat, default_label

JudgedPhase: TypeAlias = Literal["steady_state", "recovery"]
"""Phases in which availability is judged. The fault phase is left out on purpose: during a
fault, errors are expected and ``failover_time`` is the check that judges that window."""


class _CheckBase(FrozenModel):
    """Naming common to every check (not itself a valid check)."""

    # Narrowed to a Literal by each concrete check; declared here so that the key comes
    # first in dumps and the helpers below can read it.
    type: str

    service: str = Field(default="ehr", min_length=1)
    """The service the check judges, as named in the topology (e.g. 'ehr')."""

    name: str | None = Field(default=None, pattern=LABEL_PATTERN, max_length=NAME_MAX)
    """Label used in reports. Default: '<type>-<index>'."""

    def label_at(self, index: int) -> str:
        """The check's label if it were the ``index``-th check: its name, else ``<type>-<index>``."""
        return self.name if self.name is not None else default_label(self.type, index)

    @property
    def label(self) -> str:
        """The check's name. Inside an :class:`~harness.experiment.Experiment` every check has
        one (missing names are filled in); a check built on its own without a name falls
        back to its type."""
        return self.name if self.name is not None else self.type


class AvailabilityCheck(_CheckBase):
    """Passes when, in each listed phase, the probe's error rate and 95th-percentile latency
    stay within bounds."""

    type: Literal["availability"]

    phases: tuple[JudgedPhase, ...] = Field(default=("steady_state",), min_length=1)
    """Phases judged, each on its own: steady_state and/or recovery."""

    max_error_rate: StrictFloat = Field(default=0.01, ge=0, le=1)
    """Largest acceptable share of failed requests, from 0 to 1 (0.01 = 1 %)."""

    max_p95: PositiveDuration = 0.5
    """Largest acceptable 95th-percentile latency of successful requests (e.g. '250ms')."""

    max_p99: PositiveDuration | None = None
    """Largest acceptable 99th-percentile latency (no bound if left out; p50/p95/p99 are
    always in the evidence)."""

    @field_validator("phases")
    @classmethod
    def _phases_once(cls, phases: tuple[JudgedPhase, ...]) -> tuple[JudgedPhase, ...]:
        # A repeated phase would be judged twice and counted twice in the report.
        repeated = sorted({p for p in phases if phases.count(p) > 1})
        if repeated:
            raise ValueError(f"each phase may be listed once; repeated: {', '.join(repeated)}")
        return phases


class FailoverTimeCheck(_CheckBase):
    """Passes when the service is back within ``max`` of a fault's start: "back" means the
    first window of ``sustained`` seconds in which the probe's success rate is at least
    ``min_success_rate``. This is the recovery time objective (RTO)."""

    type: Literal["failover_time"]

    fault: str | None = None
    """Name (label) of the fault the time is measured from. Default: the first fault."""

    max: PositiveDuration
    """The recovery time objective: longest acceptable time until the service is back."""

    sustained: PositiveDuration = 1.0
    """Length of the window of successes that counts as "back" (e.g. '1s')."""

    min_success_rate: StrictFloat = Field(default=1.0, gt=0, le=1)
    """Share of successful requests required within that window (0 < x <= 1)."""


class ReconnectionCheck(_CheckBase):
    """Passes when, after recovery starts (or after a fault is healed, with ``after``), at
    least ``min_fraction`` of the clients still active (each load user, and the prober as one
    session) succeed again within ``within``. An answer served from a downtime snapshot is not
    "back". At AP-HP in 2024 not every workstation reconnected by itself: this counts them."""

    type: Literal["reconnection"]

    within: PositiveDuration = 10.0
    """How long after the start of recovery (or the heal) a client has to succeed again."""

    after: str | None = None
    """Measure from the heal of this fault (its name) instead of the start of recovery: e.g.
    from the power's return, while other faults still hold parts of the system down."""

    min_fraction: StrictFloat = Field(default=1.0, gt=0, le=1)
    """Share of clients that must be back (1.0 = every one)."""


class BlastRadiusCheck(_CheckBase):
    """Passes when a service the faults should not touch stays within bounds during the
    fault phase (error rate and p95 of its requests)."""

    type: Literal["blast_radius"]

    max_error_rate: StrictFloat = Field(default=0.01, ge=0, le=1)
    """Largest acceptable share of failed requests during the faults (0.01 = 1 %)."""

    max_p95: PositiveDuration = 0.5
    """Largest acceptable 95th-percentile latency of successful requests during the faults."""


class LedgerCheck(_CheckBase):
    """Passes when every write acknowledged during the run is found after recovery, exactly
    once, at its version (lost, duplicated, stale and unexpected writes are listed by id).
    Reads back every write through the front door after recovery (FHIR: the EHR)."""

    type: Literal["ledger"]

    fail_on_unexpected: bool = False
    """Also fail on writes found though never acknowledged (the client saw an error or a
    timeout, the write happened anyway). Listed either way."""


class RecoveryOrderCheck(_CheckBase):
    """Passes when the services came back in the declared order after a fault, each within
    its own objective. "Back" is the failover_time definition (first window of ``sustained``
    seconds with a success rate of at least ``min_success_rate``), measured per service from
    the fault's start. ``service`` is not used: ``order`` names the services."""

    type: Literal["recovery_order"]

    fault: str | None = None
    """Name (label) of the fault the times are measured from. Default: the first fault."""

    order: tuple[str, ...] = Field(min_length=2)
    """Services in the order they must come back (e.g. [ehr, labs, messaging, imaging, scheduling])."""

    objectives: dict[str, PositiveDuration] = Field(default_factory=dict)
    """Service -> longest acceptable time until it is back (services left out: no bound)."""

    sustained: PositiveDuration = 1.0
    """Length of the window of successes that counts as "back"."""

    min_success_rate: StrictFloat = Field(default=1.0, gt=0, le=1)
    """Share of successful requests required within that window."""

    @field_validator("order")
    @classmethod
    def _distinct(cls, order: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(order)) != len(order):
            raise ValueError("a service is listed twice")
        return order


class SplitBrainCheck(_CheckBase):
    """Passes when no two instances accepted writes at the same time: each term (instance
    and epoch, from the write's ``meta.source``) ends before the next one starts."""

    type: Literal["split_brain"]


class TimeToDegradedCheck(_CheckBase):
    """Degraded mode: passes when the care application served clinicians in downtime mode
    within ``max`` of the fault's start (at AP-HP in 2024 staff lost most of a morning before
    switching), and -- with ``max_notification`` -- its "downtime" notification reached the
    out-of-band channel within that bound."""

    type: Literal["time_to_degraded"]

    service: str = Field(default="care", min_length=1)
    """The application judged (the care application)."""

    fault: str | None = None
    """Name (label) of the fault the time is measured from. Default: the first fault."""

    max: PositiveDuration
    """Longest acceptable time from the cut to the first answer served in downtime mode."""

    max_notification: PositiveDuration | None = None
    """Longest acceptable time from the cut to the "downtime" notification (none: not judged)."""


class StalenessCheck(_CheckBase):
    """Degraded mode: passes when every answer served in downtime mode says how old its data
    is (the snapshot's as-of time: no hidden gaps) and none is older than ``max_age``."""

    type: Literal["staleness"]

    service: str = Field(default="care", min_length=1)
    """The application judged (the care application)."""

    max_age: PositiveDuration
    """Oldest acceptable data in a downtime answer: its time minus the snapshot's as-of time."""


class DowntimeOrdersCheck(_CheckBase):
    """Degraded mode: passes when every order and registration queued in downtime was created
    exactly once in the EHR after recovery (none lost, none duplicated), flagged as entered
    during downtime, and every order with its original authored time."""

    type: Literal["downtime_orders"]

    service: str = Field(default="care", min_length=1)
    """The application judged (the care application)."""

    authored_tolerance: PositiveDuration = 0.5
    """How far the EHR's authoredOn may be from the recorded start of the request that entered
    the order. The client stamps the authored time just before sending, so on a loaded machine
    the two differ by up to a few hundred milliseconds (2 ms was too tight: one order in one CI
    run); a reconciliation that replaced the authored time is off by seconds or more."""


class PatientIdentityCheck(_CheckBase):
    """Degraded mode: passes when no order landed on another patient than the one it was
    entered for, every printed downtime document carries its patient's identity on every
    page, and no downtime identifier was given to two different orders."""

    type: Literal["patient_identity"]

    service: str = Field(default="care", min_length=1)
    """The application judged (the care application)."""


class LabTurnaroundCheck(_CheckBase):
    """Lab results during the outage against the baseline: from the result's sending (the lab
    system's ORU^R01) to its arrival in the EHR (``meta.lastUpdated``, read back after
    recovery), median (and p95) of the results sent during the fault over those sent in the
    steady state, reported as a ratio ("the morning's blood test results could not be
    reached"). Fails only with ``max_ratio``."""

    type: Literal["lab_turnaround"]

    fault: str | None = None
    """Name of the fault whose window (injection to heal) is the outage. Default: the first fault."""

    service: str = Field(default="messaging", min_length=1)
    """Where the results were sent (the HL7 engines)."""

    max_ratio: StrictFloat | None = Field(default=None, gt=0, le=1_000_000)
    """Largest acceptable ratio of the outage's median turnaround to the baseline's (none: reported only)."""


class ScheduleStalenessCheck(_CheckBase):
    """Degraded mode: passes when, after recovery, each care workstation's schedule diff lists
    every staff-rota change made after the snapshot its clinicians used during downtime (the
    stale pre-printed schedules of AP-HP): judged against the run's own schedule writes."""

    type: Literal["schedule_staleness"]

    service: str = Field(default="care", min_length=1)
    """The application judged (the care application)."""


DEGRADED_CHECKS = ("time_to_degraded", "staleness", "downtime_orders", "patient_identity")
"""Checks of the care application's degraded mode."""


Check: TypeAlias = Annotated[
    AvailabilityCheck | FailoverTimeCheck | ReconnectionCheck | BlastRadiusCheck | LedgerCheck | SplitBrainCheck
    | RecoveryOrderCheck | TimeToDegradedCheck | StalenessCheck | DowntimeOrdersCheck | PatientIdentityCheck
    | LabTurnaroundCheck | ScheduleStalenessCheck, Field(discriminator="type")]
"""Any check; pydantic picks the model from the ``type`` key."""

CHECK_MODELS: Final[tuple[type[_CheckBase], ...]] = (
    AvailabilityCheck, FailoverTimeCheck, ReconnectionCheck, BlastRadiusCheck, LedgerCheck, SplitBrainCheck,
    RecoveryOrderCheck, TimeToDegradedCheck, StalenessCheck, DowntimeOrdersCheck, PatientIdentityCheck,
    LabTurnaroundCheck, ScheduleStalenessCheck)

CHECK_TYPES: Final[tuple[str, ...]] = tuple(
    sorted(get_args(model.model_fields["type"].annotation)[0] for model in CHECK_MODELS)
)
"""Every valid ``type`` of a check, sorted (for error messages and documentation)."""
