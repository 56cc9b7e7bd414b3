"""Somebody else's system in the topology: Debian's Orthanc, started by the harness as a user
service in both data centers, probed over DICOMweb through the front door, its primary copy
SIGKILLed (experiments/examples/third-party-pacs-failover.yaml). One check passes, one fails for
its stated reason (a bound below what the front door's health checks can notice)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from harness.checks import Outcome
from harness.errors import ToolMissing
from harness.experiment import load_experiment
from harness.runner.runner import run_experiment
from harness.timeline.store import load_run_timeline
from harness.tools import find_orthanc, find_orthanc_dicomweb
from tests.conftest import processes_alive

EXAMPLE = Path(__file__).resolve().parents[2] / "experiments" / "examples" / "third-party-pacs-failover.yaml"


@pytest.mark.integration
def test_orthanc_fails_over_behind_the_front_door_and_the_impossible_bound_fails(tmp_path: Path) -> None:
    try:
        find_orthanc_dicomweb(find_orthanc().path)
    except ToolMissing as missing:  # scripts/install-tools.sh installs it: CI always has it
        pytest.fail(f"Orthanc is not installed ({missing.message}): run scripts/install-tools.sh")
    result = run_experiment(load_experiment(EXAMPLE), tmp_path / "runs")
    verdicts = {v.check: v for v in result.verdicts}
    assert verdicts["pacs-steady"].outcome is Outcome.PASS, verdicts["pacs-steady"].summary
    assert verdicts["pacs-fails-over"].outcome is Outcome.PASS, verdicts["pacs-fails-over"].summary
    failover = verdicts["pacs-fails-over"].evidence["failover_time"]
    assert 0.1 < failover < 3  # the front door needs fall x check_interval (0.4 s) to notice
    assert verdicts["instant-failover"].outcome is Outcome.FAIL
    assert result.exit_code == 1
    # It was Orthanc that answered, through its DICOMweb root, and the kill really killed it.
    log = (result.run_dir / "logs" / "orthanc-a.log").read_text()
    assert "Orthanc" in log and log.count("=== ") == 2  # started, then started again at the heal
    requests = load_run_timeline(result.run_dir).requests.collect()
    assert set(requests["operation"].to_list()) == {"search"}
    assert requests.filter(~pl.col("ok")).height > 0  # the crash was seen before the failover
    endpoints = json.loads((result.run_dir / "endpoints.json").read_text())
    assert set(endpoints["instances"]) == {"orthanc-a", "orthanc-b"}
    assert processes_alive(result.run_dir) == []
