"""``python -m mock_services.ehr``: parse the command line, build the app, serve it.

Usage (the harness launches exactly this)::

    python -m mock_services.ehr --name ehr-a --datacenter dc-a --role primary \\
        --host 127.0.0.1 --port 18001 --db /path/ehr-a.sqlite \\
        --peer-url http://127.0.0.1:18010 --replication sync \\
        --promote-after 3.0 --heartbeat-interval 0.2 --peer-timeout 0.5 [--sync-strict]

Exit status: 0 after SIGTERM/SIGINT (uvicorn drains for at most ``SHUTDOWN_GRACE`` seconds),
2 on invalid arguments. SIGKILL loses nothing acknowledged (see :mod:`.store`).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import uvicorn

from mock_services.ehr.app import create_app
from mock_services.ehr.config import Config, ConfiguredRole, ReplicationMode
from mock_services.ehr.eventlog import log_event, setup_logging

SHUTDOWN_GRACE = 2  # uvicorn takes whole seconds


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds as a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a duration > 0 seconds, got {text!r}")
    return value


class _Server(uvicorn.Server):
    """uvicorn's server, but a graceful shutdown on SIGTERM/SIGINT ends with exit status 0.

    uvicorn re-raises the captured signal once shut down, so the process would die "by" it
    (status 143/130) and a supervisor could not tell a clean stop from a crash.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            log_event("shutdown", signal=signal.Signals(sig).name)
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mock_services.ehr",
        description="Mock EHR (FHIR R4 Patient) instance with two-node log-shipping replication.",
    )
    parser.add_argument("--name", required=True, help="instance name, e.g. ehr-a (X-Served-By)")
    parser.add_argument("--datacenter", required=True, help="data center, e.g. dc-a (X-Datacenter)")
    parser.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in ConfiguredRole],
        help="the role to start in; a primary first checks that its peer is not primary",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, type=Path, help="SQLite file (created if missing)")
    parser.add_argument("--peer-url", default=None, help="the other instance (through the replication link)")
    parser.add_argument("--replication", default=ReplicationMode.SYNC.value, choices=[m.value for m in ReplicationMode])
    parser.add_argument(
        "--sync-strict",
        action="store_true",
        help="sync mode: answer 503 instead of degrading when the standby does not confirm",
    )
    parser.add_argument(
        "--promote-after",
        type=_positive_seconds,
        default=3.0,
        help="standby promotes after this long without a primary heartbeat (s)",
    )
    parser.add_argument("--heartbeat-interval", type=_positive_seconds, default=0.2, help="(s)")
    parser.add_argument("--peer-timeout", type=_positive_seconds, default=0.5, help="every call to the peer (s)")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> Config:
    """Parse ``argv`` into a :class:`Config`; exits with status 2 and a message if invalid."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return Config(
            name=args.name,
            datacenter=args.datacenter,
            role=ConfiguredRole(args.role),
            db_path=args.db,
            host=args.host,
            port=args.port,
            peer_url=args.peer_url,
            replication=ReplicationMode(args.replication),
            sync_strict=args.sync_strict,
            promote_after=args.promote_after,
            heartbeat_interval=args.heartbeat_interval,
            peer_timeout=args.peer_timeout,
        )
    except ValueError as error:
        parser.error(str(error))  # exits with status 2


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    setup_logging(config.name, config.datacenter)
    app = create_app(config)
    server = _Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )
    )
    server.run()  # handles SIGTERM/SIGINT: stop accepting, drain, run the lifespan's shutdown
    return 0


if __name__ == "__main__":
    sys.exit(main())
