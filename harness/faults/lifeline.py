"""The run's lifeline: a watcher process that rolls the run back the moment its runner dies.

A runner heals in ``finally`` and on signals, but a SIGKILLed runner (the OOM killer, a CI job
cancelled, ``kill -9``, a test that timed out) runs no code at all, and its hospital would keep
running: Toxiproxy, HAProxy, every service, Locust. The lifeline closes that gap without anybody
typing ``hchaos rollback``:

* :meth:`Lifeline.start` spawns ``python -m harness.faults.lifeline RUN_DIR`` in its own session
  (a Ctrl-C on the terminal does not reach it), its standard input the read end of a pipe whose
  only write end the runner holds (non-inheritable: no other child keeps it open).
* The watcher blocks reading that pipe. End of file means the runner let go: by
  :meth:`Lifeline.release` after cleaning up, or by dying -- the kernel closes a dead process's
  descriptors, whatever killed it.
* Then, if the journal says the run did not end, it rolls the run back (toxics, disabled links,
  journaled processes: :func:`harness.faults.rollback.rollback_run`); in every case it kills the
  processes still carrying the run's tag (:mod:`harness.run.run_tag`: a process spawned but
  not yet journaled, Locust's workers), then exits. Measured: well under a second from the
  runner's SIGKILL to the last process gone.

Its log is ``logs/lifeline.log`` in the run folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from harness.run.run_tag import RUN_TAG_ENV

LOG_NAME = "lifeline.log"


class Lifeline:
    """The runner's end of the lifeline of the run in ``run_dir``."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Spawn the watcher (returns at once: it needs no time to be useful, the pipe holds
        the runner's death until the watcher reads it)."""
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != RUN_TAG_ENV}  # never one of the run's own
        with (logs / LOG_NAME).open("ab") as log:
            self._popen = subprocess.Popen(
                [sys.executable, "-m", "harness.faults.lifeline", str(self.run_dir.resolve())],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def release(self, timeout: float = 10.0) -> None:
        """Let go after a clean end (the journal says ``run-end``): the watcher then only kills
        stragglers carrying the run's tag, and exits. Idempotent."""
        if self._popen is None:
            return
        popen, self._popen = self._popen, None
        if popen.stdin is not None:
            popen.stdin.close()
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


# -- the watcher side ----------------------------------------------------------------------------


class _StopWatching(Exception):
    pass


def watch(run_dir: Path) -> int:
    """Block until the runner lets go (end of file on stdin), then make sure nothing of the
    run is left. A SIGTERM to the watcher ends the wait too (a shutting-down machine): it then
    rolls back only if the runner is dead."""

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        raise _StopWatching

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term)
    _log(f"watching the runner of {run_dir}")
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except _StopWatching:
        _log("SIGTERM")
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish the clean-up once started
    return reap(run_dir)


def reap(run_dir: Path) -> int:
    """Roll back the run if it did not end, then kill its tagged stragglers. Exit status: 0, or
    1 if something could not be undone (said in the log)."""
    from harness.run.journal import JOURNAL_FILE, replay_journal
    from harness.run.run_tag import kill_tagged, of_run

    started = time.monotonic()
    status = 0
    journal = run_dir / JOURNAL_FILE
    if journal.is_file() and not replay_journal(journal).ended:
        # Only now: the Toxiproxy client is not needed to see that a run ended cleanly.
        from harness.faults.rollback import rollback_run, runner_alive

        if (pid := runner_alive(run_dir)) is not None:
            _log(f"the runner (pid {pid}) is still alive: leaving the run to it")
            return 0
        _log("the runner died before the run ended: rolling back")
        result = rollback_run(run_dir, force=True, status="rolled-back-by-lifeline")  # tagged ones too
        for line in result.describe():
            _log(line)
        status = 1 if result.errors else 0
    else:
        for process in kill_tagged(of_run(run_dir)):
            _log(f"killed straggler pid {process.pid}: {process.command}")
    _log(f"done in {time.monotonic() - started:.2f}s")
    return status


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} lifeline[{os.getpid()}]: {message}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m harness.faults.lifeline RUN_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(watch(Path(sys.argv[1])))
