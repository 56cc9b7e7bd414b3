"""The docker backend's images, built offline: no registry is needed, none is contacted.

* :data:`BASE_IMAGE` -- Debian bookworm (``python3``, ``python3-venv``, ``haproxy``,
  ``ca-certificates``) made by ``debootstrap`` into a temp dir and ``docker import``-ed. Built
  only when missing, with ``--force``, or when its recipe (suite, packages) changed in this file.
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
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
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

from harness.errors import HarnessError, InfrastructureError, ToolMissing
from harness.tools import repo_root, tools_dir

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.images import Image

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

DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "haproxy", "ca-certificates")
MIRROR_ENV = "HCHAOS_DEBIAN_MIRROR"
"""Where debootstrap fetches packages (default ``http://deb.debian.org/debian``)."""

INSTALL_HINT = "run scripts/install-docker.sh: it installs Docker and starts the engine"
MAKE_IMAGES_HINT = "run `make images` (python -m harness.backends.docker.images builds them offline)"
_RECIPE = "1"  # bump when a change in how images are made must rebuild them all
_BASE_CHANGES = ("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]')
_SHORT = {BASE_IMAGE: "base", SERVICES_IMAGE: "services", TOXIPROXY_IMAGE: "toxiproxy",
          HAPROXY_IMAGE: "haproxy"}
_TOXIPROXY_BINARIES = ("toxiproxy-server", "toxiproxy-cli")


@dataclass(frozen=True)
class ImageStatus:
    """One image as ``hchaos doctor`` shows it: ``commit`` and ``created`` (``YYYY-MM-DD
    HH:MM:SS`` UTC) are ``None`` when the image is absent or carries no commit label."""

    name: str
    present: bool
    commit: str | None
    created: str | None


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the engine -------------------------------------------------------------------------------

def _client(timeout: float) -> DockerClient:
    """A pinged ``docker.DockerClient``, or :class:`InfrastructureError` saying why not."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:
        raise ToolMissing("the docker Python SDK is not installed in this Python",
                          hint=f"install the project into {sys.prefix} (pip install -e .)") from None
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except DockerException as exc:
        socket = Path(host.removeprefix("unix://")) if host.startswith("unix://") else None
        if socket is not None and not socket.exists():
            why = f"the socket {socket} does not exist: dockerd is not running"
        elif "Permission denied" in str(exc):
            why = f"permission denied on {host} (run as root or join the 'docker' group)"
        else:
            why = str(exc).splitlines()[0] if str(exc) else "no reply"
        raise InfrastructureError(f"no Docker engine answers at {host}: {why}", hint=INSTALL_HINT) from None
    return client


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


# -- inputs -----------------------------------------------------------------------------------

def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def source_commit(root: Path) -> str:
    """``HEAD``'s commit, ``-dirty`` when tracked files differ from it; ``unknown`` outside git."""
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        return "unknown"
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return head.strip() + ("-dirty" if status is None or status.strip() else "")


def source_files(root: Path) -> list[Path]:
    """The files the project's wheel is made of: git's tracked and untracked-but-not-ignored
    files under ``harness/``, ``mock_services/`` and ``pyproject.toml`` that exist (a new module
    is in the wheel before it is committed); outside git, every file there but bytecode."""
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
                  "harness", "mock_services", "pyproject.toml")
    if listed is None:
        walked = [p for top in ("harness", "mock_services") for p in (root / top).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts]
        paths = [*walked, root / "pyproject.toml"]
    else:
        paths = [root / name for name in listed.split("\0") if name]
    return sorted({p for p in paths if p.is_file()})


def inputs_hash(root: Path, files: Iterable[Path], extra: Iterable[str] = ()) -> str:
    """sha256 over ``extra`` and each file's path relative to ``root`` and content: equal
    exactly when the same files, under the same names, hold the same bytes."""
    digest = hashlib.sha256(json.dumps([_RECIPE, *extra]).encode())
    for path in sorted(files):
        file_hash = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                file_hash.update(chunk)
        digest.update(f"\0{path.relative_to(root).as_posix()}\0{file_hash.hexdigest()}".encode())
    return digest.hexdigest()


def _dockerfile_dir(root: Path, name: str) -> Path:
    return root / "compose" / "images" / _SHORT[name]


def _toxiproxy_binaries() -> list[Path]:
    paths = [tools_dir() / "bin" / binary for binary in _TOXIPROXY_BINARIES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ToolMissing(f"Toxiproxy binaries missing: {', '.join(missing)}",
                          hint="run scripts/install-tools.sh (or `make tools`) first")
    return paths


def image_inputs(root: Path, name: str, base_id: str | None) -> str:
    """The inputs hash of image ``name`` (one of :data:`IMAGES`) built from ``base_id``."""
    if name == BASE_IMAGE:
        return inputs_hash(root, [], ["base", DEBIAN_SUITE, "minbase", *BASE_PACKAGES, *_BASE_CHANGES])
    context = _dockerfile_dir(root, name)
    files = [p for p in context.rglob("*") if p.is_file()]
    if name == SERVICES_IMAGE:
        files += source_files(root)
        extra = [f"python{sys.version_info.major}.{sys.version_info.minor}"]
    else:
        extra = []
    if name == TOXIPROXY_IMAGE:
        # Outside the repository: hashed under their own names, not a path relative to root.
        return inputs_hash(root, files, [name, str(base_id), *extra,
                                         inputs_hash(tools_dir(), _toxiproxy_binaries())])
    return inputs_hash(root, files, [name, str(base_id), *extra])


# -- building ---------------------------------------------------------------------------------

def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        points = [line.split()[4].encode().decode("unicode_escape") for line in handle]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def _remove_rootfs(path: Path) -> None:
    """Remove a debootstrap target, first unmounting what a killed debootstrap left mounted
    in it (its /proc, /sys and bind-mounted /dev nodes): never delete through a mount."""
    for point in _mounts_under(path):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    left = _mounts_under(path)
    if left:
        _say(f"base: warning: {len(left)} mount(s) still under {path} (e.g. {left[0]}): not removing "
             "it; unmount them, then remove it by hand")
        return
    shutil.rmtree(path, ignore_errors=True)


def _run_logged(command: list[str], log: Path) -> int:
    """Run ``command`` with its output in ``log``; interrupted, the child is stopped (SIGTERM,
    so debootstrap's exit trap unmounts) and waited for before the interruption goes on."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            return process.wait()
        except BaseException:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            raise


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _build_base(client: DockerClient, labels: dict[str, str]) -> None:
    debootstrap = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if debootstrap is None:
        raise ToolMissing("debootstrap is not installed (it makes the base image's root filesystem)",
                          hint=INSTALL_HINT)
    if os.geteuid() != 0:
        raise InfrastructureError("building the base image runs debootstrap, which needs root",
                                  hint="run `sudo make images` (or the module as root) once")
    mirror = os.environ.get(MIRROR_ENV, "http://deb.debian.org/debian")
    work = Path(tempfile.mkdtemp(prefix="hchaos-base-"))
    rootfs, log = work / "rootfs", work / "debootstrap.log"
    try:
        _say(f"base: debootstrap {DEBIAN_SUITE} from {mirror} (about a minute)...")
        code = _run_logged([debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                            DEBIAN_SUITE, str(rootfs), mirror], log)
        if code != 0:
            raise InfrastructureError(f"debootstrap failed (exit {code}); its log ends:\n{_tail(log)}",
                                      hint=f"is {mirror} reachable? set {MIRROR_ENV} to another Debian mirror")
        # What a slim image drops: downloaded packages, package lists, manuals (apt-get update
        # in a container fetches the lists again).
        for junk in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*", "usr/share/man/*", "usr/share/info/*"):
            for child in rootfs.glob(junk):
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        pythons = sorted(p.name for p in (rootfs / "usr" / "bin").glob("python3.*")
                         if re.fullmatch(r"python3\.\d+", p.name))
        labels = {**labels, PYTHON_LABEL: pythons[-1].removeprefix("python") if pythons else "unknown"}
        tarball = work / "rootfs.tar"
        code = _run_logged(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball),
                            "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*", "."], log)
        if code != 0:
            raise InfrastructureError(f"tar of the base root filesystem failed:\n{_tail(log)}")
        repository, tag = BASE_IMAGE.split(":")
        changes = [*_BASE_CHANGES, *(f"LABEL {key}={value}" for key, value in labels.items())]
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag, changes=changes)
    finally:
        _remove_rootfs(work)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)  # same bytes, no copy: the wheels are ~150 MB
    except OSError:
        shutil.copy2(source, target)


def _pip(args: list[str], log: Path) -> None:
    if _run_logged([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], log) != 0:
        raise InfrastructureError(f"pip {args[0]} failed; its output ends:\n{_tail(log)}",
                                  hint="the first build fetches the dependencies' wheels: PyPI must be reachable")


def _wheels(root: Path, cache: Path, out: Path, container_python: str | None) -> tuple[Path, Path]:
    """The runtime dependencies' wheels (``cache/deps``, with the ``requirements.txt`` they were
    fetched for; fetched again only when pyproject's pins change) and the project's own wheel,
    built offline into ``out`` from a copy of exactly the hashed source files."""
    import tomllib

    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if container_python not in (None, "unknown", host):
        raise InfrastructureError(f"the wheels are built by this Python ({host}, {sys.executable}) but the "
                                  f"base image's python3 is {container_python}: they would not install",
                                  hint=f"run the module with a Python {container_python} (the project venv)")
    project = tomllib.loads((root / "pyproject.toml").read_text())
    runtime, build = project["project"]["dependencies"], project["build-system"]["requires"]
    deps, key = cache / "deps", hashlib.sha256(json.dumps([runtime, build, host]).encode()).hexdigest()
    if not (deps / ".key").is_file() or (deps / ".key").read_text() != key:
        _say(f"services: fetching the dependencies' wheels into {deps} (the first time: minutes)...")
        fresh = cache / "deps.new"
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        (fresh / "requirements.txt").write_text("\n".join(runtime) + "\n")
        (fresh / "build-requirements.txt").write_text("\n".join(build) + "\n")
        reuse = ["--find-links", str(deps)] if deps.is_dir() else []  # unchanged pins: no download
        _pip(["wheel", "--wheel-dir", str(fresh), *reuse, "-r", str(fresh / "requirements.txt"),
              "-r", str(fresh / "build-requirements.txt")], fresh / "pip.log")
        (fresh / ".key").write_text(key)
        shutil.rmtree(deps, ignore_errors=True)
        fresh.rename(deps)
    source = out / "source"
    for path in [*source_files(root), *root.glob("README*"), *root.glob("LICEN[CS]E*")]:
        (source / path.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, source / path.relative_to(root))
    # --no-index: setuptools and wheel for the isolated build come from the cache too.
    _pip(["wheel", "--no-deps", "--no-index", "--find-links", str(deps), "--wheel-dir", str(out),
          str(source)], out / "pip.log")
    return deps, next(out.glob("*.whl"))


def _prepare_context(root: Path, name: str, context: Path, python: str | None) -> None:
    shutil.copytree(_dockerfile_dir(root, name), context, dirs_exist_ok=True)
    if name == TOXIPROXY_IMAGE:
        for binary in _toxiproxy_binaries():
            _link_or_copy(binary, context / binary.name)
    elif name == SERVICES_IMAGE:
        deps, project = _wheels(root, tools_dir() / "wheels", context.parent / "project", python)
        shutil.copy2(deps / "requirements.txt", context / "requirements.txt")
        for wheel in deps.glob("*.whl"):
            _link_or_copy(wheel, context / "wheels" / "deps" / wheel.name)
        _link_or_copy(project, context / "wheels" / "project" / project.name)


def _build(client: DockerClient, root: Path, name: str, labels: dict[str, str], *, force: bool) -> None:
    with tempfile.TemporaryDirectory(prefix=f"hchaos-{_SHORT[name]}-") as tmp:
        context = Path(tmp) / "context"
        _prepare_context(root, name, context, _labels(_image(client, BASE_IMAGE)).get(PYTHON_LABEL))
        seen: list[str] = []
        # network_mode none: a build must not depend on the network (nothing is fetched inside).
        for chunk in client.api.build(path=str(context), tag=name, labels=labels, rm=True, forcerm=True,
                                      pull=False, nocache=force, decode=True, network_mode="none",
                                      buildargs={"BASE_IMAGE": BASE_IMAGE}):
            seen += str(chunk.get("stream", "")).splitlines()
            if str(chunk.get("stream", "")).startswith("Step "):
                _say(f"  {chunk['stream'].strip()}")
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
                _say(f"{short}: {what} (built from {labels.get(COMMIT_LABEL, '?')})")
            elif check:
                statuses[name] = "missing" if existing is None else "outdated"
                _say(f"{short}: {statuses[name]}")
            else:
                why = "missing" if existing is None else "forced" if force else "inputs changed"
                _say(f"{short}: building ({why})...")
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
                _say(f"{short}: built in {time.monotonic() - started:.1f} s "
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
            _say("images: another build is running; waiting for it...")
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
        _say(f"images: error: {exc.message}")
        if exc.hint:
            _say(f"images: hint: {exc.hint}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("images: interrupted (temporary files removed)")
        return 130
    stale = [name for name, status in statuses.items() if status in ("missing", "outdated")]
    if stale:
        _say(f"images: not up to date: {', '.join(stale)}; {MAKE_IMAGES_HINT}")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
