"""``hchaos abort RUN_DIR``: stop a running experiment from another terminal (or a script, or a
change board's "stop now"), heal everything, and end the run with the verdict ``aborted``.

The request is a file, ``<run dir>/abort.request`` (JSON: when, who, why), written atomically.
The runner's :class:`~harness.interrupt.Interruption` looks for it at every safe point -- in
every wait, every readiness poll, between two faults -- so the run stops within a fraction of
a second whatever it is doing, through the same path as Ctrl-C: every fault healed, every
process stopped. A file rather than a signal because the runner may be a thread of another
program (a pytest session) that a signal would kill, and because the file says who asked and
why, which the timeline records (:class:`~harness.timeline.AbortRecord`).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfrastructureError, InvalidInput
from harness.run.journal import JOURNAL_FILE, replay_journal

ABORT_FILE = "abort.request"


@dataclass(frozen=True)
class AbortRequest:
    t: float
    by: str
    reason: str


def read_abort_request(run_dir: Path) -> AbortRequest | None:
    """The run's abort request, if one was made (an unreadable one still counts: it was asked)."""
    path = run_dir / ABORT_FILE
    try:
        data = json.loads(path.read_text())
        return AbortRequest(float(data["t"]), str(data["by"]), str(data["reason"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return AbortRequest(time.time(), "unknown", f"{ABORT_FILE} present but unreadable")


def request_abort(run_dir: Path, reason: str, *, wait: float = 120.0,
                  on_progress: Callable[[str], None] = lambda _: None) -> str:
    """Ask the run in ``run_dir`` to abort and wait until it has ended (healed, stopped): its
    final status. Raises InvalidInput (exit 2) when ``run_dir`` is not a run folder, the run
    already ended, or its runner is gone (``hchaos rollback`` is then the tool); and
    InfrastructureError (exit 3) when the run has not ended within ``wait`` seconds."""
    from harness.faults.rollback import runner_alive

    journal = run_dir / JOURNAL_FILE
    if not journal.is_file():
        raise InvalidInput(f"{run_dir} is not a run folder: no {JOURNAL_FILE} in it")
    state = replay_journal(journal)
    if state.ended:
        raise InvalidInput(f"run {run_dir.name} already ended ({state.status or 'ended'}): nothing to abort")
    pid = runner_alive(run_dir)
    if pid is None:
        raise InvalidInput(f"run {run_dir.name} did not end, but its runner is gone",
                           hint=f"`hchaos rollback {run_dir}` undoes what it left behind")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry and no $USER (containers)
        user = f"uid {os.getuid()}"
    by = f"{user}@{socket.gethostname()} pid {os.getpid()}"
    temporary = run_dir / f".{ABORT_FILE}.{os.getpid()}"
    try:
        temporary.write_text(json.dumps({"t": time.time(), "by": by, "reason": reason}))
        os.replace(temporary, run_dir / ABORT_FILE)  # atomic: the runner never reads half a request
    except OSError as exc:
        raise InfrastructureError(f"could not write the abort request in {run_dir}: {exc.strerror or exc}",
                                  hint="stop the run with Ctrl-C in its terminal, or SIGTERM its runner "
                                       f"(pid {pid})") from None
    on_progress(f"abort requested from run {run_dir.name} (runner pid {pid}); waiting for it to heal and stop")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        state = replay_journal(journal)
        if state.ended:
            return state.status or "ended"
        if runner_alive(run_dir) is None:
            state = replay_journal(journal)  # it may have ended between the two looks
            if state.ended:
                return state.status or "ended"
            raise InfrastructureError(f"the runner of {run_dir.name} died before it ended the run",
                                      hint=f"`hchaos rollback {run_dir}` undoes what it left behind")
        time.sleep(0.2)
    raise InfrastructureError(f"run {run_dir.name} has not ended {wait:.0f}s after the abort request",
                              hint="it may still be healing; `hchaos abort` again waits more, "
                                   "`hchaos rollback --force` heals from the journal")
