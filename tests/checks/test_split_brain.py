"""Split brain on hand-made writes: overlapping terms of two instances fail, a clean
failover (and a later fail-back) passes, no term information is unknown."""

from __future__ import annotations

from harness.checks.split_brain import check_split_brain
from harness.timeline import RequestRecord


def _ack(t: float, term: str | None, ok: bool = True) -> RequestRecord:
    return RequestRecord(t, 0.01, "probe", "ehr", "create", ok, resource_id=f"Patient/p{t}", accepted_by=term)


def test_clean_failover_and_failback_pass() -> None:
    writes = [_ack(t, "ehr-a#1") for t in (1, 2, 3)] + [_ack(t, "ehr-b#2") for t in (6, 7)] + [_ack(9, "ehr-a#3")]
    verdict = check_split_brain("sb", writes)
    assert verdict.outcome.value == "pass", verdict
    assert verdict.summary == "terms one after the other: ehr-a#1 -> ehr-b#2 -> ehr-a#3"


def test_interleaved_terms_of_two_instances_fail_with_the_window_and_counts() -> None:
    writes = [_ack(t, "ehr-a#1") for t in (1, 2, 3, 4, 5)] + [_ack(t, "ehr-b#2") for t in (3.5, 4.5, 6)]
    verdict = check_split_brain("sb", writes)
    assert verdict.outcome.value == "fail"
    [overlap] = verdict.evidence["overlaps"]
    assert overlap["terms"] == ["ehr-a#1", "ehr-b#2"] and overlap["from"] == 3.5
    assert overlap["writes"] == {"ehr-a#1": 2, "ehr-b#2": 2}


def test_failed_writes_and_writes_without_a_term_do_not_count() -> None:
    writes = [_ack(1, "ehr-a#1"), _ack(1.5, "ehr-b#2", ok=False), _ack(2, None), _ack(3, "ehr-a#1")]
    assert check_split_brain("sb", writes).outcome.value == "pass"
    assert check_split_brain("sb", [_ack(1, None)]).outcome.value == "unknown"
