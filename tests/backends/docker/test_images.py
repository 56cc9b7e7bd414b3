"""The docker backend's images (harness/backends/docker/images.py): built for real on the
engine, then run. Like the backend's tests these need the engine (`make test` runs
`make images` first) and fail without it, they do not skip. The inputs hash, the commit label
and the removal of a half-built root filesystem are unit tests on temp dirs."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from harness.backends.docker import build_inputs, images
from harness.backends.docker.images import (
    BASE_IMAGE,
    COMMIT_LABEL,
    HAPROXY_IMAGE,
    IMAGES,
    INPUTS_LABEL,
    SERVICES_IMAGE,
    TOXIPROXY_IMAGE,
    image_inputs,
    image_report,
    inputs_hash,
    require_images,
    source_commit,
    source_files,
)
from harness.errors import InfrastructureError, ToolMissing

REPO = Path(__file__).resolve().parents[3]


# -- unit: what goes into the hash -------------------------------------------------------------

def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t", *args],
                   check=True, capture_output=True)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A tiny project in git: one tracked module, a services Dockerfile, a pyproject."""
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "a.py").write_text("A = 1\n")
    (tmp_path / "mock_services").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "compose" / "images" / "services").mkdir(parents=True)
    (tmp_path / "compose" / "images" / "services" / "Dockerfile").write_text("FROM base\n")
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "init")
    return tmp_path


def test_the_inputs_hash_changes_exactly_when_a_file_name_or_content_changes(tree: Path) -> None:
    module = tree / "harness" / "a.py"
    before = inputs_hash(tree, [module])
    assert inputs_hash(tree, [module]) == before  # deterministic
    module.write_text("A = 2\n")
    changed = inputs_hash(tree, [module])
    assert changed != before
    module.write_text("A = 1\n")
    assert inputs_hash(tree, [module]) == before  # content, not mtime
    module.rename(tree / "harness" / "b.py")
    assert inputs_hash(tree, [tree / "harness" / "b.py"]) != before  # the name counts too
    assert inputs_hash(tree, [tree / "harness" / "b.py"], ["other"]) != inputs_hash(tree, [tree / "harness" / "b.py"])


def test_the_services_inputs_follow_sources_dockerfile_and_base_but_not_ignored_files(tree: Path) -> None:
    before = image_inputs(tree, SERVICES_IMAGE, "sha256:base1")
    (tree / "harness" / "a.pyc").write_bytes(b"bytecode")  # ignored: not in the wheel
    assert image_inputs(tree, SERVICES_IMAGE, "sha256:base1") == before
    assert image_inputs(tree, SERVICES_IMAGE, "sha256:base2") != before
    (tree / "harness" / "new.py").write_text("")  # untracked but not ignored: in the wheel
    assert tree / "harness" / "new.py" in source_files(tree)
    with_new = image_inputs(tree, SERVICES_IMAGE, "sha256:base1")
    assert with_new != before
    (tree / "compose" / "images" / "services" / "Dockerfile").write_text("FROM base\nWORKDIR /x\n")
    assert image_inputs(tree, SERVICES_IMAGE, "sha256:base1") not in (before, with_new)


def test_the_commit_label_says_dirty_only_for_changes_to_tracked_files(tree: Path) -> None:
    clean = source_commit(tree)
    assert re.fullmatch(r"[0-9a-f]{40}", clean)
    (tree / "harness" / "untracked.py").write_text("")
    assert source_commit(tree) == clean
    (tree / "harness" / "a.py").write_text("A = 3\n")
    assert source_commit(tree) == clean + "-dirty"
    assert source_commit(tree.parent / "not-a-repo-at-all") == "unknown"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_a_root_filesystem_left_with_mounts_is_unmounted_before_removal(tmp_path: Path) -> None:
    work = tmp_path / "hchaos-base-x"
    (work / "rootfs" / "proc").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "none", str(work / "rootfs" / "proc")], check=True)
    (work / "rootfs" / "proc" / "inside-the-mount").write_text("x")
    build_inputs._remove_rootfs(work)
    assert not work.exists()
    assert str(work) not in Path("/proc/self/mountinfo").read_text()


def test_no_engine_is_an_infrastructure_error_naming_the_socket(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    with pytest.raises(InfrastructureError) as caught:
        require_images([SERVICES_IMAGE])
    assert not isinstance(caught.value, ToolMissing)
    assert f"{tmp_path}/docker.sock does not exist" in caught.value.message
    assert caught.value.hint is not None and "install-docker.sh" in caught.value.hint


# -- the real engine ----------------------------------------------------------------------------

def build(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.backends.docker.images", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def built() -> None:
    """The images, built (or found up to date) by the module itself, as `make images` does."""
    first = build()
    assert first.returncode == 0, first.stderr[-4000:]


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    with contextlib.closing(docker.from_env(timeout=120)) as engine:
        yield engine



@pytest.mark.integration
def test_a_second_build_with_nothing_changed_skips_every_image(built: None) -> None:
    started = time.monotonic()
    second = build(timeout=120)
    elapsed = time.monotonic() - started
    print(f"no-op rebuild of {len(IMAGES)} images: {elapsed:.2f} s")
    assert second.returncode == 0, second.stderr
    for short in ("base", "services", "toxiproxy", "haproxy"):
        assert re.search(rf"^{short}: .*up to date", second.stderr, re.MULTILINE), second.stderr
    assert "building" not in second.stderr
    check = build("--check", timeout=120)
    assert check.returncode == 0, check.stderr


@pytest.mark.integration
def test_check_reports_an_image_whose_inputs_changed_and_exits_3(built: None, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(images, "image_inputs", lambda root, name, base_id: "changed")
    assert images.main(["--check"]) == 3
    err = capsys.readouterr().err
    assert "services: outdated" in err and "make images" in err


@pytest.mark.integration
def test_every_image_is_labelled_with_its_commit_and_current_inputs(built: None, client: docker.DockerClient) -> None:
    base_id = None
    for name in IMAGES:
        image = client.images.get(name)
        labels = image.labels
        assert re.fullmatch(r"([0-9a-f]{40}(-dirty)?|unknown)", labels[COMMIT_LABEL]), labels
        assert labels[INPUTS_LABEL] == image_inputs(REPO, name, base_id), name
        base_id = base_id or image.id
    report = {status.name: status for status in image_report()}
    assert list(report) == list(IMAGES)
    assert all(s.present and s.commit and s.created for s in report.values()), report


@pytest.mark.integration
def test_the_services_image_runs_the_mock_services_from_its_venv(built: None, client: docker.DockerClient) -> None:
    output = client.containers.run(SERVICES_IMAGE, ["/opt/hchaos/bin/python", "-m", "mock_services.ehr", "--help"],
                                   remove=True, network_mode="none")
    assert b"usage: python -m mock_services.ehr" in output
    attrs = client.images.get(SERVICES_IMAGE).attrs["Config"]
    assert attrs["WorkingDir"] == "/data" and not attrs["Entrypoint"]


@pytest.mark.integration
def test_the_haproxy_image_has_debians_haproxy(built: None, client: docker.DockerClient) -> None:
    output = client.containers.run(HAPROXY_IMAGE, ["/usr/sbin/haproxy", "-v"], remove=True, network_mode="none")
    assert output.startswith(b"HAProxy version 2.")


@pytest.mark.integration
def test_the_toxiproxy_image_answers_version_on_an_internal_network(built: None,
                                                                    client: docker.DockerClient) -> None:
    network = client.networks.create(f"hchaos-test-images-{uuid.uuid4().hex[:8]}", internal=True)
    container = None
    try:
        container = client.containers.run(TOXIPROXY_IMAGE, detach=True, network=network.name)
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        deadline, answer = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                answer = httpx.get(f"http://{address}:8474/version", timeout=2)
                break
            time.sleep(0.2)
        assert answer is not None, container.logs()[-2000:]
        assert answer.status_code == 200 and "2.12.0" in answer.text
    finally:
        if container is not None:
            container.remove(force=True)
        network.remove()


@pytest.mark.integration
def test_require_images_names_each_missing_image_and_hints_make_images(built: None) -> None:
    require_images(IMAGES)  # all there: no error
    with pytest.raises(ToolMissing) as caught:
        require_images([BASE_IMAGE, "nope/nope:1", "nope/other:2"])
    assert "nope/nope:1" in caught.value.message and "nope/other:2" in caught.value.message
    assert BASE_IMAGE not in caught.value.message
    assert caught.value.hint is not None and "make images" in caught.value.hint
    assert caught.value.exit_code == 3
