"""clock_skew and disk_full on the local backend: real EHR processes under libfaketime and on a
real tmpfs, driven by the Nemesis; and what rollback does with what they leave behind."""

from __future__ import annotations

import email.utils
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.backends import EhrOptions, Endpoints, ServiceOptions
from harness.backends.local import LocalBackend, LocalOptions, disks
from harness.backends.local import clock as clocks
from harness.experiment.faults import ClockSkewFault, DiskFullFault
from harness.faults import Nemesis, plan_fault
from harness.faults.rollback import rollback_run
from harness.run.journal import Journal, replay_journal
from harness.tools import find_libfaketime
from harness.topology import reference_topology
from tests.backends.running import Running, running_topology

pytestmark = pytest.mark.integration

TOPOLOGY = reference_topology(("ehr",))
HOUR = 3600.0


def _skip_without_tools() -> None:
    try:
        find_libfaketime()
    except Exception as exc:
        pytest.skip(f"libfaketime missing: {exc}")
    if disks.mount_problem() is not None:
        pytest.skip(f"no size-limited mount here: {disks.mount_problem()}")




@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    _skip_without_tools()
    options = LocalOptions(services=ServiceOptions(ehr=EhrOptions(promote_after=1.0, heartbeat_interval=0.1)),
                           clock_skewed=frozenset({"ehr-a"}), disk_limits={"ehr-a": 16})
    with running_topology(TOPOLOGY, tmp_path, options) as running:
        yield running


def served_date(endpoints: Endpoints, instance: str) -> float:
    """The instance's own clock as its HTTP ``Date`` header says (uvicorn: time.time(), 1 s)."""
    response = httpx.get(f"{endpoints.instance_urls[instance]}/health", timeout=2)
    return email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()


def wait_for_offset(endpoints: Endpoints, instance: str, expected: float, tolerance: float = 3.0) -> float:
    """The instance's clock offset, once it is within ``tolerance`` of ``expected`` (up to 3 s:
    uvicorn refreshes its Date header about once a second)."""
    deadline = time.monotonic() + 3
    offset = served_date(endpoints, instance) - time.time()
    while abs(offset - expected) > tolerance and time.monotonic() < deadline:
        time.sleep(0.2)
        offset = served_date(endpoints, instance) - time.time()
    return offset


def post_patient(endpoints: Endpoints, value: str) -> httpx.Response:
    return httpx.post(f"{endpoints.instance_urls['ehr-a']}/Patient", timeout=5,
                      json={"resourceType": "Patient", "identifier": [{"system": "s", "value": value}]})


def test_a_skewed_instance_serves_the_skewed_time_and_the_heal_makes_it_true(running: Running) -> None:
    backend, endpoints, nemesis, journal = running
    assert abs(wait_for_offset(endpoints, "ehr-a", 0.0)) < 3  # neutral from the start
    fault = ClockSkewFault(type="clock_skew", target="ehr-a", offset=HOUR, duration=5.0, name="skew")
    plan = plan_fault(fault, "skew", TOPOLOGY)
    assert "skew ehr-a's clock +3600s" in plan.describe()
    nemesis.inject(plan)
    assert abs(wait_for_offset(endpoints, "ehr-a", HOUR) - HOUR) < 3
    assert abs(served_date(endpoints, "ehr-b") - time.time()) < 3  # only the target is skewed
    assert {"kind": "instance-clock-skewed", "instance": "ehr-a", "offset": "+3600.000", "rate": "1"} in \
        replay_journal(journal.path).unhealed_faults["skew"]
    # Still serving and still the primary: monotonic timeouts (heartbeats, leases) unaffected.
    assert httpx.get(f"{endpoints.instance_urls['ehr-a']}/health", timeout=2).status_code == 200
    nemesis.heal(plan)
    assert abs(wait_for_offset(endpoints, "ehr-a", 0.0)) < 3
    assert clocks.read_setting(clocks.clock_file(backend.run_dir, "ehr-a")) == clocks.NEUTRAL


def test_the_env_skews_the_wall_clock_only_and_a_drift_starts_at_the_inject(tmp_path: Path) -> None:
    _skip_without_tools()
    path = tmp_path / "c.faketime"
    clocks.write_setting(path, clocks.NEUTRAL)
    env = {**os.environ, **clocks.FaketimeClock(find_libfaketime().path, path).env(os.environ)}
    script = ("import sys,time,threading\n"
              "print(time.time(), flush=True); sys.stdin.readline()\n"
              "e=threading.Event(); m=time.monotonic(); w=time.time()\n"
              "e.wait(1.0); print(time.time()-w, time.monotonic()-m, time.time(), flush=True)\n")
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    started = time.time()
    try:
        assert child.stdout is not None and child.stdin is not None
        assert abs(float(child.stdout.readline()) - time.time()) < 1  # neutral
        time.sleep(1.0)  # the process is >= 1 s old: a naive "x2" would jump it 1 s ahead
        clocks.write_setting(path, clocks.faketime_setting(-HOUR, 2.0, time.time() - started))
        child.stdin.write("go\n")
        child.stdin.flush()
        wall, mono, now = map(float, child.stdout.readline().split())
    finally:
        child.kill()
        child.wait(5)
    assert 0.9 < mono < 1.5  # the monotonic clock is true: Event.wait(1.0) took a second
    assert 1.8 < wall < 3.0  # the wall clock ran twice as fast meanwhile
    assert abs((now - time.time()) + HOUR) < 2.5  # an hour behind, drifting from the inject on only


def test_a_full_disk_fails_the_instances_writes_and_the_heal_lets_them_succeed(running: Running) -> None:
    backend, endpoints, nemesis, journal = running
    mount = backend.run_dir / "data" / "ehr-a"
    assert disks.is_mounted(mount) and (mount / "ehr-a.sqlite").exists()  # the EHR's db lives on it
    assert post_patient(endpoints, "before").status_code == 201
    fault = DiskFullFault(type="disk_full", target="ehr-a", duration=5.0, name="full")
    plan = plan_fault(fault, "full", TOPOLOGY)
    nemesis.inject(plan)
    assert {"kind": "instance-disk-filled", "instance": "ehr-a"} in replay_journal(journal.path).unhealed_faults["full"]
    failed = [post_patient(endpoints, f"during-{i}").status_code for i in range(3)]
    assert all(status >= 500 for status in failed), failed
    nemesis.heal(plan)
    assert not (mount / disks.FILLER).exists()
    assert post_patient(endpoints, "after").status_code == 201
    backend.down()
    assert not disks.is_mounted(mount)
    assert "disk" not in {r.kind for r in replay_journal(journal.path).resources.values()}


def test_rollback_resets_the_clock_frees_the_disk_and_unmounts(tmp_path: Path) -> None:
    """A runner that died mid-fault: its journal alone lets rollback undo both faults."""
    _skip_without_tools()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    options = LocalOptions(clock_skewed=frozenset({"ehr-a"}), disk_limits={"ehr-b": 8})
    journal = Journal(run_dir, "dead")
    backend = LocalBackend(TOPOLOGY, run_dir, options=options, journal=journal)
    backend.up()
    nemesis = Nemesis(backend.endpoints or pytest.fail("no endpoints"), backend, journal)
    try:
        nemesis.inject(plan_fault(ClockSkewFault(type="clock_skew", target="ehr-a", offset=-60.0, duration=9.0),
                                  "skew", TOPOLOGY))
        nemesis.inject(plan_fault(DiskFullFault(type="disk_full", target="ehr-b", duration=9.0), "full", TOPOLOGY))
        # The runner "dies" here: nothing healed, nothing stopped.
        result = rollback_run(run_dir, force=True)
    finally:
        nemesis.close()
        backend.supervisor.stop_all()
        for path in (run_dir / "data" / "ehr-b",):
            if disks.is_mounted(path):
                disks.unmount(path)
        journal.close()
    assert result.errors == []
    assert result.clocks_reset == ["ehr-a"] and result.disks_freed == ["ehr-b"]
    assert result.disks_unmounted == [f"ehr-b ({run_dir / 'data' / 'ehr-b'})"]
    assert clocks.read_setting(clocks.clock_file(run_dir, "ehr-a")) == clocks.NEUTRAL
    assert not disks.is_mounted(run_dir / "data" / "ehr-b")
    assert rollback_run(run_dir).nothing_to_do
