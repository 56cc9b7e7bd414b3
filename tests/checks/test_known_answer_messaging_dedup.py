"""Known answers of the ledger for HL7 results, against the real engines and EHRs: the ACKs
of the primary engine come back late (past the lab system's timeout), so the lab system,
at least once, sends each result again to the backup engine -- and both engines store and
forward it. Without de-duplication at the receiver the EHR holds duplicates, and the ledger
lists them by MSH-10; with it (conditional creates on the message key: a digest of MSH-3 and MSH-10), none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.experiment import load_experiment
from harness.runner.runner import run_experiment

pytestmark = pytest.mark.integration

EXPERIMENT = """
topology:
  services: [ehr, messaging]
  data: {{patients: 10}}
  messaging: {{dedup: {dedup}}}
probe: {{service: ehr, rate: 5}}
load:
  users: 2
  spawn_rate: 10
  personas: {{lab_system: 1}}
  think_time: {{min: 100ms, max: 200ms}}
  timeout: 500ms
phases: {{steady_state: 1s, recovery: 6s}}
faults:
  - {{type: latency, name: late-acks, target: campus-msg-a, direction: downstream, latency: 1s,
     at: 0s, duration: 3s}}
checks: [{{type: ledger, service: messaging}}]
"""


def test_without_dedup_retried_results_are_duplicated(experiment_file: Callable[..., Path], tmp_path: Path) -> None:
    result = run_experiment(load_experiment(experiment_file(EXPERIMENT.format(dedup="false"))), tmp_path / "runs")
    [ledger] = result.verdicts
    assert ledger.outcome.value == "fail", ledger
    assert ledger.evidence["duplicated_count"] > 0 and ledger.evidence["lost_count"] == 0, ledger.evidence
    assert all(d["key"].startswith("DiagnosticReport?identifier=urn:hchaos:hl7:msh-10|")
               for d in ledger.evidence["duplicated"])


def test_with_dedup_nothing_is_duplicated(experiment_file: Callable[..., Path], tmp_path: Path) -> None:
    result = run_experiment(load_experiment(experiment_file(EXPERIMENT.format(dedup="true"))), tmp_path / "runs")
    [ledger] = result.verdicts
    assert ledger.outcome.value == "pass", ledger
    assert ledger.evidence["acknowledged"] > 10
