"""Getting every request record into the run's records file, exactly once, with no drift
from Locust's own counts; and the summary at the end.

Imports Locust (see the package docstring). Installed at Locust's ``init`` event, it plays
the role of the process it finds itself in:

* *standalone* (one process): a ``request`` listener builds the record
  (:func:`.recorder.request_record`) into a buffer; a greenlet appends the buffer to
  ``plan.records_path`` every :data:`FLUSH_INTERVAL` s, and ``quitting`` flushes the rest.
* *worker* (``--processes N``, or ``--worker`` on another machine): the same listener
  buffers; at Locust's ``report_to_master`` event the buffer moves into the report's
  ``data`` under :data:`~.recorder.RECORDS_KEY` (every :data:`WORKER_REPORT_INTERVAL` s,
  ``plan.extra["report_interval"]`` if set). That report is the same message that
  carries Locust's own stats delta, filled in the same synchronous event, so a request is
  in both or in neither: the counts cannot drift, whatever is lost in transit. At
  ``test_stop`` the worker sends its report at once (before it tells the master it stopped,
  see Locust's ``WorkerRunner`` "stop" handler), because the master only waits 0.5 s for
  final reports when it quits. A worker never writes files.
* *master*: a ``worker_report`` listener appends each report's records to the file as it
  arrives.

At ``quitting`` (standalone or master) the summary goes to ``plan.summary_path`` -- after
the last records are written: Locust's totals (``environment.stats``, on a master the sum of
the workers' reports), the number of records written, per request name requests and
failures, and the number of workers. With ``plan.extra["record"]`` false (measuring the
recorder's own cost) nothing is recorded and the summary is still written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import gevent
import locust.runners
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.load.plan import LoadPlan
from harness.load.users.recorder import (
    RECORDS_KEY,
    RecordsFile,
    build_summary,
    encode_record,
    request_record,
    write_summary,
)

FLUSH_INTERVAL = 0.5
"""Seconds between two appends to the records file (standalone)."""

WORKER_REPORT_INTERVAL = 1.0
"""Seconds between two stats reports of a worker (Locust's default is 3 s): how late a
worker's records reach the file, and so the harness's live view, at most."""

Mode = Literal["standalone", "worker", "master"]
logger = logging.getLogger(__name__)


def listen(hook: Any, handler: Callable[..., None]) -> None:
    """``hook.add_listener(handler)``: Locust's ``EventHook`` is untyped."""
    hook.add_listener(handler)


def mode_of(environment: Environment) -> Mode:
    if isinstance(environment.runner, WorkerRunner):
        return "worker"
    if isinstance(environment.runner, MasterRunner):
        return "master"
    return "standalone"


class RecordTransport:
    """See the module docstring; :meth:`install` once per process, at ``init``."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.enabled = bool(plan.extra.get("record", True))
        self.buffer: list[str] = []
        self.file = RecordsFile(Path(plan.records_path)) if plan.records_path else None
        self.mode: Mode = "standalone"
        self.workers_seen: set[str] = set()
        self._environment: Environment | None = None
        self._summary_written = False

    def install(self, environment: Environment) -> None:
        self._environment = environment
        self.mode = mode_of(environment)
        events = environment.events
        if self.enabled and self.mode != "master":
            listen(events.request, self.on_request)
        if self.mode == "worker":
            # Read by the worker's stats reporter at every round (a module global of Locust's).
            locust.runners.WORKER_REPORT_INTERVAL = float(self.plan.extra.get("report_interval",
                                                                                WORKER_REPORT_INTERVAL))
            listen(events.report_to_master, self.on_report_to_master)
            listen(events.test_stop, self.on_worker_test_stop)
            return
        if self.file is None:
            raise ValueError("the load plan has no records_path")
        if self.mode == "master":
            listen(events.worker_report, self.on_worker_report)
        elif self.enabled:
            gevent.spawn(self._flush_loop)
        listen(events.quitting, self.on_quitting)

    # -- every process that runs users -----------------------------------------------------

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int,
                   exception: BaseException | None = None, context: dict[str, Any] | None = None,
                   start_time: float | None = None, response: Any = None, **_kwargs: Any) -> None:
        if start_time is None:  # a request event fired without one: it started response_time ago
            start_time = time.time() - (response_time or 0.0) / 1000.0
        self.buffer.append(encode_record(request_record(
            name=name, response_time=response_time, start_time=start_time, context=context, exception=exception,
            response=response)))

    def take(self) -> list[str]:
        """The buffered records, leaving the buffer empty (no yield in between: atomic under gevent)."""
        batch, self.buffer = self.buffer, []
        return batch

    # -- standalone ----------------------------------------------------------------------------

    def flush(self) -> None:
        batch = self.take()
        # After the summary nothing more is written: the file must agree with it (users only
        # outlive the summary when Locust is shut down by a signal).
        if self.file is not None and not self._summary_written:
            self.file.append(batch)

    def _flush_loop(self) -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL)
            try:
                self.flush()
            except OSError:
                # The records stay lost for the timeline, and the summary's count says so.
                logger.exception("could not append load records to %s", self.plan.records_path)

    # -- worker --------------------------------------------------------------------------------

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
        if self.enabled:
            data[RECORDS_KEY] = self.take()

    def on_worker_test_stop(self, environment: Environment, **_kwargs: Any) -> None:
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            runner._send_stats()  # the users are stopped: this report is the last with requests

    # -- master --------------------------------------------------------------------------------

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
        self.workers_seen.add(client_id)
        records = data.get(RECORDS_KEY)
        # After the summary nothing more is written: the file must agree with the summary.
        if records and self.file is not None and not self._summary_written:
            self.file.append(records)

    # -- the end ---------------------------------------------------------------------------------

    def on_quitting(self, environment: Environment, **_kwargs: Any) -> None:
        """Flush, then write the summary (once, even if Locust fires ``quitting`` again)."""
        if self._summary_written:
            return
        if self.mode == "standalone" and self.enabled:
            self.flush()
        self._summary_written = True
        stats = environment.stats
        by_name: dict[str, dict[str, int]] = {}
        for (name, _method), entry in stats.entries.items():
            counts = by_name.setdefault(name, {"requests": 0, "failures": 0})
            counts["requests"] += entry.num_requests
            counts["failures"] += entry.num_failures
        workers = 0
        if self.mode == "master" and isinstance(environment.runner, MasterRunner):
            workers = max(len(self.workers_seen), environment.runner.worker_index_max)
        summary = build_summary(requests=stats.total.num_requests, failures=stats.total.num_failures,
                                recorded=self.file.written if self.file is not None else 0, by_name=by_name,
                                workers=workers, recording=self.enabled)
        if self.file is not None:
            self.file.close()
        write_summary(Path(self.plan.summary_path), summary)
