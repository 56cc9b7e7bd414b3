"""``python -m mock_services.scheduling``: parse the command line, open/load the store, serve.

Usage (the harness launches exactly this)::

    python -m mock_services.scheduling --name sched-a --datacenter dc-a --host 127.0.0.1 \\
        --port 18050 --db /path/sched-a.sqlite [--seed 2024 --patients 10000]

Exit status: 0 after SIGTERM/SIGINT, 2 on invalid arguments. SIGKILL loses nothing that was
acknowledged (see :mod:`.store`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mock_services.common.eventlog import setup_logging
from mock_services.common.serve import serve
from mock_services.scheduling.app import create_app
from mock_services.scheduling.config import Config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mock_services.scheduling",
        description="Staff and OR/scanner schedules with versions (single data center).",
    )
    parser.add_argument("--name", required=True, help="instance name, e.g. sched-a (X-Served-By)")
    parser.add_argument("--datacenter", required=True, help="data center, e.g. dc-a (X-Datacenter)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, type=Path, help="SQLite file (created if missing)")
    parser.add_argument("--seed", type=int, default=2024, help="synthetic data seed")
    parser.add_argument("--patients", type=int, default=0, help="synthetic hospital size (0 = load nothing)")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> Config:
    """Parse ``argv`` into a :class:`Config`; exits with status 2 and a message if invalid."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return Config(
            name=args.name,
            datacenter=args.datacenter,
            db_path=args.db,
            host=args.host,
            port=args.port,
            seed=args.seed,
            patients=args.patients,
        )
    except ValueError as error:
        parser.error(str(error))  # exits with status 2


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    setup_logging(config.name, config.datacenter)
    serve(create_app(config), config.host, config.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
