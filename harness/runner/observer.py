"""What the runner tells the outside world while it works (the terminal UI, tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from harness.checks import Verdict
from harness.faults import FaultPlan
from harness.probe import StatsSnapshot


class RunObserver(Protocol):
    """Callbacks from the runner, all on the runner's (main) thread."""

    def run_started(self, run_dir: str, experiment: str, total_seconds: float) -> None: ...

    def phase_started(self, phase: str, seconds: float) -> None: ...

    def event(self, message: str) -> None:
        """Something happened. ``message`` is plain text that may begin with one style tag
        (``[red]``, ``[yellow]``, ``[bold red]``, ``[green]``, ``[dim]``); nothing else in it
        is markup (it holds user names and server texts verbatim)."""

    def tick(self, phase_elapsed: float, stats: StatsSnapshot | None, active: list[FaultPlan],
             load: Mapping[str, StatsSnapshot] | None = None) -> None:
        """Several times a second: the prober's ``stats``, the active faults, and the load's
        statistics per service (``None`` without load)."""

    def verdicts(self, verdicts: list[Verdict]) -> None: ...


class SilentObserver:
    """An observer that ignores everything (library use, tests)."""

    def run_started(self, run_dir: str, experiment: str, total_seconds: float) -> None:
        pass

    def phase_started(self, phase: str, seconds: float) -> None:
        pass

    def event(self, message: str) -> None:
        pass

    def tick(self, phase_elapsed: float, stats: StatsSnapshot | None, active: list[FaultPlan],
             load: Mapping[str, StatsSnapshot] | None = None) -> None:
        pass

    def verdicts(self, verdicts: list[Verdict]) -> None:
        pass
