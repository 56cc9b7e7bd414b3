"""The runner with clinical load on the real topology (Toxiproxy, HAProxy, EHRs, Locust):
the load runs from before the steady state to the end of recovery, every request Locust
counted is on the timeline, and cutting dc-a shows up as load errors at the cut's time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.experiment import load_experiment
from harness.runner.runner import run_experiment
from harness.timeline import FaultRecord, PhaseRecord, RequestRecord, read_timeline
from tests.conftest import journal_ended, processes_alive

pytestmark = pytest.mark.integration

EXPERIMENT = """
topology:
  services: [ehr]
  data: {patients: 20}
  ehr: {replication: sync, promote_after: 1s}
probe: {rate: 5}
phases: {steady_state: 3s, recovery: 6s}
faults: [{type: power_loss, name: cut, target: dc-a, at: 0s, duration: 4s}]
load:
  users: 6
  spawn_rate: 50
  think_time: {min: 50ms, max: 150ms}
  timeout: 1s
  personas: {nurse: 2, physician: 1}
checks: [{type: reconnection, service: ehr, within: 5s}]
"""


def test_a_cut_under_load_is_on_the_timeline_at_the_cut(experiment_file: Callable[..., Path],
                                                          tmp_path: Path) -> None:
    loaded = load_experiment(experiment_file(EXPERIMENT))
    result = run_experiment(loaded, tmp_path / "runs")
    run_dir = result.run_dir
    assert processes_alive(run_dir) == [] and journal_ended(run_dir)
    records = list(read_timeline(run_dir / "timeline.jsonl"))
    load = [r for r in records if isinstance(r, RequestRecord) and r.source == "load"]

    # Every request Locust counted reached the timeline, and the report says so.
    assert result.load is not None and result.load.counts_match, result.load
    assert len(load) == result.load.locust_requests > 100
    report = json.loads((run_dir / "report.json").read_text())
    assert report["load"]["counts_match"] is True

    # The load covered the steady state and recovery, not just the faults.
    phases = {(r.phase, r.action): r.t for r in records if isinstance(r, PhaseRecord)}
    steady = [r for r in load if phases["steady_state", "start"] <= r.t < phases["steady_state", "end"]]
    recovery = [r for r in load if phases["recovery", "start"] <= r.t < phases["recovery", "end"]]
    assert steady and all(r.ok for r in steady), [r for r in steady if not r.ok][:3]
    assert len(recovery) > 20
    assert {r.persona for r in load} == {"nurse", "physician"}
    assert all(r.service == "ehr" and r.user for r in load)

    # The cut: load errors start within a second of the inject, none before it.
    inject = next(r.t for r in records if isinstance(r, FaultRecord) and r.action == "inject")
    heal = next(r.t for r in records if isinstance(r, FaultRecord) and r.action == "heal")
    failed = [r for r in load if not r.ok]
    assert failed, "cutting dc-a under load produced no load errors"
    assert min(r.t + r.duration for r in failed) >= inject - 0.05
    assert min(r.t for r in failed) <= inject + 1.0
    assert all(r.t <= heal + 1.0 for r in failed), "errors long after power came back"
    # Every load user (and the prober) worked again after power came back.
    [reconnection] = result.verdicts
    assert reconnection.outcome.value == "pass", reconnection
    assert reconnection.evidence["clients"] == len({r.user for r in recovery}) + 1
    # Writes carry the ids the data checks need.
    writes = [r for r in load if r.ok and r.resource_id and r.operation.startswith("ehr: POST")]
    assert writes and all(r.version for r in writes)
