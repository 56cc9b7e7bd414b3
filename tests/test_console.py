"""The terminal view: the load's live figures per service, on a terminal and in logs."""

from __future__ import annotations

import io

from rich.console import Console

from harness.console import ConsoleObserver, load_line
from harness.probe import StatsSnapshot

LOAD = {
    "ehr": StatsSnapshot(total=900, errors=0, rate=412.5, error_rate=0.0, p95=0.012, served_by="ehr-b"),
    "imaging": StatsSnapshot(total=50, errors=20, rate=9.0, error_rate=0.4, p95=None, served_by="-"),
}


def _plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=140, force_terminal=False, color_system=None), out


def test_the_load_line_gives_rate_errors_and_p95_per_service() -> None:
    text = load_line(LOAD).plain
    assert "ehr 412/s 0.0% 12ms" in text and "imaging 9/s 40.0% -" in text


def test_a_plain_console_prints_the_load_under_the_status_line() -> None:
    console, out = _plain_console()
    observer = ConsoleObserver(console)
    observer.run_started("runs/x", "exp", 10)
    observer.phase_started("faults", 10)
    observer.tick(1.0, None, [], LOAD)
    printed = out.getvalue()
    assert "faults" in printed and "load (req/s err p95)" in printed and "imaging 9/s 40.0%" in printed


def test_without_load_nothing_about_load_is_printed() -> None:
    console, out = _plain_console()
    observer = ConsoleObserver(console)
    observer.run_started("runs/x", "exp", 10)
    observer.tick(1.0, None, [], None)
    assert "load" not in out.getvalue().replace("run folder", "")
