"""Turning SIGTERM (and SIGHUP) into an exception in the main thread, like Ctrl-C.

The runner heals in ``finally``; an exception is the one way to unwind the main thread
from a signal so that every ``finally`` runs. SIGINT already raises KeyboardInterrupt.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(BaseException):
    """The run was asked to stop by a signal. A BaseException, like KeyboardInterrupt, so
    that ``except Exception`` blocks do not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = signum


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` in the main thread.
    Outside the main thread (e.g. under a test runner's worker) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
