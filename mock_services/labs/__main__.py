"""``python -m mock_services.labs``: parse the command line, build the portal, serve it.

Usage (the harness launches exactly this)::

    python -m mock_services.labs --name labs-a --datacenter dc-a --host 127.0.0.1 --port 18040 \\
        --ehr-url http://127.0.0.1:18000 [--ehr-timeout 2.0] [--cache-ttl 0]

Exit status: 0 after SIGTERM/SIGINT, 2 on invalid arguments. Stateless (nothing on disk), so a
SIGKILL loses nothing but the cache.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mock_services.common.eventlog import setup_logging
from mock_services.common.serve import serve
from mock_services.labs.app import create_app
from mock_services.labs.config import Config


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds as a number, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mock_services.labs", description="Lab results portal (read-only, reads the EHR over FHIR)."
    )
    parser.add_argument("--name", required=True, help="instance name, e.g. labs-a (X-Served-By)")
    parser.add_argument("--datacenter", required=True, help="data center, e.g. dc-a (X-Datacenter)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ehr-url", required=True, help="the EHR's FHIR base URL (the front door in production runs)")
    parser.add_argument("--ehr-timeout", type=_seconds, default=2.0, help="each EHR call, seconds (> 0)")
    parser.add_argument("--cache-ttl", type=_seconds, default=0.0, help="reuse a patient's results this long (0 = off)")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> Config:
    """Parse ``argv`` into a :class:`Config`; exits with status 2 and a message if invalid."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return Config(
            name=args.name,
            datacenter=args.datacenter,
            ehr_url=args.ehr_url,
            host=args.host,
            port=args.port,
            ehr_timeout=args.ehr_timeout,
            cache_ttl=args.cache_ttl,
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
