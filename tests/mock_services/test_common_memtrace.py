"""The opt-in memory reports of soaks: off by default, and a report names what grew."""

from __future__ import annotations

import tracemalloc

import httpx
import pytest

from mock_services.common import memtrace


def test_off_without_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(memtrace.ENV, raising=False)
    assert memtrace.start_from_environment() is False
    assert not tracemalloc.is_tracing()


class Leaked:
    def __init__(self, size: int) -> None:
        self.payload = bytes(size)


def test_a_report_shows_what_grew_since_the_baseline_and_the_connection_pools() -> None:
    kept: list[Leaked] = []
    tracemalloc.start(memtrace.FRAMES)
    try:
        baseline, types = memtrace._snapshot(), memtrace._types()
        kept.extend(Leaked(1000) for _ in range(2000))  # ~2 MB kept: a leak
        client = httpx.Client()
        text = memtrace.report(baseline, types, 12.0)
        client.close()
    finally:
        tracemalloc.stop()
    lines = text.splitlines()
    assert lines[0].startswith("=== t=12s rss=") and "traced=" in lines[0]
    assert any(line.split()[0] == "Leaked" and "(+2000)" in line for line in lines)
    assert any("<ConnectionPool [" in line for line in lines)
    top = lines[lines.index(next(line for line in lines if line.startswith("top "))) + 1:]
    assert top[0].split()[0].startswith("+") and float(top[0].split()[0]) > 1900  # KiB, the biggest site first
    assert any("tests/mock_services/test_common_memtrace.py" in line for line in top[:3])
