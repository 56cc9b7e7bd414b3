"""``python -m mock_services.ehr``: parse the command line, build the app, serve it.

Usage (the harness launches exactly this)::

    python -m mock_services.ehr --name ehr-a --datacenter dc-a --role primary \\
        --host 127.0.0.1 --port 18001 --db /path/ehr-a.sqlite \\
        --peer-url http://127.0.0.1:18010 --replication sync \\
        --promote-after 3.0 --heartbeat-interval 0.2 --peer-timeout 0.5 [--sync-strict] \\
        [--fencing on --witness-url http://127.0.0.1:18020 --lease-ttl 2.0 --cluster ehr] \\
        [--seed 2024 --patients 10000] [--config FILE]

``--config FILE`` (JSON or TOML, same keys as the flags; flags win): :mod:`.configfile`.

Exit status: 0 after SIGTERM/SIGINT (uvicorn drains for at most
:data:`~mock_services.common.serve.SHUTDOWN_GRACE` seconds; :mod:`mock_services.common.serve`),
2 on invalid arguments (or a database holding another base snapshot). SIGKILL loses nothing
acknowledged (see :mod:`.store`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from mock_services.common.serve import serve
from mock_services.ehr.app import create_app
from mock_services.ehr.baseload import BaseMismatch
from mock_services.ehr.config import Config, ConfiguredRole, ReplicationMode
from mock_services.ehr.configfile import ConfigFileError, config_file_argv
from mock_services.ehr.eventlog import log_event, logger, setup_logging


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds as a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a duration > 0 seconds, got {text!r}")
    return value


def _patients(text: str) -> int:
    if not text.isdigit() or int(text) > 100_000:
        raise argparse.ArgumentTypeError(f"expected a patient count 0..100000, got {text!r}")
    return int(text)


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
    parser.add_argument(
        "--fencing",
        choices=["on", "off"],
        default="off",
        help="on: a primary needs a lease from the witness (no split brain); off: split brain possible",
    )
    parser.add_argument("--witness-url", default=None, help="the witness that grants the primary lease (fencing on)")
    parser.add_argument(
        "--lease-ttl", type=_positive_seconds, default=2.0, help="lease duration, renewed every heartbeat (s)"
    )
    parser.add_argument("--cluster", default="ehr", help="the lease's name at the witness (same on both instances)")
    parser.add_argument("--seed", type=int, default=2024, help="synthetic data seed (same on both instances)")
    parser.add_argument(
        "--patients", type=_patients, default=0, help="synthetic patients to load at start-up (0 = none)"
    )
    parser.add_argument("--config", type=Path, default=None, help="JSON or TOML file with the same keys (flags win)")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> Config:
    """Parse ``argv`` (and the ``--config`` file it names) into a :class:`Config`; exits with
    status 2 and a message if invalid."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", type=Path, default=None)
    known, _ = pre.parse_known_args(arguments)
    if known.config is not None:
        try:
            arguments = [*config_file_argv(known.config, parser), *arguments]
        except ConfigFileError as error:
            parser.error(f"--config: {error}")
    args = parser.parse_args(arguments)
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
            cluster=args.cluster,
            fencing=args.fencing == "on",
            witness_url=args.witness_url,
            lease_ttl=args.lease_ttl,
            seed=args.seed,
            patients=args.patients,
        )
    except ValueError as error:
        parser.error(str(error))  # exits with status 2


class _StopDuringStartup(Exception):
    """SIGTERM/SIGINT arrived before the server ran (e.g. during a long base-snapshot load)."""


def _stop_during_startup(sig: int, frame: FrameType | None) -> None:
    raise _StopDuringStartup(signal.Signals(sig).name)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    setup_logging(config.name, config.datacenter)
    # Until uvicorn installs its handlers, a stop request interrupts start-up cleanly: the
    # base load's transaction rolls back (the next start loads again) and we exit 0.
    previous = {sig: signal.signal(sig, _stop_during_startup) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        app = create_app(config)
    except BaseMismatch as error:
        log_event("base-mismatch", level=logging.ERROR, detail=str(error))
        print(f"python -m mock_services.ehr: error: {error}", file=sys.stderr)
        return 2
    except _StopDuringStartup as stop:
        log_event("shutdown", signal=str(stop), detail="during start-up; nothing was served")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    serve(app, config.host, config.port, events=logger)  # until SIGTERM/SIGINT: drain, lifespan shutdown
    return 0


if __name__ == "__main__":
    sys.exit(main())
