"""Running a prober for a moment against a real server on loopback, and reading what it recorded."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from harness.probe import ProberSettings, ProbeTarget, make_prober
from harness.timeline import RequestRecord, TimelineWriter, read_timeline

RunProbe = Callable[..., list[RequestRecord]]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released: connecting is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def probe_runner(tmp_path: Path) -> RunProbe:
    """A ``run_probe(target, seconds=0.6, rate=30, timeout=1.0, mix={})``: start the target's
    prober, let it run ``seconds``, stop it (waiting for requests in flight), return its records."""
    runs = itertools.count()

    def run(target: ProbeTarget, *, seconds: float = 0.6, rate: float = 30, timeout: float = 1.0,
            mix: Mapping[str, float] | None = None) -> list[RequestRecord]:
        settings = ProberSettings(target=target, rate=rate, timeout=timeout, mix=mix or {}, run_id="probe-test")
        path = tmp_path / f"timeline-{next(runs)}.jsonl"
        with TimelineWriter(path) as timeline:
            prober = make_prober(settings, timeline)
            prober.start()
            try:
                time.sleep(seconds)
            finally:
                prober.stop()
        records = [r for r in read_timeline(path) if isinstance(r, RequestRecord)]
        assert records, "the prober recorded nothing"
        assert all(r.source == "probe" and r.service == target.service for r in records)
        return records

    return run
