"""The clinicians' care application (``mock_services.care``): workstations on campus with a
downtime mode, reading the EHR, labs, imaging and scheduling through the front door."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.durations import PositiveDuration
from harness.models import FrozenModel, StrictInt
from harness.services.base import Driver, LaunchContext


class CareOptions(FrozenModel):
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

    @model_validator(mode="after")
    def _snapshots_can_be_fresh(self) -> CareOptions:
        # The application refuses this at start-up (mock_services/care/config.py): said here, it
        # is a located error before anything starts.
        if self.max_snapshot_age < self.snapshot_interval:
            raise ValueError(f"max_snapshot_age ({self.max_snapshot_age:g}s) must be at least snapshot_interval "
                             f"({self.snapshot_interval:g}s), or every snapshot would be stale before the next refresh")
        return self


def care_argv(ctx: LaunchContext) -> list[str]:
    care = ctx.options.care
    argv = [*ctx.common(), "--port", str(ctx.port()), "--state-dir", ctx.path("-state"),
            "--downtime-mode", "on" if care.downtime_mode else "off",
            "--snapshot-interval", str(care.snapshot_interval), "--max-snapshot-age", str(care.max_snapshot_age),
            "--breaker-failures", str(care.breaker_failures), "--breaker-window", str(care.breaker_window),
            "--breaker-reset", str(care.breaker_reset), "--dependency-timeout", str(care.dependency_timeout),
            "--max-patients", str(care.max_patients), "--printer", care.printer]
    for link in ctx.outgoing("dependency"):
        argv += [f"--{link.service}-url", ctx.link_url(link)]
    for link in ctx.outgoing("notification"):
        argv += ["--notify-url", f"{ctx.link_url(link)}/notifications"]
    return argv


DRIVER = Driver("care", care_argv, "mock_services.care")
