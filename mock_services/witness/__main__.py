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
import sys
from collections.abc import Sequence
from pathlib import Path

from mock_services.common.eventlog import configure, log_to
from mock_services.common.serve import serve
from mock_services.witness.app import create_app
from mock_services.witness.leases import LeaseTable, logger


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")
    if not args.name.strip():
        parser.error("--name must not be empty")
    configure(logger, args.name, args.datacenter)
    table = LeaseTable(args.db)
    log_to(logger, "start", port=args.port, db=args.db or "memory", leases=len(table.all()))
    app = create_app(args.name, args.datacenter, table)
    serve(app, args.host, args.port, events=logger)
    return 0


if __name__ == "__main__":
    sys.exit(main())
