"""The faults an experiment can schedule: a union of models discriminated by ``type``.

Each fault names its ``target`` (a data center for ``power_loss``, a link for the link
faults, an instance for the instance faults), when it starts (``at``, from the start of the
fault phase) and how long it lasts. A ``partition`` has no ``target`` in YAML: its ``groups``
say what it cuts, and its :attr:`PartitionFault.target` is a label computed from them. The
names of targets are checked against the topology elsewhere
(:mod:`harness.runner.fault_targets`); here a target is only a non-empty string.

The link faults map one-to-one onto Toxiproxy: ``latency``, ``bandwidth`` and
``reset_peer`` are toxics of the same name, ``blackhole`` is the ``timeout`` toxic with
timeout 0 (data stops, connections stay open), ``link_down`` disables the proxy
(connections are refused). ``direction`` is Toxiproxy's stream: ``downstream`` is the
server's answer travelling back to the client, ``upstream`` the client's request.

The instance faults act on one process through the backend: ``kill`` (SIGKILL, started
again at the heal unless ``restart: false``), ``pause`` (SIGSTOP, SIGCONT at the heal),
``restart`` (graceful stop and start at the inject), ``clock_skew`` (its wall clock jumps by
``offset`` and/or runs at ``rate``, through libfaketime; back to the true time at the heal)
and ``disk_full`` (its data directory, on a size-limited filesystem of its own, is filled
until writes fail with ENOSPC; freed at the heal). ``partition`` black-holes every link
between groups of sites and instances (Jepsen's grudge, as data).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeAlias, get_args

from pydantic import BeforeValidator, Field, Strict, WithJsonSchema, model_validator

from harness.durations import Duration, DurationError, PositiveDuration, parse_duration
from harness.experiment.base import LABEL_PATTERN, NAME_MAX, FrozenModel, StrictFloat, StrictInt, default_label

Direction: TypeAlias = Literal["upstream", "downstream", "both"]

StrictBool: TypeAlias = Annotated[bool, Strict()]

MAX_GROUPS: Final = 16
"""Most groups in a partition (more than any topology has sites)."""

MAX_GROUP_MEMBERS: Final = 512
"""Most sites and instances in one partition group."""


MAX_CLOCK_RATE: Final = 100.0
"""Fastest a skewed clock may run (``rate``), and 1/MAX_CLOCK_RATE the slowest."""

DISK_SIZE_MB: Final = 64
"""Default size of a ``disk_full`` instance's data filesystem, in MiB."""

MAX_DISK_SIZE_MB: Final = 4096
"""Largest data filesystem a ``disk_full`` fault may ask for (it lives in memory: tmpfs)."""


def parse_offset(value: object) -> float:
    """A signed duration in seconds: ``"+30s"``, ``"-2m"``, ``"+0s"``, or a number of seconds
    (negative: the clock goes back). Raises ``DurationError`` (a ``ValueError``)."""
    if isinstance(value, bool):
        raise DurationError(f"expected a signed duration such as '+30s' or '-2m', got {value!r}")
    if isinstance(value, (int, float)):
        return -parse_duration(-value) if value < 0 else parse_duration(value)
    if not isinstance(value, str):
        raise DurationError(f"expected a signed duration such as '+30s' or '-2m', got {value!r}")
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    try:
        return sign * parse_duration(text[1:].strip() if text[:1] in ("+", "-") else text)
    except DurationError as exc:
        raise DurationError(f"expected a signed duration such as '+30s' or '-2m', got {value!r}: {exc}") from None


SignedDuration: TypeAlias = Annotated[
    float, BeforeValidator(parse_offset),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*[+-]?\s*[0-9.]"}],
                    "description": "A signed duration: '+30s', '-2m', '+0s', or seconds as a number."})]
"""Seconds, possibly negative (a clock offset); written like a duration with a sign."""


class _FaultKind(FrozenModel):
    """The discriminator, first key of every fault (not itself a valid fault)."""

    # Narrowed to a Literal by each concrete fault; declared here so that the key comes
    # first in dumps and the helpers below can read it.
    type: str


class _Targeted(_FaultKind):
    """A fault with a ``target`` written in YAML (every fault but ``partition``)."""

    # Redeclared by each fault to document what its target is; declared here for key order.
    target: str = Field(min_length=1)


class _FaultTiming(_FaultKind):
    """Timing and naming common to every fault (not itself a valid fault)."""

    at: Duration = 0.0
    """When the fault starts, from the beginning of the fault phase (e.g. '0s', '2.5s')."""

    duration: PositiveDuration
    """How long the fault stays in place before it is healed (e.g. '10s')."""

    name: str | None = Field(default=None, pattern=LABEL_PATTERN, max_length=NAME_MAX)
    """Label used in reports and by checks (`failover_time.fault`). Default: '<type>-<index>'."""

    @property
    def ends_at(self) -> float:
        """Seconds from the start of the fault phase at which the fault is healed."""
        return self.at + self.duration

    def label_at(self, index: int) -> str:
        """The fault's label if it were the ``index``-th fault: its name, else ``<type>-<index>``."""
        if self.name is not None:
            return self.name
        return default_label(self.type, index)

    @property
    def label(self) -> str:
        """The fault's name. Inside an :class:`~harness.experiment.Experiment` every fault has
        one (missing names are filled in with ``<type>-<index>``); a fault built on its own
        without a name falls back to its type."""
        return self.name if self.name is not None else self.type


# Bases in this order so that the keys are ``type, target, at, duration, name`` (pydantic
# orders inherited fields from the last base of the MRO to the first).
class _FaultBase(_FaultTiming, _Targeted):
    """Timing, naming and a ``target``: the base of every fault but ``partition``."""


class PowerLossFault(_FaultBase):
    """A whole data center loses power: every link touching it is black-holed and every
    process in it is SIGKILLed; at the end, links are restored and processes restarted."""

    type: Literal["power_loss"]
    target: str = Field(min_length=1)
    """The data center that loses power (e.g. 'dc-a')."""


class LatencyFault(_FaultBase):
    """Adds latency (and optional jitter) to every packet on a link."""

    type: Literal["latency"]
    target: str = Field(min_length=1)
    """The link to slow down (e.g. 'frontdoor-ehr-a')."""

    latency: PositiveDuration
    """Delay added to the data (e.g. '200ms')."""

    jitter: Duration = 0.0
    """Random variation added to or removed from the latency (e.g. '50ms')."""

    direction: Direction = "downstream"
    """Which way the delay applies: downstream (responses), upstream (requests) or both."""


class BandwidthFault(_FaultBase):
    """Limits a link's throughput (Toxiproxy's bandwidth toxic)."""

    type: Literal["bandwidth"]
    target: str = Field(min_length=1)
    """The link to throttle (e.g. 'repl-ehr-a-b')."""

    rate_kbps: StrictInt = Field(gt=0, le=10_000_000)
    """Maximum rate in kilobytes per second (KB/s, as Toxiproxy counts it), at most 10 000 000
    (10 GB/s: faster than any link the harness runs, so no throttle at all)."""

    direction: Direction = "downstream"
    """Which way the limit applies: downstream (responses), upstream (requests) or both."""


class BlackholeFault(_FaultBase):
    """Data on a link stops flowing but connections stay open, so clients hang until their
    own timeouts fire (Toxiproxy's timeout toxic with timeout 0)."""

    type: Literal["blackhole"]
    target: str = Field(min_length=1)
    """The link to black-hole (e.g. 'repl-ehr-a-b')."""

    direction: Direction = "both"
    """Which way data stops: both (default), downstream (responses) or upstream (requests)."""


class ResetPeerFault(_FaultBase):
    """Connections on a link are reset with a TCP RST (Toxiproxy's reset_peer toxic)."""

    type: Literal["reset_peer"]
    target: str = Field(min_length=1)
    """The link whose connections are reset (e.g. 'frontdoor-ehr-a')."""

    after: Duration = 0.0
    """How long a connection lives before it is reset ('0s': immediately)."""

    direction: Direction = "upstream"
    """Which stream triggers the reset: upstream (default), downstream or both."""


class LinkDownFault(_FaultBase):
    """A link is cut cleanly: the proxy is disabled and new connections are refused."""

    type: Literal["link_down"]
    target: str = Field(min_length=1)
    """The link to take down (e.g. 'frontdoor-ehr-a')."""


class KillFault(_FaultBase):
    """An instance's process (and its children) is SIGKILLed: a crash, no clean shutdown.
    At the heal it is started again and waited for until ready, unless ``restart: false``."""

    type: Literal["kill"]
    target: str = Field(min_length=1)
    """The instance to kill (e.g. 'ehr-a')."""

    restart: StrictBool = True
    """Start the instance again at the heal (after `duration`); false leaves it dead until the
    run ends (the recovery phase then sees it still down)."""


class PauseFault(_FaultBase):
    """An instance is frozen (SIGSTOP of its process group) and thawed at the heal (SIGCONT):
    the hung server that still holds its connections, which clients only notice by their own
    timeouts. Applied in a few milliseconds: the inject does not wait for anything."""

    type: Literal["pause"]
    target: str = Field(min_length=1)
    """The instance to freeze (e.g. 'ehr-a')."""


class RestartFault(_FaultBase):
    """An instance is restarted cleanly at the inject: SIGTERM, SIGKILL if it has not exited
    after a grace period, started again and waited for until ready (the inject returns then).
    The heal does nothing but mark the fault ended: ``duration`` is the window in which the
    restart is observed (checks attribute what happens in it to the fault)."""

    type: Literal["restart"]
    target: str = Field(min_length=1)
    """The instance to restart (e.g. 'ehr-b')."""


class ClockSkewFault(_FaultBase):
    """An instance's wall clock is wrong: it jumps by ``offset`` and/or runs ``rate`` times as
    fast, as after a power cut with a dead RTC battery or an NTP step. Only the wall clock
    (``time()``, ``gettimeofday``, ``CLOCK_REALTIME``) is faked; monotonic clocks stay true, so
    the instance's own timeouts keep working. Applied through libfaketime (Debian's
    ``faketime``): the instance is started under it from the beginning of the run with a
    neutral setting, the inject rewrites its timestamp file, the heal writes the neutral
    setting back (the clock is then true again: no jump backwards is smoothed)."""

    type: Literal["clock_skew"]
    target: str = Field(min_length=1)
    """The instance whose clock is skewed (e.g. 'ehr-a')."""

    offset: SignedDuration = 0.0
    """How far the clock jumps at the inject: '+30s' (ahead), '-2m' (behind), '+0s' (none)."""

    rate: StrictFloat = Field(default=1.0, ge=1 / MAX_CLOCK_RATE, le=MAX_CLOCK_RATE)
    """How fast the clock runs during the fault: 1 (default: true speed), 2 (twice as fast,
    drifting ahead), 0.5 (half speed). With a rate other than 1 the drift accumulates from the
    inject on."""

    @model_validator(mode="after")
    def _changes_something(self) -> ClockSkewFault:
        if self.offset == 0 and self.rate == 1:
            raise ValueError("a clock_skew needs an offset (e.g. '+30s') or a rate other than 1 (e.g. 2)")
        return self

    @property
    def faketime(self) -> str:
        """The libfaketime setting of the skewed clock: ``"+30.000 x2"`` (seconds, then the rate)."""
        setting = f"{self.offset:+.3f}"
        return setting if self.rate == 1 else f"{setting} x{self.rate:g}"


class DiskFullFault(_FaultBase):
    """An instance's data directory fills up: it lives on a filesystem of its own (a tmpfs of
    ``size_mb`` MiB, mounted when the run starts), and the inject writes a filler file until
    the filesystem is full (ENOSPC), so the instance's next write fails; the heal deletes the
    filler. Only for instances that keep data: every built-in service, and a user service
    whose command, env or workdir uses the ``{data}`` placeholder."""

    type: Literal["disk_full"]
    target: str = Field(min_length=1)
    """The instance whose data directory fills up (e.g. 'ehr-a')."""

    size_mb: StrictInt = Field(default=DISK_SIZE_MB, ge=1, le=MAX_DISK_SIZE_MB)
    """Size of the instance's data filesystem in MiB, for the whole run (default 64): it must
    hold what the instance writes before the fault (synthetic data included)."""


CommandLine: TypeAlias = Annotated[
    tuple[Annotated[str, Field(min_length=1, max_length=4000)], ...], Field(min_length=1, max_length=200)]
"""A program and its arguments, run without a shell (write ``[sh, -c, '...']`` for one)."""


class ActionFault(_FaultBase):
    """A fault on a system the harness does not run, through your own commands: ``inject``
    at the fault's start (say, your script that stops a VM or a service), ``heal`` at its end.
    Each runs without a shell, from the experiment's folder (or ``workdir``), with at most
    ``timeout``; the heal is journaled before the inject runs and runs whatever happens: at
    the fault's end, on Ctrl-C, on a halt or an abort, after a failed inject, and from
    ``hchaos rollback`` (or the run's lifeline) if the runner dies. Their output goes to
    ``actions/<fault>.log`` in the run folder. They get HCHAOS_RUN_DIR, HCHAOS_FAULT and
    HCHAOS_ACTION (inject or heal) in their environment."""

    type: Literal["action"]
    target: str = Field(min_length=1, max_length=NAME_MAX)
    """What the commands act on, in your words (e.g. 'ehr-vm-a'): shown in reports and on the
    timeline; not a name of the topology."""

    inject: CommandLine
    """The command that starts the fault, e.g. [./ops/stop-vm.sh, ehr-vm-a]."""

    heal: CommandLine
    """The command that undoes it, e.g. [./ops/start-vm.sh, ehr-vm-a]. Must be safe to run
    when the inject did not (it runs after a failed or interrupted inject too)."""

    timeout: PositiveDuration = 60.0
    """Longest each command may run; then it is killed (with its process group) and the fault
    is reported as failed (the heal still runs)."""

    workdir: str | None = Field(default=None, min_length=1, max_length=1000)
    """Where the commands run, relative to the experiment's folder (default: that folder)."""

    hosts: tuple[Annotated[str, Field(min_length=1, max_length=253)], ...] = Field(default=(), max_length=100)
    """The hosts the commands contact (your hypervisor, your service manager): checked against
    the experiment's allow: list before anything starts, and listed by `hchaos plan`."""


PartitionGroup: TypeAlias = Annotated[
    tuple[Annotated[str, Field(min_length=1, max_length=NAME_MAX)], ...],
    Field(min_length=1, max_length=MAX_GROUP_MEMBERS)]
"""One side of a partition: the names of sites, instances or the front door."""


class PartitionFault(_FaultTiming):
    """A network partition given as groups (Jepsen's grudge): parts of the topology in
    different groups cannot reach each other; what no group lists is not cut off.

    It becomes exactly the links it cuts: a link (one Toxiproxy proxy) belongs to a group
    at an end when that end's component (an instance, the front door, 'campus') or, if the
    component is not listed anywhere, the end's site is listed in the group; a link is cut
    when its two ends belong to two different groups. With ``one_way: true`` only links
    whose source (the end that opens connections) belongs to an earlier group and whose
    target to a later group are cut: the earlier groups cannot reach the later ones, the
    later ones still reach the earlier ones. A cut is a blackhole on both streams
    (Toxiproxy's ``timeout`` toxic with timeout 0: connections stay open, no data flows).

    There is no ``target`` in YAML; :attr:`target` is the label ``dc-a | dc-b,campus``
    (``dc-a -> dc-b,campus`` when one-way), for reports and the timeline.
    """

    type: Literal["partition"]

    groups: tuple[PartitionGroup, ...] = Field(min_length=2, max_length=MAX_GROUPS)
    """Two or more groups, each a list of sites (e.g. 'dc-a', 'campus'), instances (e.g.
    'ehr-a') or 'front-door', that cannot reach each other; no name in two groups.
    An instance listed in one group is in it even when its site is listed in another."""

    one_way: StrictBool = False
    """Cut only the links whose source is in an earlier group and whose target is in a later
    one (earlier groups cannot reach later ones; the reverse links keep working)."""

    @property
    def target(self) -> str:
        """The groups as one label: ``dc-a | dc-b,campus`` (``->`` instead of ``|`` when one-way)."""
        separator = " -> " if self.one_way else " | "
        return separator.join(",".join(group) for group in self.groups)


Fault: TypeAlias = Annotated[
    PowerLossFault | LatencyFault | BandwidthFault | BlackholeFault | ResetPeerFault | LinkDownFault
    | KillFault | PauseFault | RestartFault | ClockSkewFault | DiskFullFault | PartitionFault | ActionFault,
    Field(discriminator="type"),
]
"""Any fault; pydantic picks the model from the ``type`` key."""

FAULT_MODELS: Final[tuple[type[_FaultTiming], ...]] = (
    PowerLossFault,
    LatencyFault,
    BandwidthFault,
    BlackholeFault,
    ResetPeerFault,
    LinkDownFault,
    KillFault,
    PauseFault,
    RestartFault,
    ClockSkewFault,
    DiskFullFault,
    PartitionFault,
    ActionFault,
)

FAULT_TYPES: Final[tuple[str, ...]] = tuple(
    sorted(get_args(model.model_fields["type"].annotation)[0] for model in FAULT_MODELS)
)
"""Every valid ``type`` of a fault, sorted (for error messages and documentation)."""

INSTANCE_FAULT_TYPES: Final[frozenset[str]] = frozenset({"kill", "pause", "restart", "clock_skew", "disk_full"})
"""Fault types whose ``target`` is one instance (a process the backend runs)."""

LINK_FAULT_TYPES: Final[frozenset[str]] = (frozenset(FAULT_TYPES) - {"power_loss", "partition", "action"}
                                           - INSTANCE_FAULT_TYPES)
"""Fault types whose ``target`` is a link; ``power_loss`` targets a data center, the
instance faults an instance, a ``partition`` has groups instead of a target, and an
``action``'s target is a label of the user's."""
