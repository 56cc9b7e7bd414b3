"""Locust and gevent never enter the harness process (gevent monkey-patches at import)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_harness_and_runner_does_not_import_locust_or_gevent() -> None:
    code = ("import sys, harness.cli, harness.runner, harness.load.session, harness.load.planner; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent', 'geventhttpclient')); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
