"""Every process a run starts carries the run's tag in its environment, so that the run's
processes can be found without the runner, the journal or process groups.

Why a tag and not only the journal: the journal records a process *after* it was spawned (its
pid is not known before), so a runner killed in between leaves a process nobody recorded; and a
process's own children (Locust's workers, a user's service that forks) are never in the journal
at all. The environment is inherited by every descendant and is readable in
``/proc/PID/environ`` (as the kernel received it at ``exec``), so :func:`processes_tagged`
finds them all, whatever group or session they moved to.

The tag is the run folder's absolute path: unique on the machine while the run exists, and a
prefix of it (a test's temporary folder) names every run under it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RUN_TAG_ENV = "HCHAOS_RUN_TAG"

EXEC_WINDOW = 5.0
"""Seconds after its start during which a process with an empty environment may still be
in the middle of ``exec`` (and is read again, see :func:`processes_tagged`)."""


def run_tag(run_dir: Path) -> str:
    """The tag of the run in ``run_dir`` (its absolute path)."""
    return str(run_dir.resolve())


def tag_environment(run_dir: Path) -> dict[str, str]:
    """What to add to a process's environment so that it belongs to the run in ``run_dir``."""
    return {RUN_TAG_ENV: run_tag(run_dir)}


@dataclass(frozen=True)
class TaggedProcess:
    pid: int
    tag: str
    command: str


def processes_tagged(matches: Callable[[str], bool], settle: float = 0.5) -> list[TaggedProcess]:
    """Every live process (but this one) whose run tag satisfies ``matches``. Processes that
    vanish or cannot be read while scanning are skipped.

    A process in the middle of ``exec`` shows an empty environment for a moment (the new
    program's is not in place yet), even after ``Popen`` returned in its parent: such a
    process -- userland, alive, environment empty -- is read again for up to ``settle``
    seconds, so that a process spawned just before the scan is not missed."""
    found: dict[int, TaggedProcess] = {}
    pending: list[int] = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != me:
            _classify(int(entry.name), matches, found, pending)
    deadline = time.monotonic() + settle
    while pending and time.monotonic() < deadline:
        time.sleep(0.01)
        again, pending = pending, []
        for pid in again:
            _classify(pid, matches, found, pending)
    return list(found.values())


def _classify(pid: int, matches: Callable[[str], bool], found: dict[int, TaggedProcess], pending: list[int]) -> None:
    """Add ``pid`` to ``found`` if it carries a matching tag, to ``pending`` if its environment
    cannot be told yet (empty: in the middle of exec)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            variables = environ.read()
    except OSError:
        return
    if not variables:
        if _in_exec(pid):
            pending.append(pid)
        return
    marker = f"{RUN_TAG_ENV}=".encode()
    for variable in variables.split(b"\0"):
        if variable.startswith(marker):
            tag = variable[len(marker):].decode(errors="replace")
            if matches(tag):
                found[pid] = TaggedProcess(pid, tag, _command(str(pid)))
            return


def _in_exec(pid: int) -> bool:
    """A userland process, alive, started in the last few seconds: one whose empty environment
    may be an exec in progress (kernel threads and zombies have none; an old process with an
    empty environment -- PID 1 in some containers -- is just that, and not waited for)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return False
    pf_kthread = 0x00200000
    age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return fields[0] not in ("Z", "X") and not int(fields[6]) & pf_kthread and age < EXEC_WINDOW


def kill_tagged(matches: Callable[[str], bool], timeout: float = 5.0) -> list[TaggedProcess]:
    """SIGKILL every process whose tag satisfies ``matches``, again until none is left (a
    process may fork while we kill) or ``timeout`` passes; returns the processes killed."""
    killed: dict[int, TaggedProcess] = {}
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in processes_tagged(matches) if not _is_zombie(p.pid)]
        if not alive or time.monotonic() > deadline:
            return list(killed.values())
        for process in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, signal.SIGKILL)
                killed.setdefault(process.pid, process)
        time.sleep(0.02)


def of_run(run_dir: Path) -> Callable[[str], bool]:
    """A matcher for exactly the run in ``run_dir``."""
    tag = run_tag(run_dir)
    return lambda candidate: candidate == tag


def under(folder: Path) -> Callable[[str], bool]:
    """A matcher for every run whose folder is inside ``folder``."""
    prefix = run_tag(folder).rstrip("/") + "/"
    return lambda candidate: candidate.startswith(prefix)


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    except OSError:
        return "?"


def _is_zombie(pid: int) -> bool:
    """A killed child of ours stays a zombie until its parent reaps it: dead, not alive."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
