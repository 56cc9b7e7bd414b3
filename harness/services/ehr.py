"""The patient-record service (``mock_services.ehr``, FHIR R4): its options and command line.

Two instances replicate to each other over their replication links; the standby promotes
itself after ``promote_after`` without the primary's heartbeat; with fencing, a primary needs
a lease from the witness (through its witness link).
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from harness.durations import PositiveDuration
from harness.models import FrozenModel
from harness.services.base import Driver, LaunchContext


class EhrOptions(FrozenModel):
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

    peer_timeout: PositiveDuration = 0.5
    """How long a primary waits for its standby to acknowledge a replicated write (with sync)."""

    fencing: bool = False
    """on: a primary needs a lease from a witness at a third site, so an old primary that
    lost contact stops accepting writes and a standby promotes only once the lease expired;
    off: split brain is possible under a partition (on purpose: checkers must catch it)."""

    lease_ttl: PositiveDuration = 2.0
    """With fencing: how long a primary's lease lasts without renewal."""

    @model_validator(mode="after")
    def _timings_that_can_work(self) -> EhrOptions:
        # The EHR itself refuses these at start-up (mock_services/ehr/config.py); said here, they
        # are a located error before anything starts instead of a process that exits.
        if self.promote_after <= self.heartbeat_interval:
            raise ValueError(f"promote_after ({self.promote_after:g}s) must be longer than heartbeat_interval "
                             f"({self.heartbeat_interval:g}s), or a healthy standby would promote itself")
        if self.fencing and self.lease_ttl < 2 * self.heartbeat_interval:
            raise ValueError(f"lease_ttl ({self.lease_ttl:g}s) must be at least two heartbeat intervals "
                             f"({2 * self.heartbeat_interval:g}s): the lease is renewed every heartbeat")
        return self


def ehr_argv(ctx: LaunchContext) -> list[str]:
    ehr = ctx.options.ehr
    argv = [*ctx.common(), "--role", ctx.instance.role, "--port", str(ctx.port()), "--db", ctx.path(".sqlite"),
            "--replication", ehr.replication, "--promote-after", str(ehr.promote_after),
            "--heartbeat-interval", str(ehr.heartbeat_interval), "--peer-timeout", str(ehr.peer_timeout),
            *ctx.data_flags()]
    if ehr.sync_strict:
        argv.append("--sync-strict")
    replication = ctx.outgoing("replication")
    if replication:
        argv += ["--peer-url", ctx.link_url(replication[0])]
    witness = ctx.outgoing("witness")
    if ehr.fencing and witness:
        argv += ["--fencing", "on", "--witness-url", ctx.link_url(witness[0]), "--lease-ttl", str(ehr.lease_ttl)]
    return argv


DRIVER = Driver("ehr", ehr_argv, "mock_services.ehr")
