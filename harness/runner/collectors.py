"""The collectors: how the runner gathers, after recovery and with every client stopped, the
data an experiment's checks declared they need (:mod:`harness.checks.registry`).

One function per :data:`~harness.checks.registry.CollectorName`, all with one signature
(:class:`Collecting` in, nothing out: each writes into the run folder or onto the timeline, so
the run can be re-judged offline from its folder). :func:`collect` runs the ones the checks
need, in :data:`~harness.checks.registry.COLLECTOR_NAMES` order, with a safe point of the
interruption before each (and the read-back has its own between lookups).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.backends import Backend
from harness.checks.registry import CollectorName, collectors_for, readback_services
from harness.experiment import Check
from harness.interrupt import Interruption
from harness.runner import readbacks
from harness.runner.observer import RunObserver
from harness.timeline import TimelineWriter


@dataclass(frozen=True)
class Collecting:
    """What every collector may use: the running backend (its topology and endpoints), the
    run folder and timeline, the observer, the interruption, and the experiment's checks."""

    backend: Backend
    run_dir: Path
    timeline: TimelineWriter
    obs: RunObserver
    interruption: Interruption
    checks: Sequence[Check]


Collector = Callable[[Collecting], None]


def _notifications(c: Collecting) -> None:
    readbacks.collect_notifications(c.backend, c.timeline, c.obs)


def _readback(c: Collecting) -> None:
    # Looked up on the module at call time: a test may wrap it to see the end state before teardown.
    readbacks.read_back_writes(c.backend, readback_services(c.checks), c.run_dir, c.timeline, c.obs, c.interruption)


def _schedule_diffs(c: Collecting) -> None:
    readbacks.read_schedule_diffs_into(c.backend, c.run_dir, c.timeline, c.obs)


COLLECTORS: Final[Mapping[CollectorName, Collector]] = {
    "notifications": _notifications,
    "readback": _readback,
    "schedule_diffs": _schedule_diffs,
}
"""How each collector named by the registry is gathered."""


def collect(c: Collecting) -> tuple[CollectorName, ...]:
    """Run every collector ``c.checks`` need (none: nothing is read), a safe point of
    ``c.interruption`` before each; the names run, in order. ``Interrupted`` propagates."""
    needed = collectors_for(c.checks)
    for name in needed:
        c.interruption.check()
        COLLECTORS[name](c)
    return needed
