"""The flagship and its misconfigured twin on the docker backend: the same experiment files,
the same checks, the same verdicts as on the local backend (tests/scenarios/test_aphp_flagship.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.checks import Outcome
from harness.experiment import LoadedExperiment, load_experiment
from harness.runner.runner import run_experiment

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def on_docker(path: Path) -> LoadedExperiment:
    loaded = load_experiment(path)
    return replace(loaded, experiment=loaded.experiment.model_copy(update={"backend": "docker"}))


@pytest.mark.integration
def test_the_flagship_passes_on_docker(tmp_path: Path) -> None:
    result = run_experiment(on_docker(EXPERIMENTS / "aphp-2024-08-03-dc-power-loss.yaml"), tmp_path / "runs")
    verdicts = {v.check: v for v in result.verdicts}
    assert {name: v.outcome for name, v in verdicts.items() if v.outcome is not Outcome.PASS} == {}, \
        {name: v.summary for name, v in verdicts.items() if v.outcome is not Outcome.PASS}
    assert verdicts["downtime-orders-reconciled"].evidence["queued"] > 0  # the procedure was exercised
    starts = [line for line in (result.run_dir / "logs" / "ehr-a.log").read_text().splitlines()
              if line.startswith("=== ")]
    assert len(starts) == 2 and "starting again" in starts[1]  # the same container, powered off and on


@pytest.mark.integration
def test_without_a_downtime_mode_it_fails_on_docker_for_the_same_reasons(tmp_path: Path) -> None:
    result = run_experiment(on_docker(EXPERIMENTS / "examples" / "aphp-2024-08-03-no-downtime-mode.yaml"),
                            tmp_path / "runs")
    verdicts = {v.check: v for v in result.verdicts}
    assert result.outcome is Outcome.FAIL
    assert verdicts["degraded-mode-in-time"].outcome is Outcome.FAIL
    assert "never served in downtime mode" in verdicts["degraded-mode-in-time"].summary
    for kept in ("records-failover", "records-kept", "lab-results-kept"):
        assert verdicts[kept].outcome is Outcome.PASS, (kept, verdicts[kept].summary)
