"""Locating the external tools the harness drives: toxiproxy-server, toxiproxy-cli, haproxy;
Orthanc with its DICOMweb plugin (the real PACS the imaging mock is tested against); and
libfaketime (Debian's ``faketime``), which the ``clock_skew`` fault preloads.

Lookup order, for every tool (the first place that has it wins, even at a wrong version, so
the answer never depends on what happens to be further down the list):

1. the environment variable (``HCHAOS_TOXIPROXY_SERVER``, ``HCHAOS_TOXIPROXY_CLI``,
   ``HCHAOS_HAPROXY``, ``HCHAOS_ORTHANC``): a path to the binary; if set, it must work --
   we do not fall back;
2. the project tools dir, ``$HCHAOS_TOOLS_DIR/bin`` or ``<repo>/.tools/bin``, where
   ``scripts/install-tools.sh`` installs them;
3. ``PATH``.

The version is read by running the binary (bounded by a timeout). toxiproxy-server must be
exactly :data:`TOXIPROXY_VERSION` (the API semantics the client relies on were verified on
it) unless ``HCHAOS_ALLOW_ANY_TOXIPROXY=1``. Failures raise :class:`~harness.errors.ToolMissing`
saying which tool, every place looked at, and what to do.

Orthanc (the Debian package's ``Orthanc`` binary) counts as present only with its DICOMweb
plugin, ``libOrthancDicomWeb.so``: ``$HCHAOS_ORTHANC_DICOMWEB`` if set (it must exist), else
the first of ``<binary's prefix>/share/orthanc/plugins`` and the dirs of
``$HCHAOS_ORTHANC_PLUGIN_DIRS`` (default ``/usr/share/orthanc/plugins
/usr/local/share/orthanc/plugins``) that holds it.

libfaketime is a library, not a binary: ``$HCHAOS_LIBFAKETIME`` if set (it must exist), else
the first of the dirs of ``$HCHAOS_LIBFAKETIME_DIRS`` (default: Debian's multiarch dir
``/usr/lib/<arch>-linux-gnu/faketime``, then ``/usr/lib/faketime`` and
``/usr/local/lib/faketime``) holding ``libfaketime.so.1``. Its version is that of the
``faketime`` wrapper next to it on PATH when there is one (the Debian packages come
together), else "unknown".
"""

from __future__ import annotations

import itertools
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ToolMissing

TOXIPROXY_VERSION = "2.12.0"
"""The Toxiproxy release the harness is built and tested against (install-tools.sh pins it)."""

VERSION_TIMEOUT = 5.0
"""Seconds a ``--version`` style call may take before the binary counts as broken."""

INSTALL_HINT = "run scripts/install-tools.sh (or `make tools`)"


@dataclass(frozen=True)
class ToolInfo:
    """A tool that was found and runs. ``source`` says where it was found, e.g.
    ``"env HCHAOS_TOXIPROXY_SERVER"``, ``"project tools dir (/repo/.tools/bin)"``, ``"PATH"``."""

    name: str
    path: Path
    version: str
    source: str


@dataclass(frozen=True)
class ToolProblem:
    """A tool that is missing, broken or at the wrong version (for ``hchaos doctor``)."""

    name: str
    message: str
    hint: str | None


@dataclass(frozen=True)
class _Tool:
    name: str  # executable name
    env: str  # override variable
    version_flag: str
    parse_version: Callable[[str], str | None]
    install_hint: str


def repo_root() -> Path:
    """The project root: the parent of the ``harness`` package (installed editable)."""
    return Path(__file__).resolve().parent.parent


def tools_dir() -> Path:
    """``$HCHAOS_TOOLS_DIR`` if set, else ``<repo root>/.tools``; binaries live in ``bin/``."""
    configured = os.environ.get("HCHAOS_TOOLS_DIR")
    return Path(configured).expanduser() if configured else repo_root() / ".tools"


def _word_after_version(output: str) -> str | None:
    # "toxiproxy-server version 2.12.0", "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - ..."
    words = output.splitlines()[0].split() if output.strip() else []
    for before, after in itertools.pairwise(words):
        if before.lower() == "version":
            return after
    return None


_TOXIPROXY_SERVER = _Tool("toxiproxy-server", "HCHAOS_TOXIPROXY_SERVER", "-version",
                          _word_after_version,
                          f"{INSTALL_HINT}, or set HCHAOS_TOXIPROXY_SERVER to a "
                          f"toxiproxy-server {TOXIPROXY_VERSION} binary")
_TOXIPROXY_CLI = _Tool("toxiproxy-cli", "HCHAOS_TOXIPROXY_CLI", "-version", _word_after_version,
                       f"{INSTALL_HINT}, or set HCHAOS_TOXIPROXY_CLI to a toxiproxy-cli binary")
_HAPROXY = _Tool("haproxy", "HCHAOS_HAPROXY", "-v", _word_after_version,
                 f"{INSTALL_HINT} (it installs the Debian package haproxy), "
                 "or set HCHAOS_HAPROXY to an haproxy binary")


def _last_word_version(output: str) -> str | None:
    # "Orthanc 1.10.1" (the binary's argv[0], then the version), then the copyright lines.
    words = output.splitlines()[0].split() if output.strip() else []
    return words[-1] if words and re.fullmatch(r"\d+\.\d+\S*", words[-1]) else None


_ORTHANC = _Tool("Orthanc", "HCHAOS_ORTHANC", "--version", _last_word_version,
                 f"{INSTALL_HINT} (it installs the Debian packages orthanc and orthanc-dicomweb), "
                 "or set HCHAOS_ORTHANC to an Orthanc binary")
ORTHANC_DICOMWEB_PLUGIN = "libOrthancDicomWeb.so"
"""The file name of Orthanc's DICOMweb plugin (Debian: /usr/share/orthanc/plugins/)."""
_ORTHANC_PLUGIN_DIRS = "/usr/share/orthanc/plugins /usr/local/share/orthanc/plugins"


def _locate(tool: _Tool) -> tuple[Path, str]:
    """(path, source) of the first place that has ``tool``; ``ToolMissing`` listing all."""
    override = os.environ.get(tool.env)
    if override:
        path = Path(override).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            state = "is not an executable file" if path.exists() else "does not exist"
            raise ToolMissing(f"{tool.name}: {tool.env}={override} {state}",
                              hint=f"fix or unset {tool.env}; or {tool.install_hint}")
        return path, f"env {tool.env}"
    looked = [f"env {tool.env} (not set)"]

    bin_dir = tools_dir() / "bin"
    candidate = bin_dir / tool.name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate, f"project tools dir ({bin_dir})"
    looked.append(f"project tools dir {bin_dir} (no {tool.name})")

    on_path = shutil.which(tool.name)
    if on_path:
        return Path(on_path), "PATH"
    looked.append(f"PATH ({os.environ.get('PATH', '')})")
    raise ToolMissing(f"{tool.name} not found; looked in: " + "; ".join(looked),
                      hint=tool.install_hint)


def _read_version(tool: _Tool, path: Path, source: str) -> str:
    command = f"{path} {tool.version_flag}"
    try:
        done = subprocess.run([str(path), tool.version_flag], capture_output=True, text=True,
                              timeout=VERSION_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ToolMissing(f"{tool.name} at {path} (from {source}) did not answer "
                          f"`{command}` within {VERSION_TIMEOUT:g} s",
                          hint=tool.install_hint) from None
    except OSError as exc:
        raise ToolMissing(f"{tool.name} at {path} (from {source}) cannot run: {exc}",
                          hint=tool.install_hint) from None
    # HAProxy 2.x prints -v to stdout; older builds used stderr.
    output = done.stdout if done.stdout.strip() else done.stderr
    version = tool.parse_version(output)
    if done.returncode != 0 or version is None:
        first = output.strip().splitlines()[0] if output.strip() else "(no output)"
        raise ToolMissing(f"{tool.name} at {path} (from {source}): `{command}` exited "
                          f"{done.returncode} with {first!r}; expected a version line",
                          hint=tool.install_hint)
    return version


def _find(tool: _Tool) -> ToolInfo:
    path, source = _locate(tool)
    return ToolInfo(tool.name, path, _read_version(tool, path, source), source)


def _any_toxiproxy_allowed() -> bool:
    return os.environ.get("HCHAOS_ALLOW_ANY_TOXIPROXY", "").strip().lower() in ("1", "true", "yes")


def find_toxiproxy_server() -> ToolInfo:
    """The toxiproxy-server binary at version :data:`TOXIPROXY_VERSION`.

    Raises ``ToolMissing`` if it is not found, does not run, or reports another version
    (message: found vs expected) -- unless ``HCHAOS_ALLOW_ANY_TOXIPROXY=1``.
    """
    info = _find(_TOXIPROXY_SERVER)
    if info.version != TOXIPROXY_VERSION and not _any_toxiproxy_allowed():
        raise ToolMissing(
            f"toxiproxy-server at {info.path} (from {info.source}) is version {info.version}, "
            f"expected {TOXIPROXY_VERSION}",
            hint=f"{_TOXIPROXY_SERVER.install_hint}; or set HCHAOS_ALLOW_ANY_TOXIPROXY=1 "
                 "to use it anyway",
        )
    return info


def find_toxiproxy_cli() -> ToolInfo:
    """The toxiproxy-cli binary (any version: the harness itself never runs it)."""
    return _find(_TOXIPROXY_CLI)


def find_haproxy() -> ToolInfo:
    """The haproxy binary; ``version`` is e.g. ``"2.6.12-1+deb12u4"``."""
    return _find(_HAPROXY)


def find_orthanc_dicomweb(orthanc: Path | None = None) -> Path:
    """Orthanc's DICOMweb plugin (see the module docstring for where it is looked for);
    ``orthanc`` is the binary, whose install prefix is looked at first."""
    override = os.environ.get("HCHAOS_ORTHANC_DICOMWEB")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ToolMissing(f"Orthanc's DICOMweb plugin: HCHAOS_ORTHANC_DICOMWEB={override} does not exist",
                              hint=f"fix or unset HCHAOS_ORTHANC_DICOMWEB; or {_ORTHANC.install_hint}")
        return path
    dirs = [Path(d) for d in os.environ.get("HCHAOS_ORTHANC_PLUGIN_DIRS", _ORTHANC_PLUGIN_DIRS).split()]
    if orthanc is not None:
        dirs.insert(0, orthanc.resolve().parent.parent / "share" / "orthanc" / "plugins")
    for directory in dict.fromkeys(dirs):
        if (directory / ORTHANC_DICOMWEB_PLUGIN).is_file():
            return directory / ORTHANC_DICOMWEB_PLUGIN
    raise ToolMissing(f"Orthanc's DICOMweb plugin ({ORTHANC_DICOMWEB_PLUGIN}) not found; looked in: "
                      + ", ".join(str(d) for d in dict.fromkeys(dirs)),
                      hint=f"{_ORTHANC.install_hint}; or set HCHAOS_ORTHANC_DICOMWEB to the plugin")


def find_orthanc() -> ToolInfo:
    """The Orthanc binary (any version; ``version`` is e.g. ``"1.10.1"``), present only
    together with its DICOMweb plugin: ``ToolMissing`` when either is missing."""
    info = _find(_ORTHANC)
    find_orthanc_dicomweb(info.path)
    return info


LIBFAKETIME = "libfaketime.so.1"
"""The file name of libfaketime's single-threaded-safe library (Debian: .../faketime/)."""

_FAKETIME_HINT = (f"{INSTALL_HINT} (it installs the Debian package faketime), "
                  "or set HCHAOS_LIBFAKETIME to a libfaketime.so.1")


def _libfaketime_dirs() -> list[Path]:
    configured = os.environ.get("HCHAOS_LIBFAKETIME_DIRS")
    if configured is not None:
        return [Path(d) for d in configured.split()]
    machine = platform.machine() or "x86_64"
    return [Path(f"/usr/lib/{machine}-linux-gnu/faketime"), Path("/usr/lib/faketime"), Path("/usr/local/lib/faketime")]


def _faketime_version() -> str:
    wrapper = shutil.which("faketime")
    if wrapper is None:
        return "unknown"
    try:
        done = subprocess.run([wrapper, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    found = re.search(r"Version (\S+)", done.stdout + done.stderr)
    return found.group(1) if found else "unknown"


def find_libfaketime() -> ToolInfo:
    """libfaketime's ``libfaketime.so.1`` (see the module docstring for where it is looked for);
    ``ToolMissing`` naming every place looked at when it is nowhere."""
    override = os.environ.get("HCHAOS_LIBFAKETIME")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ToolMissing(f"libfaketime: HCHAOS_LIBFAKETIME={override} does not exist",
                              hint=f"fix or unset HCHAOS_LIBFAKETIME; or {_FAKETIME_HINT}")
        return ToolInfo("libfaketime", path, _faketime_version(), "env HCHAOS_LIBFAKETIME")
    dirs = _libfaketime_dirs()
    for directory in dirs:
        if (directory / LIBFAKETIME).is_file():
            return ToolInfo("libfaketime", directory / LIBFAKETIME, _faketime_version(), str(directory))
    raise ToolMissing(f"libfaketime ({LIBFAKETIME}) not found; looked in: " + ", ".join(map(str, dirs)),
                      hint=_FAKETIME_HINT)


def python_info() -> ToolInfo:
    """The Python running the harness."""
    return ToolInfo("python", Path(sys.executable), platform.python_version(), "sys.executable")


def survey() -> list[ToolInfo | ToolProblem]:
    """Every tool, found or not, in a fixed order (python, toxiproxy-server, toxiproxy-cli,
    haproxy, Orthanc, libfaketime), for ``hchaos doctor``. Never raises ``ToolMissing``; runs each binary once."""
    results: list[ToolInfo | ToolProblem] = [python_info()]
    finders: list[tuple[str, Callable[[], ToolInfo]]] = [
        (_TOXIPROXY_SERVER.name, find_toxiproxy_server),
        (_TOXIPROXY_CLI.name, find_toxiproxy_cli),
        (_HAPROXY.name, find_haproxy),
        (_ORTHANC.name, find_orthanc),
        ("libfaketime", find_libfaketime),
    ]
    for name, find in finders:
        try:
            results.append(find())
        except ToolMissing as exc:
            results.append(ToolProblem(name, exc.message, exc.hint))
    return results
