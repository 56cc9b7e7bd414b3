"""The flagship experiment and its misconfigured twin, end to end on the real services: the
prepared hospital passes every check; the one without a downtime mode fails for the stated
reasons (and only those: its records still fail over and lose nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks import Outcome
from harness.experiment import load_experiment
from harness.runner.runner import run_experiment

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.mark.integration
def test_the_flagship_passes_with_a_working_downtime_procedure(tmp_path: Path) -> None:
    result = run_experiment(load_experiment(EXPERIMENTS / "aphp-2024-08-03-dc-power-loss.yaml"), tmp_path / "runs")
    verdicts = {v.check: v for v in result.verdicts}
    assert {name: v.outcome for name, v in verdicts.items() if v.outcome is not Outcome.PASS} == {}, \
        {name: v.summary for name, v in verdicts.items() if v.outcome is not Outcome.PASS}
    degraded = verdicts["degraded-mode-in-time"].evidence
    assert 0 <= degraded["time_to_degraded"] <= 10 and degraded["notification_delay"] is not None
    assert verdicts["downtime-orders-reconciled"].evidence["queued"] > 0  # the procedure was exercised
    assert verdicts["right-patient"].evidence["registrations"] > 0  # admissions, some during downtime
    assert verdicts["downtime-data-dated"].evidence["downtime_answers"] > 0
    # the workstation group left cut off after the power returned is measured, and named
    reconnection = verdicts["workstations-back"].evidence
    assert reconnection["fraction"] < 1 and reconnection["not_back"]
    # results sent while the EHR was down waited for it: the slow tail shows it (the median can
    # fall in the half of the outage after the failover, when results flow again)
    assert verdicts["lab-results-delay"].evidence["p95_ratio"] > 1
    assert verdicts["schedule-changes-surfaced"].evidence["expected"] > 0  # rotas did change after the snapshot


@pytest.mark.integration
def test_without_a_downtime_mode_the_run_fails_for_the_stated_reasons(tmp_path: Path) -> None:
    path = EXPERIMENTS / "examples" / "aphp-2024-08-03-no-downtime-mode.yaml"
    result = run_experiment(load_experiment(path), tmp_path / "runs")
    verdicts = {v.check: v for v in result.verdicts}
    assert result.outcome is Outcome.FAIL
    assert verdicts["degraded-mode-in-time"].outcome is Outcome.FAIL
    assert "never served in downtime mode" in verdicts["degraded-mode-in-time"].summary
    assert verdicts["downtime-data-dated"].outcome is Outcome.UNKNOWN
    assert verdicts["downtime-orders-reconciled"].outcome is Outcome.UNKNOWN
    for kept in ("records-failover", "records-kept", "lab-results-kept"):
        assert verdicts[kept].outcome is Outcome.PASS, (kept, verdicts[kept].summary)
