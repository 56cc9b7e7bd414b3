"""The request segments beside the journal: written in order during the run, whole or absent,
and read back -- from the segments alone when the run closed cleanly, rebuilt from the journal
when it did not."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from harness.timeline import PhaseRecord, RequestRecord, TimelineWriter, record_to_dict
from harness.timeline.columns import frame_from_lines, frame_from_records, records_of
from harness.timeline.segments import MANIFEST_FILE, segment_paths
from harness.timeline.store import load_run_timeline


def _requests(n: int, seed: int = 1) -> list[RequestRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ok = rng.random() > 0.1
        out.append(RequestRecord(1000.0 + i * 0.01, rng.random() / 10, rng.choice(["load", "probe"]),
                                 rng.choice(["ehr", "labs"]), f"op {i % 3}", ok, 200 if ok else None,
                                 None if ok else "timeout", user=f"u{i % 7}",
                                 resource_id=f"Observation/o{i}" if i % 5 == 0 else None,
                                 version=str(i % 3 + 1) if i % 5 == 0 else None))
    return out


def _write_run(folder: Path, records: list[RequestRecord], segment_rows: int, *, close: bool = True) -> TimelineWriter:
    writer = TimelineWriter(folder / "timeline.jsonl", segment_rows=segment_rows)
    writer.append(PhaseRecord(999.0, "steady_state", "start"))
    for i, record in enumerate(records):
        if i % 2:
            writer.append(record)
        else:  # the load's path: pre-encoded, compact separators
            writer.append_encoded([json.dumps(record_to_dict(record), separators=(",", ":"))])
        if i % 50 == 49:  # segments of exactly segment_rows when it is a multiple of 50
            writer.flush()
    writer.append(PhaseRecord(2000.0, "steady_state", "end"))
    if close:
        writer.close()
    else:
        writer.flush()
    return writer


def test_lines_and_records_give_the_same_table() -> None:
    records = _requests(300)
    from_lines = frame_from_lines([json.dumps(record_to_dict(r)) for r in records])
    assert from_lines.equals(frame_from_records(records))
    assert records_of(from_lines) == records


def test_a_closed_run_is_read_from_its_segments_alone(tmp_path: Path) -> None:
    records = _requests(1000)
    _write_run(tmp_path, records, segment_rows=300)
    segments = segment_paths(tmp_path / "requests")
    assert [p.name for p in segments] == [f"part-{n:06d}.parquet" for n in range(4)]
    assert json.loads((tmp_path / "requests" / MANIFEST_FILE).read_text()) == {"requests": 1000, "segments": 4}
    (tmp_path / "timeline.jsonl").write_text("not even json\n")  # proves the journal is not read
    timeline = load_run_timeline(tmp_path)
    assert timeline.rebuilt == 0
    assert records_of(timeline.requests.collect()) == records
    assert timeline.events == [PhaseRecord(999.0, "steady_state", "start"), PhaseRecord(2000.0, "steady_state", "end")]


def test_a_killed_run_keeps_its_segments_and_rebuilds_the_rest_from_the_journal(tmp_path: Path) -> None:
    records = _requests(1000)
    writer = _write_run(tmp_path, records[:900], segment_rows=300, close=False)
    writer.checkpoint()  # (segments are written by a worker thread: let it finish before the "kill")
    for record in records[900:]:
        writer.append(record)
    writer.flush()  # no close: what a SIGKILL leaves
    with (tmp_path / "timeline.jsonl").open("a") as journal:
        journal.write('{"t": 5000.0, "duration": 0.1, "sour')  # torn last line
    assert not (tmp_path / "requests" / MANIFEST_FILE).exists()
    covered = pl.scan_parquet(segment_paths(tmp_path / "requests")).select(pl.len()).collect().item()
    timeline = load_run_timeline(tmp_path)
    assert covered == 900 and timeline.rebuilt == 100
    assert records_of(timeline.requests.collect()) == records
    assert [e.t for e in timeline.events] == [999.0, 2000.0]


def test_a_missing_segment_makes_the_later_ones_unusable_not_misplaced(tmp_path: Path) -> None:
    records = _requests(1000)
    _write_run(tmp_path, records, segment_rows=300)
    (tmp_path / "requests" / "part-000001.parquet").unlink()
    timeline = load_run_timeline(tmp_path)
    assert timeline.rebuilt == 700
    assert records_of(timeline.requests.collect()) == records


def test_segments_that_are_not_the_journals_are_refused(tmp_path: Path) -> None:
    _write_run(tmp_path, _requests(600), segment_rows=300)
    (tmp_path / "requests" / MANIFEST_FILE).unlink()
    lines = (tmp_path / "timeline.jsonl").read_text().splitlines()
    (tmp_path / "timeline.jsonl").write_text("\n".join(lines[:100]) + "\n")
    with pytest.raises(ValueError, match="not this run's"):
        load_run_timeline(tmp_path)


def test_a_corrupt_request_line_is_named(tmp_path: Path) -> None:
    _write_run(tmp_path, _requests(50), segment_rows=1000, close=False)
    with (tmp_path / "timeline.jsonl").open("a") as journal:
        journal.write('{"kind":"request","t":"yesterday","duration":1,"source":"x","service":"ehr",'
                      '"operation":"o","ok":true}\n')
    with pytest.raises(ValueError, match=r"timeline.jsonl: .*yesterday"):
        load_run_timeline(tmp_path)


def test_a_segment_that_cannot_be_written_stops_segments_but_loses_nothing(tmp_path: Path) -> None:
    (tmp_path / "requests").write_text("a file where the folder should be")
    records = _requests(700)
    writer = _write_run(tmp_path, records, segment_rows=300)
    assert writer.segment_error is not None and "segment 0" in writer.segment_error
    (tmp_path / "requests").unlink()
    timeline = load_run_timeline(tmp_path)
    assert timeline.rebuilt == 700
    assert records_of(timeline.requests.collect()) == records


def test_a_run_without_any_request_reads_as_an_empty_table(tmp_path: Path) -> None:
    with TimelineWriter(tmp_path / "timeline.jsonl") as writer:
        writer.append(PhaseRecord(1.0, "up", "start"))
    timeline = load_run_timeline(tmp_path)
    assert timeline.requests.collect().height == 0 and len(timeline.events) == 1


def test_no_timeline_at_all_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no timeline"):
        load_run_timeline(tmp_path)


def test_a_slow_run_writes_a_segment_every_segment_seconds_so_pending_lines_stay_bounded(tmp_path: Path) -> None:
    """A soak at a few requests/s never reaches SEGMENT_ROWS: without the time bound the
    writer held every request line of the run (the runner grew ~1 MB a minute)."""
    now = [0.0]
    writer = TimelineWriter(tmp_path / "timeline.jsonl", segment_rows=100_000, segment_seconds=60.0,
                            clock=lambda: now[0])
    records = _requests(3000)
    pending = []
    for second in range(300):  # 10 requests a second for 5 minutes, flushed every second
        for record in records[second * 10:(second + 1) * 10]:
            writer.append(record)
        now[0] = float(second)
        writer.flush()
        pending.append(len(writer._request_lines))
    assert max(pending) <= 61 * 10  # at most a minute of lines, however long the run
    writer.checkpoint()
    assert len(segment_paths(tmp_path / "requests")) >= 5
    writer.close()
    assert records_of(load_run_timeline(tmp_path).requests.collect()) == records
