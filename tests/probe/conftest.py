"""Fixtures of the probe tests (the helpers themselves are in :mod:`tests.probe.helpers`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.probe.helpers import RunProbe, probe_runner


@pytest.fixture
def run_probe(tmp_path: Path) -> RunProbe:
    """See :func:`tests.probe.helpers.probe_runner`."""
    return probe_runner(tmp_path)
