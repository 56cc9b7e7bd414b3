"""The collectors the runner runs after recovery: exactly those the checks declared, in order,
each behind a safe point of the interruption."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from harness.backends.local import LocalBackend
from harness.checks.registry import COLLECTOR_NAMES, CollectorName
from harness.experiment import load_experiment
from harness.interrupt import Interrupted, Interruption
from harness.runner import collectors
from harness.runner.collectors import COLLECTORS, Collecting, collect
from harness.runner.observer import SilentObserver
from harness.timeline import TIMELINE_FILE, TimelineWriter

CHECKS = """
topology: {services: [ehr, scheduling, care]}
faults: [{type: latency, name: lag, target: repl-ehr-a-b, latency: 10ms, at: 0s, duration: 1s}]
checks:
  - {type: schedule_staleness}
  - {type: ledger, service: ehr}
  - {type: availability}
  - {type: time_to_degraded, max: 5s}
"""


def test_every_collector_the_registry_names_has_a_function() -> None:
    assert set(COLLECTORS) == set(COLLECTOR_NAMES)


def _recording(monkeypatch: pytest.MonkeyPatch, ran: list[CollectorName],
               interruption: Interruption | None = None) -> None:
    def fake(name: CollectorName) -> Callable[[Collecting], None]:
        def run(c: Collecting) -> None:
            ran.append(name)
            if interruption is not None:
                interruption.request()
        return run
    monkeypatch.setattr(collectors, "COLLECTORS", {name: fake(name) for name in COLLECTOR_NAMES})


def _collecting(experiment_file: Callable[..., Path], tmp_path: Path, body: str,
                interruption: Interruption) -> Collecting:
    experiment = load_experiment(experiment_file(body)).experiment
    return Collecting(cast(LocalBackend, None), tmp_path, TimelineWriter(tmp_path / TIMELINE_FILE), SilentObserver(),
                      interruption, experiment.checks)


def test_collect_runs_what_the_checks_need_in_order(experiment_file: Callable[..., Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[CollectorName] = []
    _recording(monkeypatch, ran)
    c = _collecting(experiment_file, tmp_path, CHECKS, Interruption())
    assert collect(c) == ("notifications", "readback", "schedule_diffs")
    assert ran == ["notifications", "readback", "schedule_diffs"]
    c.timeline.close()


def test_checks_that_need_nothing_collect_nothing(experiment_file: Callable[..., Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[CollectorName] = []
    _recording(monkeypatch, ran)
    c = _collecting(experiment_file, tmp_path, "topology: {services: [ehr]}\nchecks: [{type: availability}]\n",
                    Interruption())
    assert collect(c) == () and ran == []
    c.timeline.close()


def test_a_stop_asked_for_during_a_collector_is_obeyed_before_the_next(
        experiment_file: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[CollectorName] = []
    interruption = Interruption()
    _recording(monkeypatch, ran, interruption)
    c = _collecting(experiment_file, tmp_path, CHECKS, interruption)
    with pytest.raises(Interrupted):
        collect(c)
    assert ran == ["notifications"]
    c.timeline.close()
