"""clock_skew and disk_full in experiment files: their shape, their targets, the machine they
need (libfaketime, a tmpfs mount), the backend options they produce and their plans."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.backends.local import disks
from harness.experiment import ExperimentError, LoadedExperiment, parse_experiment, raise_issues
from harness.experiment.faults import FAULT_TYPES, ClockSkewFault, DiskFullFault
from harness.faults import plan_fault
from harness.runner.backend_options import local_options
from harness.runner.fault_targets import fault_target_problems
from harness.runner.targets import topology_for

FILE = "experiments/x.yaml"
EVERYTHING = frozenset(FAULT_TYPES)
USER_SERVICES = """\
topology:
  services:
    - ehr
    - name: keeps-data
      command: [python3, -m, http.server, "{port}", --directory, "{data}"]
      speaks: [http]
      instances: [{name: keeper-a, site: dc-a, role: active}]
      clients: direct
    - name: stateless
      command: [python3, -m, http.server, "{port}"]
      speaks: [http]
      instances: [{name: stateless-a, site: dc-a, role: active}]
      clients: direct
"""


def load(faults: str, topology: str = "") -> LoadedExperiment:
    text = "version: 1\nname: x\n" + topology + "faults:\n" + textwrap.indent(textwrap.dedent(faults), "  ")
    return parse_experiment(text, FILE)


def target_errors(faults: str, topology: str = "") -> list[str]:
    loaded = load(faults, topology)
    problems = fault_target_problems(loaded.experiment, topology_for(loaded.experiment), EVERYTHING)
    if not problems:
        return []
    with pytest.raises(ExperimentError) as caught:
        raise_issues(loaded, problems)
    return [str(issue) for issue in caught.value.issues]


def test_both_load_with_their_defaults_and_become_local_options() -> None:
    loaded = load("""\
        - {type: clock_skew, target: ehr-a, offset: "+30s", at: 1s, duration: 10s}
        - {type: clock_skew, target: ehr-b, offset: "-2m", rate: 2, duration: 10s}
        - {type: disk_full, target: ehr-a, duration: 5s}
        - {type: disk_full, target: ehr-a, duration: 5s, size_mb: 128}
        """)
    jump, drift, full, bigger = loaded.experiment.faults
    assert isinstance(jump, ClockSkewFault) and (jump.offset, jump.rate, jump.faketime) == (30.0, 1.0, "+30.000")
    assert isinstance(drift, ClockSkewFault) and drift.faketime == "-120.000 x2"
    assert isinstance(full, DiskFullFault) and full.size_mb == 64
    assert isinstance(bigger, DiskFullFault) and bigger.size_mb == 128
    options = local_options(loaded.experiment, Path(FILE).parent)
    assert options.clock_skewed == {"ehr-a", "ehr-b"}
    assert dict(options.disk_limits) == {"ehr-a": 128}  # the largest size asked for
    topology = topology_for(loaded.experiment)
    assert plan_fault(drift, "d", topology).describe() == \
        "skew ehr-b's clock -120s, running x2 (libfaketime), true again at the heal"
    assert plan_fault(full, "f", topology).describe() == \
        "fill ehr-a's data filesystem until ENOSPC, delete the filler at the heal"


@pytest.mark.parametrize(("fault", "message"), [
    ('{type: clock_skew, target: ehr-a, duration: 5s}',
     "a clock_skew needs an offset (e.g. '+30s') or a rate other than 1"),
    ('{type: clock_skew, target: ehr-a, offset: 30x, duration: 5s}',
     "expected a signed duration such as '+30s' or '-2m'"),
    ('{type: clock_skew, target: ehr-a, offset: +1s, rate: 0, duration: 5s}', "rate"),
    ('{type: disk_full, target: ehr-a, size_mb: 0, duration: 5s}', "size_mb"),
])
def test_bad_shapes_are_located(fault: str, message: str) -> None:
    with pytest.raises(ExperimentError) as caught:
        load(f"- {fault}\n")
    text = str(caught.value)
    assert f"{FILE}:4:" in text and message in text, text


def test_targets_must_be_instances_and_a_full_disk_needs_data() -> None:
    errors = target_errors("""\
        - {type: clock_skew, target: dc-a, offset: +1s, duration: 5s}
        - {type: disk_full, target: stateless-a, duration: 5s}
        - {type: disk_full, target: keeper-a, duration: 5s}
        - {type: clock_skew, target: stateless-a, offset: +1s, duration: 5s}
        """, USER_SERVICES)
    assert len(errors) == 2, errors
    assert errors[0].startswith(f"{FILE}:") and "faults[0].target: 'dc-a' is a site" in errors[0]
    assert "faults[1].target: 'stateless-a' (service 'stateless') keeps no data" in errors[1]
    assert "{data}" in errors[1]


def test_a_machine_without_libfaketime_refuses_clock_skew_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    monkeypatch.setenv("HCHAOS_LIBFAKETIME", str(tmp_path / "missing.so"))
    errors = target_errors("- {type: clock_skew, target: ehr-a, offset: +1s, duration: 5s}\n")
    assert len(errors) == 1
    assert "faults[0].type: the local backend cannot skew an instance's clock ('clock_skew' faults) on this " \
           "machine: libfaketime: HCHAOS_LIBFAKETIME=" in errors[0]
    assert "Debian package faketime" in errors[0]  # the hint says what to install


def test_a_machine_that_cannot_mount_refuses_disk_full_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disks, "mount_problem", lambda: "the kernel refused a tmpfs mount: permission denied")
    errors = target_errors("- {type: disk_full, target: ehr-a, duration: 5s}\n")
    assert len(errors) == 1
    assert "faults[0].type: the local backend cannot fill an instance's disk ('disk_full' faults) on this machine: " \
           "it mounts a size-limited tmpfs per instance, and the kernel refused a tmpfs mount" in errors[0]
