"""build_plan: targets from the endpoints, stages over the whole run, loopback-only safety."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.backends import Endpoints
from harness.errors import InvalidInput
from harness.experiment import load_experiment
from harness.load.planner import LOAD_TAIL, build_plan
from harness.load.safety import is_loopback, refused_hosts


def _endpoints(host: str = "127.0.0.1") -> Endpoints:
    return Endpoints(
        front_door_urls={"ehr": f"http://{host}:8001", "labs": f"http://{host}:8002",
                         "messaging": f"http://{host}:8003"},
        toxiproxy_url="http://127.0.0.1:8474", links={}, instance_urls={},
        mllp={"msg-b": (host, 2576), "msg-a": (host, 2575)})


BODY = """
topology: {services: [ehr, messaging, labs]}
phases: {steady_state: 5s, recovery: 10s}
faults: [{type: power_loss, target: dc-a, at: 0s, duration: 4s}]
load: {users: 8, personas: {nurse: 2, lab_system: 1}}
"""


def test_plan_targets_front_doors_and_mllp_engines_in_preference_order(
        experiment_file: Callable[..., Path], tmp_path: Path) -> None:
    experiment = load_experiment(experiment_file(BODY)).experiment
    plan = build_plan(experiment, _endpoints(), tmp_path, "run-1")
    assert plan.http_targets == {"ehr": "http://127.0.0.1:8001", "labs": "http://127.0.0.1:8002"}
    assert plan.mllp_targets == [("127.0.0.1", 2575), ("127.0.0.1", 2576)]
    assert set(plan.personas) == {"nurse", "lab_system"}
    assert plan.duration == pytest.approx(5 + 4 + 10 + LOAD_TAIL)
    assert plan.records_path.startswith(str(tmp_path))
    assert type(plan).from_json(plan.to_json()) == plan


def test_a_target_outside_loopback_is_refused_unless_allow_listed(
        experiment_file: Callable[..., Path], tmp_path: Path) -> None:
    experiment = load_experiment(experiment_file(BODY)).experiment
    with pytest.raises(InvalidInput, match=r"load: the load would target ehr\.staging\.example.* allow: list"):
        build_plan(experiment, _endpoints("ehr.staging.example"), tmp_path, "run-1")
    allowed = load_experiment(experiment_file(BODY.replace(
        "load: {", "load: {allow_hosts: [ehr.staging.example], "), name="allowed")).experiment
    assert build_plan(allowed, _endpoints("ehr.staging.example"), tmp_path, "r").extra["allow_hosts"] == [
        "ehr.staging.example"]
    # the experiment's allow: list counts for the load too, networks included
    by_network = load_experiment(experiment_file("allow: [10.20.0.0/16]\n" + BODY, name="net")).experiment
    assert build_plan(by_network, _endpoints("10.20.3.4"), tmp_path, "r").extra["allow_hosts"] == ["10.20.0.0/16"]
    with pytest.raises(InvalidInput, match=r"would target 10\.21\.3\.4"):
        build_plan(by_network, _endpoints("10.21.3.4"), tmp_path, "r")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("10.0.0.1", False), ("128.0.0.1", False), ("example.org", False), ("", False)])
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_refused_hosts_ignores_case_of_allow_list() -> None:
    assert refused_hosts(["A.example", "127.0.0.1", "b.example"], ["a.EXAMPLE"]) == ["b.example"]
