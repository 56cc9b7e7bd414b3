"""A user's own service as a container image, next to ours on the docker backend: placeholders
filled in with addresses through the links (its traffic crosses Toxiproxy), readiness as
declared; and the errors when its image is missing or its container exits during start-up,
with nothing of the run left behind."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import httpx
import pytest

from harness.backends.docker.backend import DockerBackend, ImageMissing
from harness.backends.docker.engine import LABEL_RUN
from harness.backends.local.processes import ProcessFailedToStart
from harness.experiment import load_experiment
from harness.run.run_tag import run_tag
from harness.runner.backend_options import local_options
from harness.runner.planning import plan_faults
from harness.runner.targets import topology_for
from harness.toxiproxy import ToxiproxyClient

pytestmark = pytest.mark.integration

RELAY = Path(__file__).resolve().parents[1] / "user_service" / "relay.py"
RELAY_IMAGE = "hchaos-test/relay:1"


@pytest.fixture(scope="module")
def relay_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A user's image, built here from the project's base image (no registry): our test relay."""
    from harness.backends.docker.images import BASE_IMAGE

    context = tmp_path_factory.mktemp("relay-image")
    shutil.copy(RELAY, context / "relay.py")
    (context / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nCOPY relay.py /srv/relay.py\n"
                                        'CMD ["python3", "/srv/relay.py", "8000", "http://127.0.0.1:1"]\n')
    with contextlib.closing(docker.from_env()) as client:
        client.images.build(path=str(context), tag=RELAY_IMAGE, rm=True)
    yield RELAY_IMAGE


def _backend(experiment_file: Callable[..., Path], tmp_path: Path, service: str) -> DockerBackend:
    path = experiment_file(f"topology:\n  services:\n{service}")
    path.write_text(path.read_text().replace("backend: local", "backend: docker"))
    loaded = load_experiment(path)
    plan_faults(loaded)  # the validation a run does first
    return DockerBackend(topology_for(loaded.experiment), tmp_path / "run",
                         options=local_options(loaded.experiment, loaded.services_dir))


def leftovers(run_dir: Path) -> list[str]:
    with contextlib.closing(docker.from_env()) as client:
        label = f"{LABEL_RUN}={run_tag(run_dir)}"
        return ([c.name for c in client.containers.list(all=True, filters={"label": label})]
                + [n.name for n in client.networks.list(filters={"label": label})])


def test_a_user_image_reaches_its_dependency_through_its_link(relay_image: str, experiment_file: Callable[..., Path],
                                                              tmp_path: Path) -> None:
    backend = _backend(experiment_file, tmp_path, f"""\
    - ehr
    - name: relay
      image: {relay_image}
      command: [python3, /srv/relay.py, "{{port}}", "{{url.ehr}}", "{{host}}"]
      env: {{OWN: "{{name}}@{{site}}"}}
      speaks: [http]
      ports: {{http: 8000}}
      ready: {{log: relay listening, timeout: 20s}}
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
        spec = backend.supervisor.container("relay-a").spec
        assert spec.image == relay_image and f"http://toxiproxy:{link.listen_port}" in spec.command
        with ToxiproxyClient(endpoints.toxiproxy_url) as toxiproxy:
            toxiproxy.disable("relay-a-frontdoor-ehr")  # its dependency's link: the EHR itself is fine
            assert httpx.get(url, timeout=3).status_code == 502
            assert httpx.get(f"{endpoints.front_door_urls['ehr']}/metadata", timeout=3).status_code == 200
            toxiproxy.enable("relay-a-frontdoor-ehr")
        assert httpx.get(url, timeout=3).status_code == 200
    finally:
        backend.down()
    assert leftovers(tmp_path / "run") == []


def test_a_missing_image_is_refused_before_anything_starts(experiment_file: Callable[..., Path],
                                                           tmp_path: Path) -> None:
    backend = _backend(experiment_file, tmp_path, """\
    - name: pacs
      image: no-such-vendor/pacs:0.0.1
      speaks: [tcp]
      instances: [{name: pacs-a, site: dc-a}]
      clients: direct
""")
    with pytest.raises(ImageMissing) as caught:
        backend.up()
    assert "no-such-vendor/pacs:0.0.1 (service 'pacs')" in caught.value.message and caught.value.exit_code == 3
    assert leftovers(tmp_path / "run") == []


def test_a_container_that_exits_during_start_up_shows_its_log_tail(relay_image: str,
                                                                   experiment_file: Callable[..., Path],
                                                                   tmp_path: Path) -> None:
    backend = _backend(experiment_file, tmp_path, f"""\
    - name: crashy
      image: {relay_image}
      command: [python3, -c, "import sys; print('license file /etc/vendor.lic not found', flush=True); sys.exit(4)"]
      speaks: [tcp]
      ready: {{tcp: {{}}, timeout: 20s}}
      instances: [{{name: crashy-1, site: dc-a}}]
      clients: direct
""")
    with pytest.raises(ProcessFailedToStart) as caught:
        backend.up()
    message = str(caught.value)
    assert "crashy-1" in message and "exited with code 4" in message, message
    assert "license file /etc/vendor.lic not found" in message  # the tail of its log
    assert leftovers(tmp_path / "run") == []
