"""What goes into the docker backend's images, and the slow mechanics of gathering it; the
orchestration (which image, when, with which labels) is :mod:`harness.backends.docker.images`.

* The inputs hash (:func:`inputs_hash`, :func:`context_inputs`, :func:`base_inputs`): sha256
  over a recipe and files' names and contents. It reads the project's source files and the
  Toxiproxy binaries, never the wheels, so comparing it with an image's label takes a second.
* The commit note (:func:`source_commit`) and the project's files (:func:`source_files`).
* Build contexts (:func:`prepare_context`): a Dockerfile dir of ``compose/images/<image>/``
  plus, for ``toxiproxy``, the binaries of the tools dir and, for ``services``, the wheels
  (the dependencies' cached in ``<tools dir>/wheels``, the project's built offline).
* The base's root filesystem (:func:`base_rootfs_tarball`): ``debootstrap`` in a temp dir,
  slimmed and tarred; the temp dir is removed on every exit, unmounting first what a killed
  debootstrap left mounted in it.

Progress goes to stderr (:func:`say`); failures are :class:`InfrastructureError` (exit 3)
carrying the end of the failed tool's log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.errors import InfrastructureError, ToolMissing
from harness.tools import tools_dir

DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "haproxy", "ca-certificates")
BASE_CHANGES = ("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]')
"""The Dockerfile instructions ``docker import`` applies to the base's root filesystem."""
MIRROR_ENV = "HCHAOS_DEBIAN_MIRROR"
"""Where debootstrap fetches packages (default ``http://deb.debian.org/debian``)."""

_RECIPE = "1"  # bump when a change in how images are made must rebuild them all
_TOXIPROXY_BINARIES = ("toxiproxy-server", "toxiproxy-cli")
_DEBOOTSTRAP_HINT = "run scripts/install-docker.sh: it installs Docker and starts the engine"


def say(message: str) -> None:
    """One line of progress on stderr, flushed at once (a build takes minutes)."""
    print(message, file=sys.stderr, flush=True)


# -- the inputs hash --------------------------------------------------------------------------

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


def base_inputs(root: Path) -> str:
    """The inputs hash of the base image: its recipe only (suite, variant, packages, changes)."""
    return inputs_hash(root, [], ["base", DEBIAN_SUITE, "minbase", *BASE_PACKAGES, *BASE_CHANGES])


def dockerfile_dir(root: Path, image: str) -> Path:
    """``compose/images/<image>/``: the Dockerfile (and what it copies) of image dir ``image``."""
    return root / "compose" / "images" / image


def toxiproxy_binaries() -> list[Path]:
    """The Toxiproxy binaries in the tools dir, or :class:`ToolMissing` naming the absent ones."""
    paths = [tools_dir() / "bin" / binary for binary in _TOXIPROXY_BINARIES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ToolMissing(f"Toxiproxy binaries missing: {', '.join(missing)}",
                          hint="run scripts/install-tools.sh (or `make tools`) first")
    return paths


def context_inputs(root: Path, image: str, extra: Iterable[str]) -> str:
    """The inputs hash of the build context of :func:`dockerfile_dir` ``image`` with ``extra``
    (the image's name and base id): its files, and for ``services`` the project's source files
    and this Python's ``X.Y``, for ``toxiproxy`` the binaries."""
    files = [p for p in dockerfile_dir(root, image).rglob("*") if p.is_file()]
    extra = list(extra)
    if image == "services":
        files += source_files(root)
        extra.append(f"python{sys.version_info.major}.{sys.version_info.minor}")
    elif image == "toxiproxy":
        # Outside the repository: hashed under their own names, not a path relative to root.
        extra.append(inputs_hash(tools_dir(), toxiproxy_binaries()))
    return inputs_hash(root, files, extra)


# -- running tools ----------------------------------------------------------------------------

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


# -- the base's root filesystem ---------------------------------------------------------------

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
        say(f"base: warning: {len(left)} mount(s) still under {path} (e.g. {left[0]}): not removing "
            "it; unmount them, then remove it by hand")
        return
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def base_rootfs_tarball() -> Iterator[tuple[Path, str]]:
    """A slim Debian :data:`DEBIAN_SUITE` root filesystem with :data:`BASE_PACKAGES`, made by
    debootstrap and tarred: yields the tarball and its python3's ``X.Y`` (``unknown`` if none),
    and removes the temp dir when the block ends, however it ends. :class:`ToolMissing` without
    debootstrap, :class:`InfrastructureError` when not root or debootstrap fails."""
    debootstrap = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if debootstrap is None:
        raise ToolMissing("debootstrap is not installed (it makes the base image's root filesystem)",
                          hint=_DEBOOTSTRAP_HINT)
    if os.geteuid() != 0:
        raise InfrastructureError("building the base image runs debootstrap, which needs root",
                                  hint="run `sudo make images` (or the module as root) once")
    mirror = os.environ.get(MIRROR_ENV, "http://deb.debian.org/debian")
    work = Path(tempfile.mkdtemp(prefix="hchaos-base-"))
    rootfs, log = work / "rootfs", work / "debootstrap.log"
    try:
        say(f"base: debootstrap {DEBIAN_SUITE} from {mirror} (about a minute)...")
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
        tarball = work / "rootfs.tar"
        code = _run_logged(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball),
                            "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*", "."], log)
        if code != 0:
            raise InfrastructureError(f"tar of the base root filesystem failed:\n{_tail(log)}")
        yield tarball, pythons[-1].removeprefix("python") if pythons else "unknown"
    finally:
        _remove_rootfs(work)


# -- build contexts ---------------------------------------------------------------------------

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
        say(f"services: fetching the dependencies' wheels into {deps} (the first time: minutes)...")
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


def prepare_context(root: Path, image: str, context: Path, container_python: str | None) -> None:
    """Fill ``context`` (a new dir; its parent is scratch space too) for image dir ``image``:
    the :func:`dockerfile_dir`, plus the Toxiproxy binaries or the services' wheels (built by
    this Python, which must match the base's ``container_python`` when that is known)."""
    shutil.copytree(dockerfile_dir(root, image), context, dirs_exist_ok=True)
    if image == "toxiproxy":
        for binary in toxiproxy_binaries():
            _link_or_copy(binary, context / binary.name)
    elif image == "services":
        deps, project = _wheels(root, tools_dir() / "wheels", context.parent / "project", container_python)
        shutil.copy2(deps / "requirements.txt", context / "requirements.txt")
        for wheel in deps.glob("*.whl"):
            _link_or_copy(wheel, context / "wheels" / "deps" / wheel.name)
        _link_or_copy(project, context / "wheels" / "project" / project.name)
