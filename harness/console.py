"""The terminal view of a run: phases live, events as they happen, a verdict table at the end.

On a terminal it uses a rich ``Live`` status line; elsewhere (CI logs, pipes) it prints one
plain status line per second instead, so logs stay readable.

Nothing a user wrote is ever read as rich markup: experiment, fault and check names, server
error texts and paths may hold ``[`` and ``]`` (``name: "[/x]"`` once crashed the terminal
view). Every such text goes in a :class:`~rich.text.Text`; an event message is plain text
that may only *begin* with one style tag (:func:`event_text`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.checks import Outcome, Verdict, worst
from harness.durations import format_duration
from harness.faults import FaultPlan
from harness.probe import StatsSnapshot

OUTCOME_STYLE = {Outcome.PASS: "bold green", Outcome.FAIL: "bold red", Outcome.UNKNOWN: "bold yellow"}

_LEADING_STYLE = re.compile(r"\[(bold red|red|yellow|green|dim)\]")


def event_text(message: str) -> Text:
    """An event message as text: an optional leading style tag (``"[yellow]load: ..."``)
    styles the whole line; everything else is shown verbatim, brackets included."""
    match = _LEADING_STYLE.match(message)
    if match is None:
        return Text(message)
    return Text(message[match.end():], style=match.group(1))


class ConsoleObserver:
    """A :class:`~harness.runner.RunObserver` that draws on a rich console."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self._live: Live | None = None
        self._phase = ""
        self._phase_seconds = 0.0
        self._run_started = time.monotonic()
        self._last_plain = 0.0

    def run_started(self, run_dir: str, experiment: str, total_seconds: float) -> None:
        self._run_started = time.monotonic()
        self.console.print(Text.assemble(("hchaos", "bold"), " running ", (experiment, "cyan"),
                                         f" (about {format_duration(total_seconds)} plus start-up)"))
        self.console.print(Text(f"run folder: {run_dir}"))
        if self.console.is_terminal:
            self._live = Live(Text(""), console=self.console, refresh_per_second=8, transient=True)
            self._live.start()

    def phase_started(self, phase: str, seconds: float) -> None:
        self._phase, self._phase_seconds = phase, seconds
        length = f" ({format_duration(seconds)})" if seconds else ""
        self.console.print(f"[bold blue]>> {phase.replace('_', ' ')}{length}[/]")

    def event(self, message: str) -> None:
        elapsed = time.monotonic() - self._run_started
        self.console.print(Text.assemble((f"{elapsed:7.2f}s", "dim"), " ", event_text(message)))

    def tick(self, phase_elapsed: float, stats: StatsSnapshot | None, active: list[FaultPlan],
             load: Mapping[str, StatsSnapshot] | None = None) -> None:
        line = self._status_line(phase_elapsed, stats, active)
        if self._live is not None:
            self._live.update(Group(line, load_table(load)) if load else line)
        elif time.monotonic() - self._last_plain >= 1.0:
            self._last_plain = time.monotonic()
            self.console.print(line)
            if load:
                self.console.print(load_line(load))

    def _status_line(self, phase_elapsed: float, stats: StatsSnapshot | None, active: list[FaultPlan]) -> Text:
        text = Text()
        text.append(f"{self._phase:<12} ", style="bold")
        if self._phase_seconds:
            done = min(1.0, phase_elapsed / self._phase_seconds)
            filled = int(done * 20)
            text.append("#" * filled + "." * (20 - filled), style="blue")
            text.append(f" {phase_elapsed:5.1f}/{self._phase_seconds:.0f}s  ")
        if stats is not None:
            style = "red" if stats.error_rate > 0.01 else "green"
            p95 = f"{stats.p95 * 1000:.0f}ms" if stats.p95 is not None else "-"
            text.append(f"{stats.rate:5.1f} req/s  ")
            text.append(f"err {stats.error_rate:6.1%}", style=style)
            text.append(f"  p95 {p95:>6}  served by {stats.served_by}")
        if active:
            text.append("  faults: " + ", ".join(p.label for p in active), style="bold red")
        return text

    def verdicts(self, verdicts: list[Verdict]) -> None:
        self.stop()
        self.console.print(verdict_table(verdicts))

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def _p95(stats: StatsSnapshot) -> str:
    return f"{stats.p95 * 1000:.0f}ms" if stats.p95 is not None else "-"


def load_table(load: Mapping[str, StatsSnapshot]) -> Table:
    """The load's live figures, one row per service (terminal view)."""
    table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
    for column in ("load", "req/s", "errors", "p95", "served by"):
        table.add_column(column, justify="left" if column in ("load", "served by") else "right")
    for service, stats in load.items():
        style = "red" if stats.error_rate > 0.01 else "green"
        table.add_row(Text(service), f"{stats.rate:.1f}", Text(f"{stats.error_rate:.1%}", style=style), _p95(stats),
                      Text(stats.served_by))
    return table


def load_line(load: Mapping[str, StatsSnapshot]) -> Text:
    """The load's live figures on one line (logs and pipes)."""
    text = Text("load (req/s err p95) ", style="bold")
    for index, (service, stats) in enumerate(load.items()):
        if index:
            text.append(" | ")
        text.append(f"{service} {stats.rate:.0f}/s ")
        text.append(f"{stats.error_rate:.1%}", style="red" if stats.error_rate > 0.01 else "green")
        text.append(f" {_p95(stats)}")
    return text


def verdict_table(verdicts: list[Verdict]) -> Table:
    """The final table: one row per check, and the overall outcome in the title."""
    overall = worst(v.outcome for v in verdicts)
    table = Table(title=Text(f"verdict: {overall.value.upper()}", style=OUTCOME_STYLE[overall]),
                  show_lines=False)
    table.add_column("check")
    table.add_column("type")
    table.add_column("verdict")
    table.add_column("measured")
    table.add_column("bound")
    table.add_column("details", overflow="fold")
    for v in verdicts:
        table.add_row(Text(v.check), Text(v.check_type), Text(v.outcome.value, style=OUTCOME_STYLE[v.outcome]),
                      Text(v.measured), Text(v.bound), Text(v.summary))
    if not verdicts:
        table.add_row("(none)", "", Text("unknown", style=OUTCOME_STYLE[Outcome.UNKNOWN]), "", "",
                      "the experiment has no checks: nothing to pass")
    return table
