"""Known answer: an outage of exactly N seconds, made by disabling the proxy in front of the
EHR's front door, is measured as N seconds (within 100 ms) at 50 requests/s -- from the
per-request records, through the real Toxiproxy, HAProxy and EHR."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.experiment import load_experiment
from harness.runner.runner import run_experiment
from harness.timeline import FaultRecord, read_timeline

pytestmark = pytest.mark.integration

OUTAGE = 3.0


def test_a_proxy_disabled_for_n_seconds_measures_n_seconds(experiment_file: Callable[..., Path],
                                                            tmp_path: Path) -> None:
    loaded = load_experiment(experiment_file(f"""
        topology: {{services: [ehr]}}
        probe: {{service: ehr, rate: 50, timeout: 1s, mix: {{read: 3, create: 1}}}}
        phases: {{steady_state: 2s, recovery: 3s}}
        faults: [{{type: link_down, name: outage, target: campus-frontdoor-ehr, at: 0s, duration: {OUTAGE}s}}]
        checks: [{{type: failover_time, service: ehr, fault: outage, max: 10s, sustained: 500ms}}]
        """))
    result = run_experiment(loaded, tmp_path / "runs")
    verdict = result.verdicts[0]
    assert verdict.outcome.value == "pass", verdict
    measured = float(verdict.evidence["failover_time"])
    records = list(read_timeline(result.run_dir / "timeline.jsonl"))
    inject = next(r.t for r in records if isinstance(r, FaultRecord) and r.action == "inject")
    heal = next(r.t for r in records if isinstance(r, FaultRecord) and r.action == "heal")
    # The nemesis's own clock: the proxy was down for heal - inject (a few ms over N).
    assert abs((heal - inject) - OUTAGE) < 0.05, heal - inject
    assert abs(measured - OUTAGE) <= 0.1, f"measured {measured:.3f}s for a {OUTAGE}s outage"
    assert verdict.evidence["errors_after_fault"] >= 0.8 * 50 * OUTAGE
