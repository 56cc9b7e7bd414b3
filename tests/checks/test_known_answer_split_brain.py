"""Known answers of the split-brain checker against the real EHRs, Toxiproxy and HAProxy: the
data centers lose sight of each other (both replication links black-holed) while campus still
reaches both through the front door. Fencing off: dc-b promotes itself while dc-a goes on,
and the front door sends writes to both -- split brain, listed. Fencing on: the witness's
lease keeps dc-b from promoting -- one primary at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.experiment import load_experiment
from harness.runner.runner import run_experiment

pytestmark = pytest.mark.integration

EXPERIMENT = """
topology:
  services: [ehr]
  ehr: {{replication: async, promote_after: 1s, fencing: {fencing}, lease_ttl: 1s}}
probe: {{service: ehr, rate: 40, timeout: 1s, mix: {{create: 1}}}}
phases: {{steady_state: 2s, recovery: 3s}}
faults:
  - {{type: blackhole, name: cut-a-b, target: repl-ehr-a-b, at: 0s, duration: 5s}}
  - {{type: blackhole, name: cut-b-a, target: repl-ehr-b-a, at: 0s, duration: 5s}}
checks: [{{type: split_brain, service: ehr}}]
"""


def test_fencing_off_a_partition_gives_two_primaries(experiment_file: Callable[..., Path], tmp_path: Path) -> None:
    result = run_experiment(load_experiment(experiment_file(EXPERIMENT.format(fencing="false"))), tmp_path / "runs")
    [verdict] = result.verdicts
    assert verdict.outcome.value == "fail", verdict
    overlap = verdict.evidence["overlaps"][0]
    assert {term.split("#")[0] for term in overlap["terms"]} == {"ehr-a", "ehr-b"}
    assert all(count > 0 for count in overlap["writes"].values())


def test_fencing_on_keeps_one_primary(experiment_file: Callable[..., Path], tmp_path: Path) -> None:
    result = run_experiment(load_experiment(experiment_file(EXPERIMENT.format(fencing="true"))), tmp_path / "runs")
    [verdict] = result.verdicts
    assert verdict.outcome.value == "pass", verdict
