"""Size-limited data directories for the local backend's ``disk_full`` fault.

An instance that a ``disk_full`` fault targets keeps its files in ``<run>/data/<instance>/``,
a tmpfs of the fault's ``size_mb`` mounted there when the run starts (``mount -t tmpfs -o
size=...``: needs root, or CAP_SYS_ADMIN, which a container may lack). The inject writes the
filler file :data:`FILLER` into it in 1 MiB chunks until the kernel answers ENOSPC (bounded:
never more than the filesystem's size plus a chunk), so the instance's next write that needs
a new block fails; the heal deletes the filler. The mount is unmounted when the run stops
(or by ``hchaos rollback``, from the journal).

Why tmpfs and not a loop-mounted ext4 image: both work as root here, but tmpfs needs no
image file, no mkfs and no loop device (often missing in containers), and its size is exact.
:func:`mount_problem` tells, once per process, whether this machine allows the mount at all,
so validation can refuse the fault with the reason instead of failing mid-run.
"""

from __future__ import annotations

import errno
import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.errors import InfrastructureError

FILLER = ".hchaos-disk-full"
"""The filler file the inject writes into the instance's data filesystem."""

CHUNK = 1 << 20
"""Bytes written per call while filling."""

MOUNT_TIMEOUT = 10.0
"""Seconds a mount or umount command may take."""


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=MOUNT_TIMEOUT, check=False,
                          stdin=subprocess.DEVNULL)


def is_mounted(path: Path) -> bool:
    """True when ``path`` is a mount point (``/proc/self/mountinfo`` lists it)."""
    target = str(path.resolve())
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return os.path.ismount(target)
    # Field 5 is the mount point, with spaces etc. escaped as octal (\040).
    return any(len(fields) > 4 and fields[4].encode().decode("unicode_escape") == target
               for fields in (line.split() for line in lines))


def mount_tmpfs(path: Path, size_mb: int) -> None:
    """Mount a tmpfs of ``size_mb`` MiB at ``path`` (created if missing); ``InfrastructureError``
    with mount's own words if the kernel refuses."""
    path.mkdir(parents=True, exist_ok=True)
    done = _run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "hchaos-disk", str(path)])
    if done.returncode != 0:
        raise InfrastructureError(f"could not mount a {size_mb} MiB tmpfs at {path}: "
                                  f"{(done.stderr or done.stdout).strip() or f'mount exited {done.returncode}'}",
                                  hint="the disk_full fault needs root (or CAP_SYS_ADMIN) to mount a tmpfs")


def unmount(path: Path) -> bool:
    """Unmount ``path`` if it is mounted (lazily when a process still holds it busy); True when
    something was unmounted. ``InfrastructureError`` if it stays mounted."""
    if not is_mounted(path):
        return False
    done = _run(["umount", str(path)])
    if done.returncode != 0 and is_mounted(path):
        done = _run(["umount", "-l", str(path)])
    if is_mounted(path):
        raise InfrastructureError(f"could not unmount {path}: {(done.stderr or done.stdout).strip()}",
                                  hint=f"umount -l {path}")
    return True


def fill(path: Path, limit_bytes: int) -> int:
    """Write :data:`FILLER` into ``path`` until the filesystem is full; returns the bytes written.

    Bounded by ``limit_bytes`` (the filesystem's size) plus one chunk: a filesystem that never
    answers ENOSPC by then is not the size-limited one, and ``InfrastructureError`` says so
    (the filler is deleted again)."""
    filler = path / FILLER
    written = 0
    chunk = b"\0" * CHUNK
    with filler.open("ab") as handle:
        try:
            while written <= limit_bytes + CHUNK:
                written += os.write(handle.fileno(), chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            return written
    filler.unlink(missing_ok=True)
    raise InfrastructureError(f"{path} took {written} bytes without filling up: it is not a size-limited "
                              "filesystem")


def free(path: Path) -> bool:
    """Delete the filler; True when there was one."""
    filler = path / FILLER
    existed = filler.exists()
    filler.unlink(missing_ok=True)
    return existed


@functools.cache
def mount_problem() -> str | None:
    """Why this machine cannot mount a size-limited filesystem (``None``: it can). Tried once
    per process: a 1 MiB tmpfs mounted in a temporary folder and unmounted again."""
    if not sys.platform.startswith("linux"):
        return f"size-limited mounts are implemented for Linux only (this is {sys.platform})"
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root, and the harness runs as an unprivileged user"
    with tempfile.TemporaryDirectory(prefix="hchaos-mount-probe-") as folder:
        try:
            done = _run(["mount", "-t", "tmpfs", "-o", "size=1m", "hchaos-probe", folder])
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`mount` could not be run: {exc}"
        if done.returncode != 0:
            return f"the kernel refused a tmpfs mount: {(done.stderr or done.stdout).strip()}"
        _run(["umount", folder])
    return None
