"""A user's own service as a local process: placeholders filled in with addresses *through the
links* (so its traffic crosses Toxiproxy), its environment, readiness as declared, and the
errors when it never gets ready, exits at once or wants a port that is taken."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harness.backends.local import LocalBackend
from harness.backends.local.ports import PortInUse
from harness.backends.local.processes import ProcessFailedToStart
from harness.experiment import load_experiment
from harness.runner.backend_options import local_options
from harness.runner.planning import plan_faults
from harness.runner.targets import topology_for
from harness.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration

RELAY = Path(__file__).resolve().parent / "user_service" / "relay.py"


def _backend(experiment_file: Callable[..., Path], tmp_path: Path, service: str) -> LocalBackend:
    loaded = load_experiment(experiment_file(f"topology:\n  services:\n{service}"))
    plan_faults(loaded)  # the validation a run does first
    return LocalBackend(topology_for(loaded.experiment), tmp_path / "run",
                        options=local_options(loaded.experiment, loaded.services_dir))


def test_the_command_reaches_its_dependency_through_its_link(experiment_file: Callable[..., Path],
                                                              tmp_path: Path) -> None:
    backend = _backend(experiment_file, tmp_path, f"""\
    - ehr
    - name: relay
      command: [{sys.executable}, {RELAY}, "{{port}}", "{{url.ehr}}"]
      env: {{OWN: "{{name}}@{{site}}"}}
      speaks: [http]
      ready: {{log: relay listening, timeout: 10s}}
      instances: [{{name: relay-a, site: dc-a}}]
      front_door: {{mode: active-backup, check: /}}
      depends_on: [ehr]
""")
    try:
        endpoints = backend.up()
        url = endpoints.front_door_urls["relay"]
        answer = httpx.get(url, timeout=3)
        assert answer.status_code == 200 and answer.text == "ehr 200 own=relay-a@dc-a", answer.text
        link = endpoints.links["relay-a-frontdoor-ehr"]
        assert str(link.listen_port) in " ".join(backend.supervisor.process("relay-a").spec.argv)
        with ToxiproxyClient(endpoints.toxiproxy_url) as toxiproxy:
            toxiproxy.disable("relay-a-frontdoor-ehr")  # its dependency's link: the EHR itself is fine
            assert httpx.get(url, timeout=3).status_code == 502
            assert httpx.get(f"{endpoints.front_door_urls['ehr']}/metadata", timeout=3).status_code == 200
            toxiproxy.enable("relay-a-frontdoor-ehr")
        assert httpx.get(url, timeout=3).status_code == 200
    finally:
        backend.down()


def test_a_readiness_that_never_comes_says_what_was_expected_and_seen(experiment_file: Callable[..., Path],
                                                                      tmp_path: Path) -> None:
    backend = _backend(experiment_file, tmp_path, f"""\
    - name: stuck
      command: [{sys.executable}, -c, "import time; print('loading 2 GB of index', flush=True); time.sleep(60)"]
      speaks: [http]
      ready: {{http: {{path: /ready, status: [200]}}, timeout: 1s}}
      instances: [{{name: stuck-1, site: dc-a}}]
      clients: direct
""")
    with pytest.raises(ProcessFailedToStart) as caught:
        backend.up()
    message = str(caught.value)
    assert "stuck-1" in message and "/ready answering 200 (last seen: connection refused)" in message
    assert "loading 2 GB of index" in message  # the tail of its log
    assert all(not backend.supervisor.process(n).alive for n in backend.supervisor.names())  # nothing left


def test_a_command_that_exits_at_once_is_reported_with_its_log(experiment_file: Callable[..., Path],
                                                               tmp_path: Path) -> None:
    backend = _backend(experiment_file, tmp_path, f"""\
    - name: broken
      command: [{sys.executable}, -c, "import sys; print('bad config line 3', flush=True); sys.exit(3)"]
      speaks: [tcp]
      instances: [{{name: broken-1, site: dc-b}}]
      clients: direct
""")
    with pytest.raises(ProcessFailedToStart) as caught:
        backend.up()
    assert "'broken-1' exited with code 3 before it was ready" in str(caught.value)
    assert "bad config line 3" in str(caught.value)


def test_a_fixed_port_that_is_taken_is_refused_before_anything_starts(experiment_file: Callable[..., Path],
                                                                      tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        backend = _backend(experiment_file, tmp_path, f"""\
    - name: fixed
      command: [{sys.executable}, -c, "pass"]
      speaks: [tcp]
      ports: {{tcp: {port}}}
      instances: [{{name: fixed-1, site: dc-a}}]
      clients: direct
""")
        with pytest.raises(PortInUse) as caught:
            backend.up()
    assert f"127.0.0.1:{port} (fixed-1 (tcp port))" in str(caught.value)
    assert not (tmp_path / "run" / "logs" / "toxiproxy.log").exists()  # nothing was started


def test_a_tcp_service_runs_end_to_end_and_a_kill_is_seen_by_its_connect_probe(
        experiment_file: Callable[..., Path], tmp_path: Path) -> None:
    """A service with no HTTP port at all: up() completes, the probe connects through its campus
    link, and killing its only instance is measured (then it is started again)."""
    from harness.checks import Outcome
    from harness.runner.runner import run_experiment

    echo = RELAY.parent / "tcp_echo.py"
    loaded = load_experiment(experiment_file(f"""\
        topology:
          services:
            - name: echo
              command: [{sys.executable}, {echo}, "{{port}}"]
              speaks: [tcp]
              ready: {{log: echo listening}}
              instances: [{{name: echo-1, site: dc-a}}]
              clients: direct
        probe: {{service: echo, rate: 20}}
        phases: {{steady_state: 2s, recovery: 3s}}
        faults: [{{type: kill, target: echo-1, at: 0s, duration: 2s}}]
        checks:
          - {{type: availability, service: echo, phases: [steady_state, recovery], max_error_rate: 0.0}}
          - {{type: failover_time, service: echo, max: 500ms}}
        """))
    result = run_experiment(loaded, tmp_path / "runs")
    availability, failover = result.verdicts
    assert availability.outcome is Outcome.PASS, availability.summary
    assert failover.outcome is Outcome.FAIL, failover.summary  # nothing to fail over to: back after the restart
    assert failover.evidence["errors_after_fault"] > 10
