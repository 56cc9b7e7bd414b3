"""``python -m mock_services.imaging``: parse the command line, build the app, serve it.

Usage (the harness launches exactly this)::

    python -m mock_services.imaging --name pacs-a --datacenter dc-a --role archive \\
        --host 127.0.0.1 --port 18040 --storage /path/pacs-a \\
        --replica-url http://127.0.0.1:18041 --replication-interval 0.2 --peer-timeout 2 \\
        --seed 2024 --patients 10000 --qido-empty-status 200

Seed data is loaded before the port opens (progress on stderr), so once ``/health`` answers
the instance is ready. Exit status: 0 after SIGTERM/SIGINT (uvicorn drains for at most
two seconds: :mod:`mock_services.common.serve`), 2 on invalid arguments. SIGKILL loses nothing acknowledged
(see :mod:`.store`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mock_services.common.serve import serve
from mock_services.imaging.config import QIDO_EMPTY_STATUSES, Config, Role
from mock_services.imaging.eventlog import logger, setup_logging


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds as a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a duration > 0 seconds, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mock_services.imaging",
        description="Mock PACS (DICOMweb QIDO-RS / WADO-RS / STOW-RS): an archive, or its asynchronous replica.",
    )
    parser.add_argument("--name", required=True, help="instance name, e.g. pacs-a (X-Served-By)")
    parser.add_argument("--datacenter", required=True, help="data center, e.g. dc-a (X-Datacenter)")
    parser.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in Role],
        help="archive: accepts STOW and ships to the replica; replica: read-only, stores what the archive ships",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--storage", required=True, type=Path, help="directory for DICOM files + index (created)")
    parser.add_argument("--replica-url", default=None, help="archive only: the replica (through the replication link)")
    parser.add_argument(
        "--replication-interval", type=_positive_seconds, default=0.2, help="retry period of the shipper (s)"
    )
    parser.add_argument("--peer-timeout", type=_positive_seconds, default=2.0, help="each call to the replica (s)")
    parser.add_argument("--seed", type=int, default=2024, help="synthetic data seed")
    parser.add_argument("--patients", type=_count, default=0, help="synthetic patients (0 = no seed studies)")
    parser.add_argument(
        "--qido-empty-status",
        type=int,
        choices=QIDO_EMPTY_STATUSES,
        default=200,
        help="answer to a QIDO-RS search that matches nothing: 200 with [] (Orthanc; the default)"
        " or 204 No Content (PS3.18 8.3.4.4.1)",
    )
    return parser


def parse_config(argv: Sequence[str] | None = None) -> Config:
    """Parse ``argv`` into a :class:`Config`; exits with status 2 and a message if invalid."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return Config(
            name=args.name,
            datacenter=args.datacenter,
            role=Role(args.role),
            storage=args.storage,
            host=args.host,
            port=args.port,
            replica_url=args.replica_url,
            replication_interval=args.replication_interval,
            peer_timeout=args.peer_timeout,
            seed=args.seed,
            patients=args.patients,
            qido_empty_status=args.qido_empty_status,
        )
    except ValueError as error:
        parser.error(str(error))  # exits with status 2


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    setup_logging(config.name, config.datacenter)
    # Imported here so that --help and flag errors answer at once, without loading pydicom/numpy.
    from mock_services.imaging.app import create_app

    app = create_app(config)
    serve(app, config.host, config.port, events=logger)  # until SIGTERM/SIGINT: drain, lifespan shutdown
    return 0


if __name__ == "__main__":
    sys.exit(main())
