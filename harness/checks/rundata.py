"""What the checkers judge: a run's requests (a lazy table), its other records (phases, faults,
halts: a short list) and the read-back of its writes (a table, or none).

Two ways in: :meth:`RunData.load` reads a run folder (Parquet segments, ``events.jsonl``,
``readback.parquet``: nothing scans the JSON-lines journal of a cleanly closed run), and
:meth:`RunData.from_records` wraps records held in memory (tests, re-judging a list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from harness.checks.ledger_tables import LedgerTables, ledger_tables
from harness.readback import ReadBack
from harness.readback.schedules import SCHEDULE_DIFFS_FILE, load_schedule_diffs
from harness.readback.table import readback_table, scan_run_readback
from harness.timeline import TimelineRecord
from harness.timeline.store import RunTimeline, load_run_timeline


@dataclass(frozen=True)
class RunData:
    requests: pl.LazyFrame
    events: list[TimelineRecord]
    readback: pl.LazyFrame | None = None
    rebuilt: int = 0
    """Requests rebuilt from the journal because the run did not close cleanly (0 normally)."""
    schedule_diffs: dict[str, Any] | None = None
    """What the care workstations' schedule diffs showed after recovery (schedule-staleness)."""

    @classmethod
    def load(cls, run_dir: Path) -> RunData:
        timeline = load_run_timeline(run_dir)
        return cls(timeline.requests, timeline.events, scan_run_readback(run_dir), timeline.rebuilt,
                   load_schedule_diffs(run_dir / SCHEDULE_DIFFS_FILE))

    @classmethod
    def from_records(cls, records: Sequence[TimelineRecord],
                     readback: Mapping[str, ReadBack] | None = None) -> RunData:
        timeline = RunTimeline.from_records(tuple(records))
        table = readback_table(readback.values()).lazy() if readback is not None else None
        return cls(timeline.requests, timeline.events, table)

    def requests_of(self, service: str) -> pl.LazyFrame:
        return self.requests.filter(pl.col("service") == service)

    @cached_property
    def ledger(self) -> LedgerTables:
        """The ledger of every service's writes against the read-back, computed once for all
        the run's ledger checks. Only when the run has a read-back (else ``ValueError``)."""
        if self.readback is None:
            raise ValueError("the run has no read-back")
        return ledger_tables(self.requests, self.readback)
