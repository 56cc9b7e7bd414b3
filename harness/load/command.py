"""The command line that starts the load: Locust, headless, in its own process(es).

Locust is never imported into the harness process (gevent monkey-patches the standard
library at import, which must not touch the runner or pytest); it always runs as
``python -m locust`` with :data:`~harness.load.plan.PLAN_ENV` naming the plan file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
"""The locustfile that builds the personas, the shape and the recorder from the plan."""

RUN_TIME_GRACE = 30.0
"""Seconds past the plan's last stage after which the harness kills a Locust that did not
stop by itself (the shape ends the load at its last stage; Locust ignores ``--run-time``
when a shape class is present, so the bound is the shape's and the harness's)."""


def locust_command(*, processes: int = 1, log_path: Path | None = None,
                   master_bind: tuple[str, int] | None = None, expect_workers: int = 0) -> list[str]:
    """Argv for a headless Locust run (the plan comes through :func:`locust_env`).

    ``processes`` > 1 uses Locust's own ``--processes`` (a master plus forked workers on this
    machine); ``expect_workers`` > 0 makes it a master that also waits for that many workers
    started elsewhere (``locust --worker --master-host ...``), bound to ``master_bind``.
    """
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
            "--stop-timeout", "2",
            "--loglevel", "INFO", "--only-summary"]
    if log_path is not None:
        argv += ["--logfile", str(log_path)]
    if processes > 1:
        argv += ["--processes", str(processes)]
    if expect_workers > 0:
        # Locust's --processes sets --expect-workers to its own forks: the two do not mix.
        if processes > 1:
            raise ValueError("workers on other machines need processes: 1 (Locust's --processes cannot wait for them)")
        argv += ["--master", "--expect-workers", str(expect_workers)]
    if master_bind is not None:
        argv += ["--master-bind-host", master_bind[0], "--master-bind-port", str(master_bind[1])]
    return argv


def locust_env(plan_path: Path) -> dict[str, str]:
    """The environment of the Locust processes: ours plus the plan's path."""
    from harness.load.plan import PLAN_ENV

    env = dict(os.environ)
    env[PLAN_ENV] = str(plan_path)
    return env
