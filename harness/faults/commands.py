"""Running an action fault's commands (``type: action``): the user's own inject and heal, each
bounded by its timeout, its output appended to ``actions/<fault>.log`` in the run folder.

A command runs in a process group of its own, without a shell, so that a timeout kills all of
it (the script and whatever it started): SIGTERM, then SIGKILL two seconds later. It is never
interrupted otherwise: Ctrl-C waits for it (an action is never cut in half), and then the heal
runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ACTIONS_DIR = "actions"
ACTION_PROCESS = "action:"
"""Journal name prefix of a running command (``action:<fault>``)."""
KILL_GRACE = 2.0


@dataclass(frozen=True)
class CommandOutcome:
    returncode: int | None
    """The exit code; None when it could not be started or was killed at its timeout."""
    seconds: float
    timed_out: bool
    log: Path
    problem: str | None = None
    """Why it failed, in words (None: it exited 0)."""


def action_log(run_dir: Path, fault: str) -> Path:
    return run_dir / ACTIONS_DIR / f"{fault}.log"


def run_command(argv: Sequence[str], *, cwd: Path, timeout: float, log: Path, what: str,
                env: Mapping[str, str] | None = None, on_start: Callable[[int], None] | None = None,
                on_exit: Callable[[int], None] | None = None) -> CommandOutcome:
    """Run ``argv`` from ``cwd`` with at most ``timeout`` seconds, its output appended to
    ``log`` after a header line naming ``what`` (``inject``/``heal``). ``on_start(pid)`` is
    called once it runs (the nemesis journals it: a rollback kills its group before healing),
    ``on_exit(pid)`` once it has exited (at a timeout, with its whole group; after a normal
    exit, what it left in the background is the run's lifeline's to kill, by its run tag
    when the command has one). Never raises for the command's own
    failure: the outcome says what happened."""
    if not cwd.is_dir():
        return CommandOutcome(None, 0.0, False, log, f"{what} command cannot run: its folder {cwd} does not exist")
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("ab") as out:
        out.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {what}: {' '.join(argv)} (cwd {cwd})\n".encode())
        out.flush()
        try:
            process = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       env={**os.environ, **(env or {})})
        except OSError as exc:
            out.write(f"=== could not start: {exc}\n".encode())
            return CommandOutcome(None, time.monotonic() - started, False, log,
                                  f"{what} command {argv[0]!r} could not start: {exc.strerror or exc}")
        if on_start is not None:
            on_start(process.pid)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            if on_exit is not None:
                on_exit(process.pid)
            seconds = time.monotonic() - started
            out.write(f"=== killed after {seconds:.1f}s: no exit within its timeout of {timeout:g}s\n".encode())
            return CommandOutcome(None, seconds, True, log,
                                  f"{what} command did not finish within {timeout:g}s (killed; output: {log})")
        if on_exit is not None:
            on_exit(process.pid)
        seconds = time.monotonic() - started
        out.write(f"=== exit {code} after {seconds:.2f}s\n".encode())
    problem = None if code == 0 else f"{what} command exited with code {code} (output: {log})"
    return CommandOutcome(code, seconds, False, log, problem)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group, SIGKILL to whatever of it is left after the grace."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=KILL_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
