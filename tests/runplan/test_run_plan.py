"""`hchaos plan` / `run --dry-run`: what a run would contact and do, in time order, without
starting or contacting anything."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harness.experiment import load_experiment
from harness.runplan import build_run_plan

REPO = Path(__file__).resolve().parents[2]
FLAGSHIP = REPO / "experiments" / "aphp-2024-08-03-dc-power-loss.yaml"
HCHAOS = [sys.executable, "-m", "harness.cli"]


def hchaos(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([*HCHAOS, *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def test_the_flagships_actions_in_time_order_with_every_toxic_and_instance() -> None:
    plan = build_run_plan(load_experiment(FLAGSHIP))
    assert plan.allowed and plan.backend == "local" and plan.duration == 95
    times = [a.at for a in plan.actions]
    assert times == sorted(times) and plan.actions[0].phase == "steady_state" and plan.actions[-1].what == "end"
    inject = next(a for a in plan.actions if a.what == "inject" and a.fault == "power-dc-a")
    assert inject.at == 15
    toxics = [s for s in inject.steps if s.kind == "add toxic"]
    # every link with an end in dc-a, both directions, a black hole (timeout 0)
    assert {s.target for s in toxics} >= {"frontdoor-ehr-a", "repl-ehr-a-b", "repl-ehr-b-a", "campus-msg-a"}
    assert all(s.detail["type"] == "timeout" and s.detail["attributes"] == {"timeout": 0} for s in toxics)
    assert len(toxics) == 2 * len({s.target for s in toxics})
    [power] = [s for s in inject.steps if s.kind == "power off"]
    assert power.detail["instances"] == ["ehr-a", "msg-a", "pacs-a", "labs-a", "sched-a"]
    # at t=45 the power comes back first, then the staged returns' link_down faults start
    at_45 = [(a.what, a.fault) for a in plan.actions if a.at == 45]
    assert at_45 == [("heal", "power-dc-a"), ("inject", "imaging-late"), ("inject", "scheduling-last")]
    heal = next(a for a in plan.actions if a.what == "heal" and a.fault == "power-dc-a")
    assert [s.kind for s in heal.steps][-1] == "power on"
    assert {s.detail["name"] for s in heal.steps if s.kind == "remove toxic"} == {s.detail["name"] for s in toxics}


def test_hchaos_plan_prints_text_and_json_and_exits_0() -> None:
    text = hchaos("plan", str(FLAGSHIP))
    assert text.returncode == 0, text.stderr
    for expected in ("on the local backend", "Nothing was started or contacted", "frontdoor-pacs-a",
                     "add toxic hchaos-power-dc-a-upstream (timeout, upstream, timeout=0)",
                     "site dc-a: SIGKILL every instance", "Plan allowed"):
        assert expected in text.stdout, expected
    as_json = hchaos("plan", "--json", str(FLAGSHIP))
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["allowed"] is True and document["backend"] == "local"
    assert [c["host"] for c in document["contacts"]] == ["127.0.0.1"]
    assert {a["fault"] for a in document["actions"] if a["what"] == "inject"} == {
        "power-dc-a", "imaging-late", "scheduling-last", "workstation-2-stuck"}
    assert len(document["topology"]["links"]) == 32


def test_a_refused_contact_prints_the_plan_then_the_located_error_exit_2(tmp_path: Path) -> None:
    result = hchaos("plan", "--backend", "docker", str(FLAGSHIP), env={"DOCKER_HOST": "tcp://10.9.9.9:2376"})
    assert result.returncode == 2
    assert "REFUSED" in result.stdout and "Plan REFUSED" in result.stdout
    assert "allow: the run would contact 10.9.9.9:2376, the Docker engine (from $DOCKER_HOST)" in result.stderr
    # and run refuses the same way before starting anything
    runs = tmp_path / "runs"
    started = hchaos("run", "--backend", "docker", "--runs-dir", str(runs), str(FLAGSHIP),
                     env={"DOCKER_HOST": "tcp://10.9.9.9:2376"})
    assert started.returncode == 2 and "10.9.9.9:2376" in started.stderr
    assert not runs.exists() or not any(runs.iterdir())


def test_run_dry_run_is_the_plan_and_starts_nothing(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = hchaos("run", "--dry-run", "--runs-dir", str(runs), str(FLAGSHIP))
    assert result.returncode == 0, result.stderr
    assert "Plan of aphp-2024-08-03-dc-power-loss" in result.stdout and "inject power-dc-a" in result.stdout
    assert not runs.exists()


def test_an_invalid_experiment_is_refused_as_by_run(experiment_file: Callable[..., Path]) -> None:
    bad = experiment_file("faults: [{type: power_loss, target: dc-z, duration: 5s}]\n")
    result = hchaos("plan", str(bad))
    assert result.returncode == 2 and "dc-z" in result.stderr and "Traceback" not in result.stderr
