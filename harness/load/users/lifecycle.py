"""How the load ends: at the last stage, or when the harness creates the stop file -- always
gracefully, so the last requests reach the records file and Locust's counts.

Imports Locust (see the package docstring). Why Locust's own ending is not enough: when a
shape ends a headless run, Locust calls ``runner.quit()``; a master's ``quit`` only sends
"quit" to the workers and waits 0.5 s, while a worker first stops its users (up to
``--stop-timeout``) and reports afterwards -- too late. And the main greenlet calls
``runner.quit()`` as soon as the shape greenlet ends, which ``runner.stop()`` causes (it
kills the shape greenlet). So in the standalone or master process :class:`GracefulStop`
replaces the runner's ``quit`` with one that first runs ``runner.stop()`` -- on a master:
"stop" to every worker, then wait until all reported that they stopped, their last records
having come in their final stats report (:mod:`.transport`) -- then Locust's ``quit``. A
second caller (the main greenlet, Locust's shutdown) waits for the first to finish.

Triggers: the shape's end (Locust calls ``quit``), and a greenlet of its own that polls
``plan.stop_path`` every :data:`STOP_POLL` s and calls ``quit`` (not inside the shape
greenlet: that one can be blocked in a long ramp-up, and ``stop`` kills it).

A worker, once stopped, quits by itself shortly after (:data:`WORKER_QUIT_DELAY`): in this
harness a stop is always the end of the run, and a master does not tell workers that
already reported "stopped" to quit (Locust's forking parent would wait 3 s, then SIGINT them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust.env import Environment
from locust.runners import Runner, WorkerRunner

from harness.load.plan import LoadPlan
from harness.load.users.transport import listen

STOP_POLL = 0.2
"""Seconds between two looks for the stop file."""

QUIT_WAIT = 90.0
"""Longest a second ``quit`` caller waits for the first (Locust's master waits up to
``stop_timeout`` + 60 s for its workers)."""

WORKER_QUIT_DELAY = 0.5
"""Seconds a stopped worker waits before quitting: its "stopped" message goes out first."""

logger = logging.getLogger(__name__)


class GracefulStop:
    """See the module docstring; :meth:`install` once per process, at ``init``."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self._runner: Runner | None = None
        self._locust_quit: Callable[[], None] | None = None
        self._started = False
        self._finished = Event()

    def install(self, environment: Environment) -> None:
        runner = environment.runner
        if runner is None:
            return
        self._runner = runner
        if isinstance(runner, WorkerRunner):
            listen(environment.events.test_stop, self._on_worker_stopped)
            return
        self._locust_quit = runner.quit
        # An instance attribute shadows the method for every caller: the shape greenlet,
        # the main greenlet and Locust's shutdown all come through here.
        runner.quit = self.quit  # type: ignore[method-assign]
        if self.plan.stop_path:
            gevent.spawn(self._watch_stop_file, Path(self.plan.stop_path))

    def quit(self) -> None:
        """Stop the users (and workers), then let Locust quit; later callers wait for that."""
        if self._started:
            self._finished.wait(timeout=QUIT_WAIT)
            return
        self._started = True
        try:
            assert self._runner is not None and self._locust_quit is not None
            self._runner.stop()
        finally:
            try:
                self._locust_quit()  # type: ignore[misc]
            finally:
                self._finished.set()

    def _watch_stop_file(self, path: Path) -> None:
        while not self._started:
            if path.exists():
                logger.info("stop file %s found: stopping the load", path)
                self.quit()
                return
            gevent.sleep(STOP_POLL)

    def _on_worker_stopped(self, environment: Environment, **_kwargs: Any) -> None:
        runner = environment.runner
        if runner is not None:
            gevent.spawn_later(WORKER_QUIT_DELAY, runner.quit)
