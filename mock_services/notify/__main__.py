"""``python -m mock_services.notify``: parse the command line, build the sink, serve it.

Usage (the harness launches exactly this)::

    python -m mock_services.notify --name notify --datacenter witness --host 127.0.0.1 --port 18090 \\
        [--db /path/notify.sqlite]

Without ``--db`` notifications live in memory. Exit status: 0 after SIGTERM/SIGINT, 2 on
invalid arguments. With ``--db``, SIGKILL loses nothing that was answered 201.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mock_services.common.eventlog import setup_logging
from mock_services.common.serve import serve
from mock_services.notify.app import create_app
from mock_services.notify.config import Config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mock_services.notify", description="Out-of-band notification sink (downtime / restored)."
    )
    parser.add_argument("--name", required=True, help="instance name (X-Served-By)")
    parser.add_argument("--datacenter", required=True, help="where it runs: not dc-a nor dc-b (X-Datacenter)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (created; default: in memory)")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> Config:
    """Parse ``argv`` into a :class:`Config`; exits with status 2 and a message if invalid."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return Config(name=args.name, datacenter=args.datacenter, db_path=args.db, host=args.host, port=args.port)
    except ValueError as error:
        parser.error(str(error))  # exits with status 2


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    setup_logging(config.name, config.datacenter)
    serve(create_app(config), config.host, config.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
