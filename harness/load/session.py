"""One run's clinical load: Locust in its own process group, its records fed into the
run's timeline as they arrive, live statistics per service, a clean stop, a count check.

Contract:

* :meth:`LoadSession.start` writes the plan into the run folder and starts Locust (never
  imported here); it returns at once. Records appear on the timeline within ~0.5 s.
* :meth:`LoadSession.stop` asks Locust to stop (stop file), waits for it to exit (bounded:
  SIGTERM, then SIGKILL of the whole process group), ingests every remaining record and
  returns a :class:`LoadSummary` comparing Locust's own request count with the records that
  reached the timeline. It is safe to call more than once and after a failed start.
* :meth:`LoadSession.stats` gives requests/s, error rate and p95 per service over the last
  seconds (display only; verdicts come from the timeline).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.errors import InfrastructureError
from harness.interrupt import NEVER, Interruption
from harness.load.command import locust_command, locust_env
from harness.load.plan import LOG_FILE, PLAN_FILE, LoadPlan
from harness.probe import LiveStats, StatsSnapshot
from harness.run.journal import Journal
from harness.run.run_tag import tag_environment
from harness.timeline import RequestTap, TimelineWriter
from harness.timeline.events import REQUEST_FIELDS, REQUEST_REQUIRED

INGEST_INTERVAL = 0.25
"""How often new records are read from Locust's records file."""

STOP_WAIT = 20.0
"""How long Locust gets to stop by itself after the stop file appears (workers report last)."""

TERM_WAIT = 5.0
"""How long after SIGTERM before the process group is SIGKILLed."""

START_TIMEOUT = 15.0
"""How long the runner waits for the first request of the load before starting the steady
state (Locust takes a second or two to import and spawn its users)."""

PROCESS_NAME = "locust"


@dataclass(frozen=True)
class LoadSummary:
    """How the load ended. ``locust_requests`` is Locust's own total (None if it wrote no
    summary: it crashed or was killed); ``ingested`` the request records that reached the
    timeline."""

    locust_requests: int | None
    locust_failures: int | None
    recorded: int | None
    ingested: int
    exit_code: int | None
    killed: bool
    rejected: int = 0

    @property
    def counts_match(self) -> bool:
        return self.locust_requests is not None and self.locust_requests == self.ingested

    def describe(self) -> str:
        if self.locust_requests is None:
            return (f"load: {self.ingested} requests recorded; Locust wrote no summary "
                    f"(exit code {self.exit_code}{', killed' if self.killed else ''})")
        verdict = "match" if self.counts_match else "MISMATCH"
        rejected = f", {self.rejected} malformed record(s) rejected" if self.rejected else ""
        return (f"load: Locust counted {self.locust_requests} requests ({self.locust_failures} failed), "
                f"the timeline has {self.ingested}: counts {verdict}{rejected}")


class LoadSession:
    """Runs ``plan`` with Locust for one run; see the module docstring."""

    def __init__(self, plan: LoadPlan, run_dir: Path, timeline: TimelineWriter, *, processes: int = 1,
                 remote_workers: int = 0, master_bind: tuple[str, int] | None = None,
                 journal: Journal | None = None, on_event: Callable[[str], None] | None = None,
                 tap: RequestTap | None = None, interruption: Interruption = NEVER) -> None:
        self.plan = plan
        self.run_dir = run_dir
        self._timeline = timeline
        self._processes = processes
        self._remote_workers = remote_workers
        self._master_bind = master_bind
        self._journal = journal
        self._on_event = on_event or (lambda message: None)
        self._tap = tap
        self._interruption = interruption
        self._popen: subprocess.Popen[bytes] | None = None
        self._stats: dict[str, LiveStats] = {}
        self._stats_lock = threading.Lock()
        self._ingested = 0
        self._rejected = 0
        self._records: IO[bytes] | None = None
        self._partial = b""
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ingest_lock = threading.Lock()
        self._summary: LoadSummary | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Write the plan and start Locust. Raises ``InfrastructureError`` if it cannot start."""
        plan_path = self.run_dir / PLAN_FILE
        plan_path.write_text(self.plan.to_json(), encoding="utf-8")
        for path in (self.plan.records_path, self.plan.summary_path, self.plan.stop_path):
            Path(path).unlink(missing_ok=True)
        Path(self.plan.records_path).touch()
        argv = locust_command(processes=self._processes, log_path=self.run_dir / LOG_FILE,
                              master_bind=self._master_bind, expect_workers=self._remote_workers)
        output = (self.run_dir / "logs").joinpath("locust.out")
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("ab") as out:
            try:
                env = {**locust_env(plan_path), **tag_environment(self.run_dir)}  # its workers inherit the tag
                self._popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                               stderr=subprocess.STDOUT, start_new_session=True, cwd=self.run_dir)
            except OSError as exc:
                raise InfrastructureError(f"could not start Locust ({argv[0]} -m locust): {exc}") from exc
        if self._journal is not None:
            self._journal.process_started(PROCESS_NAME, self._popen.pid, "campus")
        # Kept open for the whole run (closed in stop()): the ingest thread reads it incrementally.
        self._records = Path(self.plan.records_path).open("rb")  # noqa: SIM115
        self._thread = threading.Thread(target=self._ingest_loop, name="load-ingest", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def wait_started(self, timeout: float = START_TIMEOUT) -> bool:
        """Wait until the first request is on the timeline (True), or ``timeout`` passed with
        Locust still running (False: slow, not broken). Raises ``InfrastructureError`` with
        the end of Locust's log if it exited. A safe point of the run's interruption."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ingested:
                return True
            self.check_running()
            self._interruption.sleep(0.05)
        return False

    def check_running(self) -> None:
        """Raise ``InfrastructureError`` (with the end of Locust's log) if Locust exited
        before it was asked to stop: the rest of the run would have no load."""
        if self._popen is None or self._stopping.is_set() or Path(self.plan.stop_path).exists():
            return
        code = self._popen.poll()
        if code is not None:
            raise InfrastructureError(f"Locust exited with code {code} before the end of the run; "
                                      f"end of {self.run_dir / 'logs' / 'locust.out'}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        """The last lines Locust printed (its stdout/stderr)."""
        path = self.run_dir / "logs" / "locust.out"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"

    def stop(self) -> LoadSummary:
        """Stop Locust (bounded), ingest the rest, return the summary. Idempotent."""
        if self._summary is not None:
            return self._summary
        killed = False
        exit_code: int | None = None
        if self._popen is not None:
            Path(self.plan.stop_path).touch()
            try:
                exit_code = self._popen.wait(timeout=STOP_WAIT)
            except subprocess.TimeoutExpired:
                self._on_event(f"[yellow]Locust did not stop within {STOP_WAIT:.0f}s: SIGTERM")
                killed = True
                exit_code = self._terminate()
            if self._journal is not None:
                self._journal.process_stopped(PROCESS_NAME, self._popen.pid)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._ingest()  # whatever arrived after the thread's last pass
        if self._records is not None:
            self._records.close()
            self._records = None
        self._summary = self._read_summary(exit_code, killed)
        return self._summary

    def _terminate(self) -> int | None:
        assert self._popen is not None
        _signal_group(self._popen.pid, signal.SIGTERM)
        try:
            return self._popen.wait(timeout=TERM_WAIT)
        except subprocess.TimeoutExpired:
            _signal_group(self._popen.pid, signal.SIGKILL)
            return self._popen.wait(timeout=TERM_WAIT)

    def _read_summary(self, exit_code: int | None, killed: bool) -> LoadSummary:
        summary: dict[str, object] = {}
        path = Path(self.plan.summary_path)
        if path.exists():
            try:
                summary = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                summary = {}

        def count(key: str) -> int | None:
            value = summary.get(key)
            return value if isinstance(value, int) else None

        return LoadSummary(count("locust_requests"), count("locust_failures"), count("recorded"),
                           self._ingested, exit_code, killed, self._rejected)

    # -- records ------------------------------------------------------------------------------

    def _ingest_loop(self) -> None:
        while not self._stopping.wait(INGEST_INTERVAL):
            try:
                self._ingest()
            except Exception as exc:  # keep the run going: the final pass reports the count
                self._on_event(f"[red]load records could not be read: {type(exc).__name__}: {exc}")

    def _ingest(self) -> None:
        """Read the complete lines appended since the last call into the timeline and stats."""
        with self._ingest_lock:
            if self._records is None:
                return
            chunk = self._records.read()
            if not chunk:
                return
            data = self._partial + chunk
            cut = data.rfind(b"\n") + 1
            self._partial = data[cut:]
            lines: list[str] = []
            for raw in data[:cut].splitlines():
                line = raw.decode("utf-8").strip()
                if not line:
                    continue
                try:
                    record = _checked_request(json.loads(line))
                except ValueError as exc:  # counted and reported; the count check shows the gap
                    self._rejected += 1
                    if self._rejected <= 3:
                        self._on_event(f"[red]load: bad record line ignored: {exc}")
                    continue
                lines.append(line)
                self._stats_for(record["service"]).add(record["t"], record["duration"], record["ok"],
                                                       record.get("served_by"))
                if self._tap is not None:
                    self._tap(record["service"], record["t"], record["duration"], record["ok"])
            # The lines go to the timeline as Locust wrote them (checked, not re-encoded): at
            # 1 000 requests/s decoding into dataclasses and encoding again is CPU the
            # services under test would miss.
            self._timeline.append_encoded(lines)
            self._ingested += len(lines)

    def _stats_for(self, service: str) -> LiveStats:
        with self._stats_lock:
            stats = self._stats.get(service)
            if stats is None:
                stats = self._stats[service] = LiveStats()
            return stats

    def stats(self) -> dict[str, StatsSnapshot]:
        """Service -> live statistics over the last seconds, in service-name order."""
        with self._stats_lock:
            services = sorted(self._stats.items())
        return {name: stats.snapshot() for name, stats in services}

    @property
    def ingested(self) -> int:
        return self._ingested


def _checked_request(data: object) -> dict[str, Any]:
    """``data`` if it is a request record in the timeline's format; ``ValueError`` otherwise."""
    if not isinstance(data, dict) or data.get("kind") != "request":
        raise ValueError(f"expected a request record from Locust, got {str(data)[:200]}")
    unknown = data.keys() - REQUEST_FIELDS - {"kind"}
    missing = REQUEST_REQUIRED - data.keys()
    if unknown or missing:
        raise ValueError(f"bad request record from Locust (unknown {sorted(unknown)}, missing {sorted(missing)}): "
                         f"{str(data)[:200]}")
    return data


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)

