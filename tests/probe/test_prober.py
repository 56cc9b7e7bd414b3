"""The prober and its live statistics stay bounded however long the run: a soak's creates,
and requests nobody displays, must not pile up in the runner's memory."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from harness.probe import FhirProber, LiveStats, ProberSettings, ProbeTarget
from harness.probe import prober as prober_module
from harness.timeline import TimelineWriter


def _fake_ehr(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        number = json.loads(request.content)["identifier"][0]["value"].rsplit("-", 1)[-1]
        return httpx.Response(201, json={"resourceType": "Patient", "id": f"p{number}",
                                         "meta": {"versionId": "1", "source": "ehr-a#1"}})
    return httpx.Response(200, json={"resourceType": "Patient", "id": "p1"})


def test_the_acknowledged_creates_kept_for_reads_are_a_bounded_uniform_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prober_module, "CREATED_KEPT", 50, raising=False)
    config = ProberSettings(ProbeTarget("ehr", "fhir-r4", base_url="http://ehr.test"), rate=10, timeout=1.0,
                            mix={"create": 1}, run_id="run")
    with TimelineWriter(tmp_path / "timeline.jsonl") as timeline:
        prober = FhirProber(config, timeline)
        prober._client = httpx.Client(base_url=str(config.target.base_url), transport=httpx.MockTransport(_fake_ehr))
        try:
            for _ in range(2000):
                prober._one_request("create")
            kept = list(prober._created)
        finally:
            prober.stop()
    assert len(kept) == 50  # not 2000: a soak of hours creates millions
    numbers = [int(resource_id.removeprefix("p")) for resource_id, _ in kept]
    assert min(numbers) < 500 and max(numbers) > 1500  # early and late creates are both read
    assert all(identifier == f"run-{n}" for (_, identifier), n in zip(kept, numbers, strict=True))


def test_live_stats_forget_old_requests_even_when_nobody_reads_them() -> None:
    stats = LiveStats(window=2.0)
    for second in range(10_000):
        stats.add(1000.0 + second, 0.05, ok=second % 10 != 0, served_by="ehr-a")
    assert len(stats._recent) <= 3
    assert stats.total == 10_000 and stats.errors == 1_000
