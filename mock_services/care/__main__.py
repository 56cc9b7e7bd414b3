"""``python -m mock_services.care``: parse the command line, build the application, serve it.

Usage (the harness launches exactly this)::

    python -m mock_services.care --name care-1 [--datacenter campus] --host 127.0.0.1 --port 18070 \\
        --state-dir /path/care-1 --ehr-url http://127.0.0.1:18000 [--labs-url URL] [--imaging-url URL] \\
        [--scheduling-url URL] [--notify-url http://127.0.0.1:18090/notifications] \\
        [--downtime-mode on|off] [--snapshot-interval 30] [--max-snapshot-age 120] [--max-patients 200] \\
        [--ward cardiologie --ward urgences] [--breaker-failures 3] [--breaker-window 10] \\
        [--breaker-reset 2] [--dependency-timeout 2] [--probe-interval 1] [--queue-capacity 10000] \\
        [--id-prefix DT] [--printer ok|fail]

Exit status: 0 after SIGTERM/SIGINT, 2 on invalid arguments. SIGKILL loses nothing accepted:
the queue and the notification outbox are committed (fsync) before the answer, the snapshot is
replaced atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mock_services.care.app import create_app
from mock_services.care.config import Config
from mock_services.common.eventlog import setup_logging
from mock_services.common.serve import serve


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds as a number, got {text!r}") from None


def _switch(on: str, off: str) -> Callable[[str], bool]:
    def parse(text: str) -> bool:
        if text not in (on, off):
            raise argparse.ArgumentTypeError(f"expected {on} or {off}, got {text!r}")
        return text == on

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mock_services.care",
        description="The clinicians' care application (workstation side) with a downtime mode.",
    )
    add = parser.add_argument
    add("--name", required=True, help="instance name, e.g. care-1 (X-Served-By; part of downtime ids)")
    add("--datacenter", default="campus", help="where the workstation runs (X-Datacenter)")
    add("--host", default="127.0.0.1")
    add("--port", type=int, required=True)
    add("--state-dir", required=True, type=Path, help="queue, outbox and snapshot files (created)")
    for dependency in ("ehr", "labs", "imaging", "scheduling"):
        add(f"--{dependency}-url", default=None, help=f"the {dependency} service's base URL (omit: not configured)")
    add("--notify-url", default=None, help="the out-of-band notification sink's POST URL")
    add("--downtime-mode", type=_switch("on", "off"), default=True, help="on (default) or off: no downtime procedure")
    # The defaults are Config's, which are the harness's own (harness/services/care.py: CareOptions).
    add("--snapshot-interval", type=_seconds, default=Config.snapshot_interval, help="seconds between refreshes")
    add("--max-snapshot-age", type=_seconds, default=Config.max_snapshot_age, help="older: flagged stale (s)")
    add("--max-patients", type=int, default=Config.max_patients, help="at most this many patients in a snapshot")
    add("--ward", action="append", default=[], help="a ward to snapshot (repeatable; default: every ward found)")
    add("--breaker-failures", type=int, default=3, help="failures within the window that open a breaker")
    add("--breaker-window", type=_seconds, default=10.0, help="seconds over which failures are counted")
    add("--breaker-reset", type=_seconds, default=2.0, help="seconds open before one probe is let through")
    add("--dependency-timeout", type=_seconds, default=2.0, help="each call to a dependency (s)")
    add("--probe-interval", type=_seconds, default=1.0, help="background health probes (s)")
    add("--queue-capacity", type=int, default=10_000, help="downtime entries that may wait at once")
    add("--id-prefix", default="DT", help="prefix of the reserved downtime identifier ranges")
    add("--printer", type=_switch("fail", "ok"), default=False, help="fail: every document fails to print")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> Config:
    """Parse ``argv`` into a :class:`Config`; exits with status 2 and a message if invalid."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return Config(
            name=args.name, datacenter=args.datacenter, host=args.host, port=args.port, state_dir=args.state_dir,
            ehr_url=args.ehr_url, labs_url=args.labs_url, imaging_url=args.imaging_url,
            scheduling_url=args.scheduling_url, notify_url=args.notify_url, downtime_mode=args.downtime_mode,
            snapshot_interval=args.snapshot_interval, max_snapshot_age=args.max_snapshot_age,
            max_patients=args.max_patients, wards=tuple(args.ward), breaker_failures=args.breaker_failures,
            breaker_window=args.breaker_window, breaker_reset=args.breaker_reset,
            dependency_timeout=args.dependency_timeout, probe_interval=args.probe_interval,
            queue_capacity=args.queue_capacity, id_prefix=args.id_prefix, printer_failing=args.printer,
        )  # fmt: skip
    except ValueError as error:
        parser.error(str(error))  # exits with status 2


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    setup_logging(config.name, config.datacenter)
    serve(create_app(config), config.host, config.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
