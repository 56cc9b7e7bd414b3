"""The serve loop of every mock service: uvicorn until SIGTERM/SIGINT, then exit status 0.

Contract of :func:`serve` (the same for all eight services, which is why it lives here):

* uvicorn with our settings: ``log_level="warning"`` and no access log (the services log
  notable events only, never one line per request), ``lifespan="on"`` (the app's start-up
  and shutdown run: stores open and close, background loops start and stop),
  ``server_header=False`` (responses carry ``X-Served-By``, not ``server: uvicorn``).
* SIGTERM/SIGINT: stop accepting, drain open requests for at most :data:`SHUTDOWN_GRACE`
  seconds, run the lifespan's shutdown, return normally -- so ``main`` returns 0. uvicorn
  re-raises the captured signal once shut down, and the process would die "by" it (status
  143/130): a supervisor could not tell a clean stop from a crash. The first such signal is
  logged as ``event=shutdown signal=SIGTERM`` on the service's event logger.
* ``HCHAOS_TRACEMALLOC=<directory>`` in the environment traces allocations meanwhile
  (:mod:`mock_services.common.memtrace`; off otherwise).
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from mock_services.common import memtrace
from mock_services.common.eventlog import log_to
from mock_services.common.eventlog import logger as shared_logger

SHUTDOWN_GRACE = 2  # seconds uvicorn drains open requests on SIGTERM (uvicorn takes whole seconds)


class _Server(uvicorn.Server):
    """uvicorn's server, but a graceful SIGTERM/SIGINT shutdown exits with status 0."""

    def __init__(self, config: uvicorn.Config, events: logging.Logger) -> None:
        super().__init__(config)
        self.events = events

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            log_to(self.events, "shutdown", signal=signal.Signals(sig).name)
        super().handle_exit(sig, frame)
        self._captured_signals.clear()  # what uvicorn would re-raise after the shutdown


def serve(app: ASGIApp, host: str, port: int, *, events: logging.Logger = shared_logger) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM/SIGINT (module docstring); returns after
    the graceful shutdown. ``events``: the logger the ``shutdown`` event goes to (the
    service's own event logger; default the shared one of :mod:`.eventlog`)."""
    memtrace.start_from_environment()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    _Server(config, events).run()
