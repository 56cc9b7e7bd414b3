"""Deliberate interruption: a signal asks the run to stop; the run stops at its next safe point.

Why not let Ctrl-C raise ``KeyboardInterrupt`` wherever the main thread happens to be: an
exception raised asynchronously can land inside a critical section -- ``Thread.start()``
under a thread pool (``RuntimeError: release unlocked lock``), half-way through an inject
whose journal record is written but whose toxics are not, inside a lock held by a ``finally``
that was about to heal. Then the run can neither heal nor stop. So:

* :func:`deferred_interrupts` installs handlers for SIGINT, SIGTERM and SIGHUP that only
  *record* the request (:meth:`Interruption.request`: one attribute store, no lock, nothing
  that can block or raise inside the interrupted code).
* The runner, the backends and the load call :meth:`Interruption.check` between actions, and
  wait with :meth:`Interruption.sleep`; either raises :class:`Interrupted` there, where
  unwinding is safe: every ``finally`` then heals and stops. No action is ever cut in half.
* Further signals while the run cleans up are recorded and ignored: healing is bounded by
  Toxiproxy's timeouts and the processes' stop grace, and a half-healed world is the one
  outcome worse than waiting a few seconds.

:data:`NEVER` is the interruption nobody requests, for callers without one (tests, tools).
Outside the main thread no handler can be installed; :meth:`Interruption.request` still
works from code (a test, a pytest fixture), and an abort file (``hchaos abort``) is looked for
at every safe point once :meth:`Interruption.watch_abort` named it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

POLL = 0.05
"""Seconds between looks at the flag while sleeping: how late a safe point can notice."""


class Interrupted(BaseException):
    """The run was asked to stop (by a signal, or by code). A BaseException, like
    KeyboardInterrupt, so that ``except Exception`` blocks do not swallow it. ``aborted``: the
    request was ``hchaos abort``'s (:mod:`harness.run.abort`), not a signal."""

    def __init__(self, signum: int | None, *, aborted: bool = False) -> None:
        self.signum = signum
        self.aborted = aborted
        super().__init__("an abort request (hchaos abort)" if aborted else f"received {signal_name(signum)}")


def signal_name(signum: int | None) -> str:
    """``SIGINT (Ctrl-C)``, ``SIGTERM``... or ``a stop request`` when no signal was involved."""
    if signum is None:
        return "a stop request"
    name = signal.Signals(signum).name
    return f"{name} (Ctrl-C)" if signum == signal.SIGINT else name


class Interruption:
    """A stop request, set by a signal handler or by code, noticed at safe points.

    Thread-safe without locks: :meth:`request` only assigns attributes (atomic under the GIL),
    so a signal handler running in the middle of any of these methods cannot deadlock."""

    def __init__(self) -> None:
        self._signum: int | None = None
        self._requested = False
        self._aborted = False
        self._abort_file: Path | None = None
        self._abort_looked = 0.0
        self.count = 0
        """How many stop requests arrived (a second Ctrl-C while healing is counted, not obeyed)."""

    def request(self, signum: int | None = None) -> None:
        """Ask the run to stop at its next safe point (idempotent; the first signal is kept,
        except that a signal after an abort request makes it an interruption: exit 130)."""
        if not self._requested or (self._aborted and signum is not None):
            self._signum = signum
            self._aborted = False
        self._requested = True
        self.count += 1

    def watch_abort(self, path: Path) -> None:
        """From now on, a file at ``path`` is a stop request too: an abort (see
        :mod:`harness.run.abort`), looked for at every safe point (at most every 50 ms)."""
        self._abort_file = path

    @property
    def _is_abort(self) -> bool:
        # A signal handler may land between the two stores of _look_for_abort: a signal number
        # means a signal came, whatever the flag says.
        return self._aborted and self._signum is None

    def clear_abort(self) -> None:
        """Forget an abort request once the run has ended because of it (a signal that came
        after it is kept). Stops watching the file."""
        if self._is_abort:
            self._requested = False
            self._aborted = False
        self._abort_file = None

    def _look_for_abort(self) -> None:
        now = time.monotonic()
        if self._abort_file is None or now - self._abort_looked < POLL:
            return
        self._abort_looked = now
        if self._abort_file.exists() and not self._requested:
            # _aborted first: a signal handler landing between the two stores then turns it into
            # an interruption (request() clears _aborted), never an abort that hides a signal.
            self._aborted = True
            self._requested = True
            self.count += 1

    @property
    def requested(self) -> bool:
        self._look_for_abort()
        return self._requested

    @property
    def signum(self) -> int | None:
        return self._signum

    def check(self) -> None:
        """A safe point: raise :class:`Interrupted` if a stop was requested."""
        self._look_for_abort()
        if self._requested:
            raise Interrupted(self._signum, aborted=self._is_abort)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` as a safe point: raise :class:`Interrupted` as soon as a stop is
        requested (within :data:`POLL` seconds), before or during the sleep."""
        deadline = time.monotonic() + seconds
        self.check()
        while (left := deadline - time.monotonic()) > 0:
            # time.sleep resumes after a signal handler ran (PEP 475): hence short naps.
            time.sleep(min(POLL, left))
            self.check()


class _Never(Interruption):
    def request(self, signum: int | None = None) -> None:
        raise RuntimeError("NEVER is the interruption nobody requests; make an Interruption() instead")

    def watch_abort(self, path: Path) -> None:
        """Nothing: NEVER is never requested, not even by an abort file."""


NEVER: Interruption = _Never()
"""For callers that have no interruption: :meth:`check` never raises."""


def defer_interrupts_until_exit(interruption: Interruption) -> None:
    """For a command that starts things (``hchaos run``): from now until the process exits,
    SIGINT, SIGTERM and SIGHUP only request ``interruption``. Never undone, so that a late
    Ctrl-C, landing while the command prints its last line or while Python shuts down, cannot
    turn a clean exit 130 into a death by signal. Main thread only (else it does nothing)."""
    if threading.current_thread() is threading.main_thread():
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, _handler_for(interruption))


def _handler_for(interruption: Interruption) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, _frame: FrameType | None) -> None:
        interruption.request(signum)
    return handler


@contextmanager
def deferred_interrupts(interruption: Interruption) -> Iterator[Interruption]:
    """Within the block, SIGINT, SIGTERM and SIGHUP only request ``interruption`` (see the
    module docstring); the previous handlers are restored on exit. Outside the main thread
    (a test runner's worker) no handler is installed and the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield interruption
        return

    handler = _handler_for(interruption)
    previous = {sig: signal.signal(sig, handler) for sig in HANDLED_SIGNALS}
    try:
        yield interruption
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
