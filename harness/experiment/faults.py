"""The faults an experiment can schedule: a union of models discriminated by ``type``.

Each fault names its ``target`` (a data center for ``power_loss``, a link for the others),
when it starts (``at``, from the start of the fault phase) and how long it lasts. The
names of targets are checked against the topology elsewhere (:mod:`harness.topology`);
here a target is only a non-empty string.

The link faults map one-to-one onto Toxiproxy: ``latency``, ``bandwidth`` and
``reset_peer`` are toxics of the same name, ``blackhole`` is the ``timeout`` toxic with
timeout 0 (data stops, connections stay open), ``link_down`` disables the proxy
(connections are refused). ``direction`` is Toxiproxy's stream: ``downstream`` is the
server's answer travelling back to the client, ``upstream`` the client's request.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeAlias, get_args

from pydantic import Field

from harness.durations import Duration, PositiveDuration
from harness.experiment.base import LABEL_PATTERN, NAME_MAX, FrozenModel, StrictInt, default_label

Direction: TypeAlias = Literal["upstream", "downstream", "both"]


class _FaultBase(FrozenModel):
    """Timing and naming common to every fault (not itself a valid fault)."""

    # Narrowed to a Literal by each concrete fault; declared here so that the key comes
    # first in dumps and the helpers below can read it.
    type: str

    # Redeclared by each fault to document what its target is; declared here for key order.
    target: str = Field(min_length=1)

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


Fault: TypeAlias = Annotated[
    PowerLossFault | LatencyFault | BandwidthFault | BlackholeFault | ResetPeerFault | LinkDownFault,
    Field(discriminator="type"),
]
"""Any fault; pydantic picks the model from the ``type`` key."""

FAULT_MODELS: Final[tuple[type[_FaultBase], ...]] = (
    PowerLossFault,
    LatencyFault,
    BandwidthFault,
    BlackholeFault,
    ResetPeerFault,
    LinkDownFault,
)

FAULT_TYPES: Final[tuple[str, ...]] = tuple(
    sorted(get_args(model.model_fields["type"].annotation)[0] for model in FAULT_MODELS)
)
"""Every valid ``type`` of a fault, sorted (for error messages and documentation)."""

LINK_FAULT_TYPES: Final[frozenset[str]] = frozenset(FAULT_TYPES) - {"power_loss"}
"""Fault types whose ``target`` is a link; ``power_loss`` targets a data center."""
