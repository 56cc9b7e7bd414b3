"""``python -m mock_services.messaging``: parse the command line, build the engine, serve.

Usage (the harness launches exactly this)::

    python -m mock_services.messaging --name msg-a --datacenter dc-a --host 127.0.0.1 \\
        --mllp-port 2575 --http-port 18021 --db /path/msg-a.sqlite \\
        [--destination-fhir http://127.0.0.1:18000] [--forward-retry-interval 0.5] \\
        [--forward-max-attempts 0] [--forward-timeout 5] [--rotate] [--dedup-key on|off] \\
        [--ack-delay 0] [--synchronous full|normal] [--idle-timeout 300] [--max-frame-bytes 1048576]

Exit status: 0 after SIGTERM/SIGINT (:mod:`mock_services.common.serve`), 2 on invalid arguments. SIGKILL loses nothing
acknowledged (see :mod:`.store`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mock_services.common.serve import serve
from mock_services.messaging.app import create_app
from mock_services.messaging.config import Config, Synchronous
from mock_services.messaging.eventlog import logger, setup_logging


def _number(kind: type[float] | type[int], minimum: float, strict: bool, what: str) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"expected {what} {'>' if strict else '>='} {minimum:g}, got {text!r}")
        return value

    return convert


def build_parser() -> argparse.ArgumentParser:
    seconds = _number(float, 0, True, "seconds")
    parser = argparse.ArgumentParser(
        prog="python -m mock_services.messaging",
        description="HL7 v2 interface engine over MLLP: durable store, ACKs, store-and-forward to FHIR.",
    )
    parser.add_argument("--name", required=True, help="engine name, e.g. msg-a (X-Served-By)")
    parser.add_argument("--datacenter", required=True, help="data center, e.g. dc-a (X-Datacenter)")
    parser.add_argument("--host", default="127.0.0.1", help="address of both listeners")
    parser.add_argument("--mllp-port", type=int, required=True, help="MLLP (HL7 v2) listener port")
    parser.add_argument("--http-port", type=int, required=True, help="HTTP port: /health, /metrics, /messages")
    parser.add_argument("--db", required=True, type=Path, help="SQLite message store (created if missing)")
    parser.add_argument("--destination-fhir", default=None, help="FHIR base URL to forward to (none: store only)")
    parser.add_argument("--forward-retry-interval", type=seconds, default=0.5, help="between attempts (s)")
    parser.add_argument(
        "--forward-max-attempts",
        type=_number(int, 0, False, "a count"),
        default=0,
        help="attempts before a message is errored (0 = retry forever)",
    )
    parser.add_argument("--forward-timeout", type=seconds, default=5.0, help="each HTTP request to the destination (s)")
    parser.add_argument("--rotate", action="store_true", help="a failing message goes to the back of the queue")
    parser.add_argument(
        "--dedup-key",
        choices=["on", "off"],
        default="on",
        help="on: forwarded resources carry an MSH-10 identifier and are created with If-None-Exist",
    )
    parser.add_argument(
        "--ack-delay", type=_number(float, 0, False, "seconds"), default=0.0, help="wait before each ACK (s)"
    )
    parser.add_argument(
        "--synchronous",
        choices=[s.value for s in Synchronous],
        default=Synchronous.FULL.value,
        help="SQLite synchronous: full = fsync before every ACK batch; normal = survives SIGKILL, not power loss",
    )
    parser.add_argument("--idle-timeout", type=seconds, default=300.0, help="close an MLLP connection idle this long")
    parser.add_argument(
        "--max-frame-bytes", type=_number(int, 1024, False, "bytes"), default=1024 * 1024, help="largest MLLP frame"
    )
    parser.add_argument("--seed", type=int, default=0, help="accepted for uniformity; the engine has no synthetic data")
    parser.add_argument("--patients", type=int, default=0, help="accepted for uniformity; ignored")
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
            mllp_port=args.mllp_port,
            http_port=args.http_port,
            destination_fhir=args.destination_fhir,
            forward_retry_interval=args.forward_retry_interval,
            forward_max_attempts=int(args.forward_max_attempts),
            forward_timeout=args.forward_timeout,
            rotate=args.rotate,
            dedup_key=args.dedup_key == "on",
            ack_delay=args.ack_delay,
            synchronous=Synchronous(args.synchronous),
            idle_timeout=args.idle_timeout,
            max_frame_bytes=int(args.max_frame_bytes),
        )
    except ValueError as error:
        parser.error(str(error))  # exits with status 2


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    setup_logging(config.name, config.datacenter)
    app = create_app(config)
    serve(app, config.host, config.http_port, events=logger)  # until SIGTERM/SIGINT: drain, lifespan shutdown
    return 0


if __name__ == "__main__":
    sys.exit(main())
