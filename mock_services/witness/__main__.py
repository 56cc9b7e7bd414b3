"""``python -m mock_services.witness``: parse the command line, serve the lease API.

Usage::

    python -m mock_services.witness --name witness --host 127.0.0.1 --port 18020 \\
        [--datacenter witness] [--db /path/witness.sqlite]

Without ``--db`` leases live in memory only (a restart forgets them: fine for tests, not
for fencing across witness restarts). Exit status: 0 after SIGTERM/SIGINT, 2 on invalid
arguments. One stderr line per lease change (``lease-acquired``, ``lease-released``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import uvicorn

from mock_services.witness.app import create_app
from mock_services.witness.leases import LeaseTable, logger


class _Server(uvicorn.Server):
    """uvicorn's server, but SIGTERM/SIGINT end with exit status 0 (uvicorn re-raises them)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            logger.info("event=shutdown signal=%s", signal.Signals(sig).name)
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mock_services.witness", description="Witness: grants one primary lease per cluster."
    )
    parser.add_argument("--name", required=True, help="instance name (X-Served-By)")
    parser.add_argument("--datacenter", default="witness", help="its site (X-Datacenter), default 'witness'")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file for leases (default: memory only)")
    return parser


def _setup_logging(name: str, datacenter: str) -> None:
    formatter = logging.Formatter(
        fmt=f"%(asctime)s.%(msecs)03dZ {name}[{datacenter}] %(levelname)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime  # UTC, like every other service's lines
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")
    if not args.name.strip():
        parser.error("--name must not be empty")
    _setup_logging(args.name, args.datacenter)
    table = LeaseTable(args.db)
    logger.info("event=start port=%d db=%s leases=%d", args.port, args.db or "memory", len(table.all()))
    app = create_app(args.name, args.datacenter, table)
    server = _Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
    )
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
