"""The probe speaks what its service speaks and enters through that service's own client path.

Reproductions of the two bugs of issue 11: ``probe: {service: labs}`` used to send FHIR Patient
requests to the EHR's front door and file them under ``labs`` (so an availability check on labs
measured the EHR); an experiment without the EHR passed ``validate`` and then crashed in
``run`` with ``KeyError: 'ehr'``, and was refused by ``validate`` without a probe line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from harness.backends import Endpoints, LinkEndpoint
from harness.checks import Outcome
from harness.experiment import ExperimentError, load_experiment
from harness.runner.planning import plan_faults
from harness.runner.probe_target import probe_target
from harness.runner.runner import run_experiment
from harness.runner.targets import topology_for
from harness.timeline import FaultRecord
from harness.timeline.store import load_run_timeline


def _endpoints(services: tuple[str, ...]) -> Endpoints:
    return Endpoints(front_door_urls={s: f"http://127.0.0.1:{9000 + i}" for i, s in enumerate(services)},
                     toxiproxy_url="http://127.0.0.1:8474", links={
                         "campus-msg-a": LinkEndpoint("campus-msg-a", "127.0.0.1", 9100, "127.0.0.1", 9200)},
                     instance_urls={})


def test_a_probe_of_labs_speaks_http_to_the_labs_front_door(experiment_file: Callable[..., Path]) -> None:
    loaded = load_experiment(experiment_file("topology: {services: [ehr, labs]}\nprobe: {service: labs}\n"))
    plan_faults(loaded)
    target = probe_target(loaded.experiment, topology_for(loaded.experiment), _endpoints(("ehr", "labs")))
    assert (target.service, target.protocol, target.base_url) == ("labs", "http", "http://127.0.0.1:9001")
    assert target.path == "/health"  # the service's front-door check, unless probe.path says otherwise


def test_each_capability_gets_its_protocol(experiment_file: Callable[..., Path]) -> None:
    expected = {"ehr": "fhir-r4", "imaging": "dicomweb", "messaging": "hl7v2-mllp", "scheduling": "http"}
    for service, protocol in expected.items():
        loaded = load_experiment(experiment_file(
            f"topology: {{services: [ehr, messaging, imaging, scheduling]}}\nprobe: {{service: {service}}}\n",
            name=f"probe-{service}"))
        plan_faults(loaded)
        target = probe_target(loaded.experiment, topology_for(loaded.experiment),
                              _endpoints(("ehr", "imaging", "scheduling")))
        assert target.protocol == protocol, service
    assert target.protocol == "http"
    loaded = load_experiment(experiment_file("topology: {services: [ehr, messaging]}\nprobe: {service: messaging}\n",
                                             name="mllp"))
    target = probe_target(loaded.experiment, topology_for(loaded.experiment), _endpoints(("ehr",)))
    assert (target.host, target.port) == ("127.0.0.1", 9100)  # through campus-msg-a, the senders' primary


def test_an_experiment_without_the_ehr_validates_without_a_probe_line(experiment_file: Callable[..., Path]) -> None:
    loaded = load_experiment(experiment_file(
        "topology: {services: [imaging]}\nchecks: [{type: availability, service: imaging}]\n"))
    plan_faults(loaded)  # used to be refused: probe.service defaulted to 'ehr'


def test_a_probe_path_on_a_fhir_service_and_a_check_on_a_missing_default_are_located(
        experiment_file: Callable[..., Path]) -> None:
    with pytest.raises(ExperimentError) as caught:
        plan_faults(load_experiment(experiment_file(
            "topology: {services: [imaging]}\nprobe: {service: imaging, path: /x}\nchecks: [{type: availability}]\n")))
    message = str(caught.value)
    assert "probe.path: 'path' is for http services; 'imaging' is probed with dicomweb" in message
    assert "checks[0].service: unknown service 'ehr'" in message and "(the default of 'service')" in message


@pytest.mark.integration
def test_an_availability_check_on_labs_measures_labs(tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    """The labs front door is cut; the EHR's is not: the probe of labs must see the cut."""
    loaded = load_experiment(experiment_file("""\
        topology: {services: [ehr, labs]}
        probe: {service: labs, rate: 20}
        phases: {steady_state: 2s, recovery: 3s}
        faults: [{type: link_down, target: campus-frontdoor-labs, at: 0s, duration: 3s}]
        checks: [{type: availability, service: labs, max_error_rate: 0.05}]
        """))
    result = run_experiment(loaded, tmp_path / "runs")
    assert result.outcome is Outcome.PASS, result.verdicts  # before and after the cut
    timeline = load_run_timeline(result.run_dir)
    inject, heal = (e.t for e in timeline.events if isinstance(e, FaultRecord))
    requests = timeline.requests.filter(pl.col("source") == "probe").collect()
    during = requests.filter((pl.col("t") > inject + 0.3) & (pl.col("t") + pl.col("duration") < heal))
    assert during.height > 20 and during["ok"].sum() == 0, during  # the cut was seen by a probe of labs
    assert set(requests["service"].to_list()) == {"labs"}
    assert set(requests["operation"].to_list()) == {"read"}  # GETs of /health, not FHIR creates


@pytest.mark.integration
def test_a_topology_without_the_ehr_runs(tmp_path: Path, experiment_file: Callable[..., Path]) -> None:
    loaded = load_experiment(experiment_file("""\
        topology: {services: [imaging]}
        phases: {steady_state: 2s, recovery: 2s}
        faults: [{type: latency, target: frontdoor-pacs-a, latency: 50ms, at: 0s, duration: 2s}]
        checks: [{type: availability, service: imaging, max_error_rate: 0.0}]
        """))
    result = run_experiment(loaded, tmp_path / "runs")
    assert result.outcome is Outcome.PASS, result.verdicts
    requests = load_run_timeline(result.run_dir).requests.collect()
    assert set(requests["operation"].to_list()) == {"search"} and requests.height > 50
