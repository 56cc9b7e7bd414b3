"""The experiment's service knobs reach the processes' command lines (one place each)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from harness.backends.local.launchers import LocalLaunch, process_spec
from harness.experiment import load_experiment
from harness.runner.backend_options import local_options
from harness.runner.targets import topology_for


def _argv(path: Path, instance: str, tmp_path: Path) -> tuple[str, ...]:
    experiment = load_experiment(path).experiment
    topology = topology_for(experiment)
    ports = itertools.count(20000)
    instance_ports = {i.name: {p: next(ports) for p in topology.service(i.service).ports} for i in topology.instances}
    link_ports = {link.name: next(ports) for link in topology.links}
    launch = LocalLaunch(topology.instance(instance), topology, instance_ports, link_ports, tmp_path,
                         local_options(experiment).services)
    return process_spec(launch, tmp_path).argv


def test_the_qido_answer_to_no_match_is_the_experiments_choice(
        tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    default = experiment_file("topology: {services: [ehr, imaging]}\n", name="default")
    standard = experiment_file("topology: {services: [ehr, imaging], imaging: {qido_empty_status: 204}}\n",
                               name="standard")
    for path, status in ((default, "200"), (standard, "204")):
        argv = _argv(path, "pacs-a", tmp_path)
        flag = argv.index("--qido-empty-status")
        assert argv[flag + 1] == status
