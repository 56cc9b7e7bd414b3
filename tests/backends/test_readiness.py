"""Readiness checks: what each waits for, what it says it saw, and a restart judged afresh."""

from __future__ import annotations

import socket
from pathlib import Path

from harness.backends.readiness import AllReady, AnyReady, HttpStatusReady, LogLineReady, TcpConnectReady


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_all_of_is_judged_afresh_after_a_reset() -> None:
    """A restarted process reuses its spec: an all_of that remembered its parts would say 'ready'
    before the new process listens."""
    sock = _listening()
    port = sock.getsockname()[1]
    ready = AllReady([TcpConnectReady("127.0.0.1", port)])
    assert ready.check()
    sock.close()
    assert ready.check()  # remembered: each part needs to be ready once per start
    ready.reset()
    assert not ready.check()
    assert "connection refused" in ready.description


def test_http_says_what_it_saw(tmp_path: Path) -> None:
    sock = _listening()
    port = sock.getsockname()[1]
    sock.close()
    ready = HttpStatusReady("127.0.0.1", port, "/ready", (200, 204))
    assert not ready.check()
    assert ready.description.endswith("/ready answering 200 or 204 (last seen: connection refused)")


def test_a_log_line_counts_only_after_the_latest_start_header(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("=== 2026-12-02T04:00:00 starting: server --wait-for ready\n")
    ready = LogLineReady(log, "ready")
    assert not ready.check()  # the header (the command line) is not the process's output
    log.write_text(log.read_text() + "loading\nserver ready\n=== 2026-12-02T04:01:00 starting: server\n")
    assert not ready.check()  # the previous life's line does not count after a restart
    log.write_text(log.read_text() + "server ready\n")
    assert ready.check() and "server ready" in ready.description


def test_any_of_is_ready_with_one_part(tmp_path: Path) -> None:
    sock = _listening()
    ready = AnyReady([LogLineReady(tmp_path / "none.log", "x"), TcpConnectReady("127.0.0.1", sock.getsockname()[1])])
    assert ready.check()
    sock.close()
