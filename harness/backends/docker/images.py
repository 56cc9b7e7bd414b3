"""The docker backend's images, built offline: no registry is needed, none is contacted.

* :data:`BASE_IMAGE` -- Debian bookworm (``python3``, ``python3-venv``, ``haproxy``,
  ``ca-certificates``) made by ``debootstrap`` into a temp dir and ``docker import``-ed. Built
  only when missing, with ``--force``, or when its recipe (suite, packages) changed.
* :data:`SERVICES_IMAGE` -- a venv at ``/opt/hchaos`` holding the project (``harness``,
  ``mock_services``) and its runtime dependencies, installed with ``pip install --no-index``
  from wheels built on the host (cached in ``<tools dir>/wheels``); ``WORKDIR /data``; no
  entrypoint (the backend gives the whole command).
* :data:`TOXIPROXY_IMAGE` -- ``/usr/local/bin/toxiproxy-server`` and ``toxiproxy-cli`` copied
  from the project tools dir (``scripts/install-tools.sh`` builds them); CMD listens on 8474.
* :data:`HAPROXY_IMAGE` -- the base's Debian haproxy (``/usr/sbin/haproxy``) with a CMD.

Dockerfiles live in ``compose/images/<name>/``; the build context is assembled in a temp dir.
Every image carries ``org.hchaos.commit`` (the tree's git commit, ``-dirty`` with uncommitted
changes to tracked files) and ``org.hchaos.inputs``, the sha256 of everything that went into
it (recipe, Dockerfile, base image id, source files, binaries). When the inputs of an image
equal its label the build is skipped, so a run with nothing changed takes about a second:
the hash reads source files and binaries, never the wheels (building those is the slow part).
The commit is a note, not an input: an image built from identical files at an older commit
is up to date.

``python -m harness.backends.docker.images [--check] [--force]``: progress on stderr; exit 0
when every image is up to date (built or already), 3 when the engine, debootstrap, the tools
or the wheels are missing (with a hint), or with ``--check`` when an image needs a build; 130
when interrupted (Ctrl-C or SIGTERM: temp dirs are removed first). Builds hold a lock in the
tools dir, so two at once wait for each other; an image a rebuild replaced is removed when no
container uses it. ``$HCHAOS_DEBIAN_MIRROR`` picks debootstrap's mirror.

This module decides which image to build, when, and with which labels; what goes into an
image (the hash, the build contexts, the base's root filesystem) is
:mod:`harness.backends.docker.build_inputs`, whose public names are re-exported here.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from harness.backends.docker.build_inputs import (
    BASE_CHANGES,
    BASE_PACKAGES,
    DEBIAN_SUITE,
    MIRROR_ENV,
    base_inputs,
    base_rootfs_tarball,
    context_inputs,
    inputs_hash,
    prepare_context,
    say,
    source_commit,
    source_files,
)
from harness.backends.docker.engine import INSTALL_HINT, connect
from harness.errors import HarnessError, InfrastructureError, ToolMissing
from harness.tools import repo_root, tools_dir

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.images import Image

__all__ = [
    "BASE_IMAGE", "BASE_PACKAGES", "COMMIT_LABEL", "DEBIAN_SUITE", "HAPROXY_IMAGE", "IMAGES", "INPUTS_LABEL",
    "INSTALL_HINT", "MAKE_IMAGES_HINT", "MIRROR_ENV", "PYTHON_LABEL", "SERVICES_IMAGE", "TOXIPROXY_IMAGE",
    "ImageStatus", "build_images", "compose_version", "engine_version", "image_inputs", "image_report",
    "inputs_hash", "main", "require_images", "source_commit", "source_files",
]

BASE_IMAGE = "hchaos/base:bookworm"
SERVICES_IMAGE = "hchaos/services:latest"
TOXIPROXY_IMAGE = "hchaos/toxiproxy:2.12.0"
HAPROXY_IMAGE = "hchaos/haproxy:latest"
IMAGES = (BASE_IMAGE, SERVICES_IMAGE, TOXIPROXY_IMAGE, HAPROXY_IMAGE)
"""Build order: the base first, every other image is ``FROM`` it."""

COMMIT_LABEL = "org.hchaos.commit"
INPUTS_LABEL = "org.hchaos.inputs"
PYTHON_LABEL = "org.hchaos.python"
"""On the base: its python3's ``X.Y``, which the host's wheels must match."""

MAKE_IMAGES_HINT = "run `make images` (python -m harness.backends.docker.images builds them offline)"
_SHORT = {BASE_IMAGE: "base", SERVICES_IMAGE: "services", TOXIPROXY_IMAGE: "toxiproxy",
          HAPROXY_IMAGE: "haproxy"}
"""Each image's short name: in progress lines, and its Dockerfile dir ``compose/images/<short>/``."""


@dataclass(frozen=True)
class ImageStatus:
    """One image as ``hchaos doctor`` shows it: ``commit`` and ``created`` (``YYYY-MM-DD
    HH:MM:SS`` UTC) are ``None`` when the image is absent or carries no commit label."""

    name: str
    present: bool
    commit: str | None
    created: str | None


# -- the engine -------------------------------------------------------------------------------

def _client(timeout: float) -> DockerClient:
    """A pinged client (:func:`harness.backends.docker.engine.connect`): its
    :class:`~harness.backends.docker.engine.DockerUnavailable` when no engine answers, and
    :class:`ToolMissing` first when the docker SDK itself is not installed."""
    try:
        import docker  # noqa: F401  (engine.connect imports it: absent, that would be a traceback)
    except ImportError:
        raise ToolMissing("the docker Python SDK is not installed in this Python",
                          hint=f"install the project into {sys.prefix} (pip install -e .)") from None
    return connect(timeout)


def _image(client: DockerClient, name: str) -> Image | None:
    from docker.errors import ImageNotFound

    try:
        return client.images.get(name)
    except ImageNotFound:
        return None


def _labels(image: Image | None) -> dict[str, str]:
    return dict((image.attrs.get("Config") or {}).get("Labels") or {}) if image is not None else {}


def engine_version(timeout: float = 5.0) -> str:
    """The engine's version (``20.10.24+dfsg1``); :class:`InfrastructureError` when none answers."""
    with contextlib.closing(_client(timeout)) as client:
        return str(client.version().get("Version", "unknown"))


def compose_version() -> str | None:
    """``docker compose version --short`` (``2.40.3``), or ``None`` without the plugin."""
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        return None
    try:
        done = subprocess.run([docker_cli, "compose", "version", "--short"], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip().removeprefix("v")
    return version if done.returncode == 0 and version else None


def image_report() -> list[ImageStatus]:
    """Every image of :data:`IMAGES`, present or not (for ``hchaos doctor``). Raises
    :class:`InfrastructureError` when no engine answers: absent images and an absent engine
    are different problems."""
    with contextlib.closing(_client(5.0)) as client:
        report = []
        for name in IMAGES:
            image = _image(client, name)
            created = str(image.attrs.get("Created", ""))[:19].replace("T", " ") if image else None
            report.append(ImageStatus(name, image is not None, _labels(image).get(COMMIT_LABEL), created or None))
        return report


def require_images(names: Iterable[str]) -> None:
    """Raise :class:`ToolMissing` (exit 3) naming every image of ``names`` the engine does not
    have, hint ``make images``; :class:`InfrastructureError` when no engine answers. Checks
    presence only (a cheap inspect each), not whether an image is up to date."""
    wanted = list(dict.fromkeys(names))
    with contextlib.closing(_client(10.0)) as client:
        missing = [name for name in wanted if _image(client, name) is None]
    if missing:
        raise ToolMissing(f"docker image(s) not built: {', '.join(missing)}", hint=MAKE_IMAGES_HINT)


# -- building ---------------------------------------------------------------------------------

def image_inputs(root: Path, name: str, base_id: str | None) -> str:
    """The inputs hash of image ``name`` (one of :data:`IMAGES`) built from ``base_id``."""
    if name == BASE_IMAGE:
        return base_inputs(root)
    return context_inputs(root, _SHORT[name], [name, str(base_id)])


def _build_base(client: DockerClient, labels: dict[str, str]) -> None:
    with base_rootfs_tarball() as (tarball, python):
        labels = {**labels, PYTHON_LABEL: python}
        repository, tag = BASE_IMAGE.split(":")
        changes = [*BASE_CHANGES, *(f"LABEL {key}={value}" for key, value in labels.items())]
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag, changes=changes)


def _build(client: DockerClient, root: Path, name: str, labels: dict[str, str], *, force: bool) -> None:
    with tempfile.TemporaryDirectory(prefix=f"hchaos-{_SHORT[name]}-") as tmp:
        context = Path(tmp) / "context"
        prepare_context(root, _SHORT[name], context, _labels(_image(client, BASE_IMAGE)).get(PYTHON_LABEL))
        seen: list[str] = []
        # network_mode none: a build must not depend on the network (nothing is fetched inside).
        for chunk in client.api.build(path=str(context), tag=name, labels=labels, rm=True, forcerm=True,
                                      pull=False, nocache=force, decode=True, network_mode="none",
                                      buildargs={"BASE_IMAGE": BASE_IMAGE}):
            seen += str(chunk.get("stream", "")).splitlines()
            if str(chunk.get("stream", "")).startswith("Step "):
                say(f"  {chunk['stream'].strip()}")
            if "error" in chunk:
                output = "\n".join(seen[-20:])
                raise InfrastructureError(f"building {name} failed: {chunk['error'].strip()}\n{output}")


def build_images(*, force: bool = False, check: bool = False) -> dict[str, str]:
    """Bring every image of :data:`IMAGES` up to date (or with ``check`` only compare); the
    status of each: ``up to date``, ``built``, or with ``check`` ``missing`` / ``outdated``."""
    client = _client(600.0)  # first: it says so when the SDK itself is missing
    from docker.errors import DockerException

    root = repo_root()
    commit = source_commit(root)
    statuses: dict[str, str] = {}
    replaced: list[str] = []
    with contextlib.closing(client), contextlib.ExitStack() as stack:
        if not check:
            stack.enter_context(_build_lock())
        base_id: str | None = None
        for name in IMAGES:
            short, existing = _SHORT[name], _image(client, name)
            inputs = image_inputs(root, name, base_id)
            labels = _labels(existing)
            if existing is not None and labels.get(INPUTS_LABEL) == inputs and not force:
                statuses[name] = "up to date"
                what = "present, up to date" if name == BASE_IMAGE else "up to date"
                say(f"{short}: {what} (built from {labels.get(COMMIT_LABEL, '?')})")
            elif check:
                statuses[name] = "missing" if existing is None else "outdated"
                say(f"{short}: {statuses[name]}")
            else:
                why = "missing" if existing is None else "forced" if force else "inputs changed"
                say(f"{short}: building ({why})...")
                started, new_labels = time.monotonic(), {COMMIT_LABEL: commit, INPUTS_LABEL: inputs}
                try:
                    if name == BASE_IMAGE:
                        _build_base(client, new_labels)
                    else:
                        _build(client, root, name, new_labels, force=force)
                except DockerException as exc:  # the engine refused: a message, not a traceback
                    raise InfrastructureError(f"the Docker engine could not build {name}: {exc}") from None
                built = client.images.get(name)
                statuses[name] = "built"
                say(f"{short}: built in {time.monotonic() - started:.1f} s "
                     f"({built.attrs['Size'] / 1e6:.0f} MB, {built.short_id})")
                if existing is not None and existing.id and existing.id != built.id:
                    replaced.append(existing.id)
                existing = built
            if name == BASE_IMAGE:  # every other image is FROM it: its id is one of their inputs
                base_id = str(existing.id) if existing is not None else None
        if "built" in statuses.values():
            _remove_replaced(client, replaced, base_id)
    return statuses


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time per tools dir (the wheel cache is shared); a second waits."""
    import fcntl

    tools_dir().mkdir(parents=True, exist_ok=True)
    with (tools_dir() / "images.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("images: another build is running; waiting for it...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _remove_replaced(client: DockerClient, image_ids: list[str], base_id: str | None) -> None:
    """Best effort: the images a rebuild replaced, newest first, then the untagged build
    stages (services' ``deps``: they inherit the base's labels) not built on the current base,
    which a replaced base is under; an image a container still uses stays."""
    from docker.errors import APIError

    for image_id in reversed(image_ids):
        with contextlib.suppress(APIError):
            client.images.remove(image_id)
    for stage in client.images.list(filters={"dangling": True, "label": INPUTS_LABEL}):
        ancestors: list[str] = []
        parent = stage.attrs.get("Parent")
        while parent and parent not in ancestors:
            ancestors.append(parent)
            try:
                parent = client.images.get(parent).attrs.get("Parent")
            except APIError:
                break
        if stage.id and base_id not in ancestors:
            with contextlib.suppress(APIError):
                client.images.remove(stage.id)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so temp dirs (a whole root filesystem) are removed."""
    def interrupt(signum: int, frame: object) -> NoReturn:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit code (0 up to date, 3 not, 130 interrupted)."""
    parser = argparse.ArgumentParser(prog="python -m harness.backends.docker.images",
                                     description="Build the docker backend's images offline.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only report; exit 3 if a build is needed")
    mode.add_argument("--force", action="store_true", help="rebuild every image, the base too")
    args = parser.parse_args(argv)
    try:
        with _sigterm_as_interrupt():
            statuses = build_images(force=args.force, check=args.check)
    except HarnessError as exc:
        say(f"images: error: {exc.message}")
        if exc.hint:
            say(f"images: hint: {exc.hint}")
        return exc.exit_code
    except KeyboardInterrupt:
        say("images: interrupted (temporary files removed)")
        return 130
    stale = [name for name, status in statuses.items() if status in ("missing", "outdated")]
    if stale:
        say(f"images: not up to date: {', '.join(stale)}; {MAKE_IMAGES_HINT}")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
