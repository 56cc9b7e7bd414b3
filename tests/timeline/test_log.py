import threading
from pathlib import Path

import pytest

from harness.timeline import FaultRecord, PhaseRecord, RequestRecord, TimelineWriter, read_timeline


def test_round_trip_of_every_record_kind(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    records = [
        PhaseRecord(1.0, "steady_state", "start"),
        RequestRecord(1.5, 0.01, "probe", "ehr", "create", True, 201, None, "ehr-a", "dc-a", "abc", "1"),
        RequestRecord(2.0, 1.0, "probe", "ehr", "read", False, None, "timeout"),
        FaultRecord(2.5, "inject", "cut", "power_loss", "dc-a", 10.0),
    ]
    with TimelineWriter(path) as writer:
        for record in records:
            writer.append(record)
    assert list(read_timeline(path)) == records


def test_concurrent_appends_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    writer = TimelineWriter(path)

    def work(n: int) -> None:
        for i in range(500):
            writer.append(RequestRecord(float(i), 0.0, f"t{n}", "ehr", "read", True))
            if i % 50 == 0:
                writer.flush()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert writer.count == 4000
    assert len(list(read_timeline(path))) == 4000


def test_torn_last_line_is_skipped_but_corruption_elsewhere_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    path.write_text('{"kind": "phase", "t": 1.0, "phase": "up", "action": "start"}\n{"kind": "pha')
    assert len(list(read_timeline(path))) == 1
    path.write_text('garbage\n{"kind": "phase", "t": 1.0, "phase": "up", "action": "start"}\n')
    with pytest.raises(ValueError, match=r"timeline.jsonl:1"):
        list(read_timeline(path))


def test_append_after_close_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    writer = TimelineWriter(tmp_path / "t.jsonl")
    writer.close()
    writer.append(PhaseRecord(1.0, "up", "start"))
    with pytest.raises(RuntimeError, match="not written"):
        writer.flush()


def test_encoded_lines_and_records_are_written_in_append_order(tmp_path: Path) -> None:
    import json

    from harness.timeline.events import record_to_dict

    first = RequestRecord(1.0, 0.1, "probe", "ehr", "read", True)
    encoded = RequestRecord(2.0, 0.2, "load", "labs", "GET x", False, error="timeout", persona="physician")
    with TimelineWriter(tmp_path / "t.jsonl") as writer:
        writer.append(first)
        writer.append_encoded([json.dumps(record_to_dict(encoded))])
        assert writer.count == 2
    assert list(read_timeline(tmp_path / "t.jsonl")) == [first, encoded]
