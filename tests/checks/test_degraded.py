"""The degraded-mode checkers on hand-made timelines: each failure named, and no data is unknown."""

from __future__ import annotations

from harness.checks.degraded import (
    check_downtime_orders,
    check_patient_identity,
    check_staleness,
    check_time_to_degraded,
)
from harness.readback import FoundResource, ReadBack
from harness.readback.table import readback_table
from harness.timeline import NotificationRecord, RequestRecord

CUT = 100.0


def _answer(t: float, mode: str = "downtime", as_of: float | None = 90.0, ok: bool = True, **extra: object
            ) -> RequestRecord:
    return RequestRecord(t, 0.01, "load", "care", "care: GET /patients/{id}/chart", ok, 200 if ok else 503,
                         None if ok else "http-503", served_by="care-1", mode=mode, as_of=as_of,
                         **extra)  # type: ignore[arg-type]


def test_time_to_degraded_measures_the_first_downtime_answer_and_the_notification() -> None:
    requests = [_answer(99.0, mode="normal", as_of=None), _answer(101.0, ok=False, mode="normal", as_of=None),
                _answer(103.5)]
    notified = [NotificationRecord(100.4, "downtime", "care-1")]
    verdict = check_time_to_degraded("t", requests, notified, "cut", CUT, 5.0, 1.0)
    assert verdict.outcome.value == "pass" and verdict.evidence["time_to_degraded"] == 3.5
    assert abs(verdict.evidence["notification_delay"] - 0.4) < 1e-9
    late = check_time_to_degraded("t", requests, notified, "cut", CUT, 2.0, 0.1)
    assert late.outcome.value == "fail" and "over 2s" in late.summary and "notified after" in late.summary


def test_never_degraded_fails_and_no_traffic_is_unknown() -> None:
    never = check_time_to_degraded("t", [_answer(101.0, ok=False, mode="normal", as_of=None)], [], "cut", CUT, 5.0,
                                   5.0)
    assert never.outcome.value == "fail" and "never served in downtime mode" in never.summary
    assert "no downtime notification" in never.summary
    assert check_time_to_degraded("t", [], [], "cut", CUT, 5.0, None).outcome.value == "unknown"
    assert check_time_to_degraded("t", [], [], "cut", None, 5.0, None).outcome.value == "unknown"


def test_staleness_finds_undated_and_old_downtime_answers() -> None:
    fine = [_answer(101.0, as_of=95.0), _answer(102.0, as_of=95.0)]
    assert check_staleness("s", fine, 10.0).outcome.value == "pass"
    bad = [*fine, _answer(103.0, as_of=None), _answer(130.0, as_of=95.0)]
    verdict = check_staleness("s", bad, 10.0)
    assert verdict.outcome.value == "fail"
    assert verdict.evidence["undated"] == 1 and verdict.evidence["stale"] == 1
    assert check_staleness("s", [_answer(101.0, mode="normal", as_of=None)], 10.0).outcome.value == "unknown"


KEY = "MedicationRequest?identifier=urn:hchaos:care:order|o{}"


def _queued(n: int, t: float, patient: str = "p1") -> RequestRecord:
    return RequestRecord(t, 0.01, "load", "care", "care: POST /patients/{id}/orders", True, 202, mode="downtime",
                         as_of=90.0, downtime_id=f"DT-O-care-1-{n:06d}", patient=patient, write_key=KEY.format(n))


def _found(n: int, *copies: tuple[str, str | None, bool], subject: str = "Patient/p1") -> ReadBack:
    return ReadBack(KEY.format(n), tuple(FoundResource(rid, "1", "ehr-b#2", authored, subject, flag)
                                         for rid, authored, flag in copies))


def test_downtime_orders_each_exactly_once_with_their_time_and_flag() -> None:
    orders = [_queued(1, 101.0), _queued(2, 102.0), _queued(3, 103.0), _queued(4, 104.0), _queued(5, 105.0)]
    table = readback_table([
        _found(1, ("m1", "1970-01-01T00:01:41.000+00:00", True)),           # kept
        _found(2),                                                          # lost
        _found(3, ("m3", "1970-01-01T00:01:43.000+00:00", True),
               ("m3b", "1970-01-01T00:01:43.000+00:00", True)),             # duplicated
        _found(4, ("m4", "1970-01-01T00:05:00.000+00:00", True)),           # authored time replaced
        _found(5, ("m5", "1970-01-01T00:01:45.000+00:00", False)),          # not flagged
    ]).lazy()
    verdict = check_downtime_orders("d", orders, table, 0.002)
    assert verdict.outcome.value == "fail"
    e = verdict.evidence
    assert (e["lost_count"], e["duplicated_count"], e["authored_changed_count"], e["not_flagged_count"]) == (1, 1, 1, 1)
    assert e["lost"][0]["downtime_id"] == "DT-O-care-1-000002"
    assert check_downtime_orders("d", orders[:1], table, 0.002).outcome.value == "pass"
    assert check_downtime_orders("d", [], table, 0.002).outcome.value == "unknown"
    assert check_downtime_orders("d", orders, None, 0.002).outcome.value == "unknown"


def test_patient_identity_wrong_patient_unstamped_page_and_reused_downtime_id() -> None:
    orders = [_queued(1, 101.0, patient="p1"), _queued(2, 102.0, patient="p2")]
    table = readback_table([_found(1, ("m1", None, True)), _found(2, ("m2", None, True), subject="Patient/p1")]).lazy()
    verdict = check_patient_identity("i", orders, table)
    assert verdict.outcome.value == "fail" and verdict.evidence["wrong_patient"][0]["entered_for"] == "p2"
    unstamped = RequestRecord(103.0, 0.01, "load", "care", "care: GET /patients/{id}/documents/mar.pdf", False,
                              200, "identity-missing", patient="p1")
    reused = RequestRecord(104.0, 0.01, "load", "care", "care: POST /patients/{id}/orders", True, 202,
                           downtime_id="DT-O-care-1-000001", patient="p1", write_key=KEY.format(9))
    verdict = check_patient_identity("i", [orders[0], unstamped, reused], readback_table([_found(1, ("m1", None, True))]
                                                                                          ).lazy())
    assert verdict.outcome.value == "fail"
    assert verdict.evidence["unstamped_count"] == 1 and len(verdict.evidence["reused_downtime_ids"]) == 1
    assert check_patient_identity("i", [], None).outcome.value == "unknown"


def result(n: int, t: float) -> RequestRecord:
    """A lab result ``M<n>`` sent over MLLP at ``t`` and acknowledged."""
    return RequestRecord(t, 0.01, "load", "messaging", "messaging: ORU^R01", True, message_id=f"M{n}",
                         ack_code="AA", write_key=f"DiagnosticReport?identifier=urn:x|M{n}")


def arrived(n: int, at: float) -> ReadBack:
    """Result ``M<n>`` read back from the EHR, stored at ``at``."""
    from datetime import UTC, datetime
    stamp = datetime.fromtimestamp(at, UTC).isoformat()
    return ReadBack(f"DiagnosticReport?identifier=urn:x|M{n}", (FoundResource(f"d{n}", "1", None, updated=stamp),))


def test_lab_turnaround_is_the_ratio_of_medians_outage_over_baseline() -> None:
    from harness.checks.degraded import check_lab_turnaround
    from harness.checks.windows import Window

    baseline, outage = Window(0, 100), Window(100, 200)
    sent = [result(1, 10), result(2, 20), result(3, 30), result(4, 110), result(5, 120), result(6, 130)]
    table = readback_table([arrived(1, 10.5), arrived(2, 20.5), arrived(3, 30.5),
                            arrived(4, 120), arrived(5, 130), arrived(6, 131)]).lazy()
    verdict = check_lab_turnaround("l", sent, table, baseline, outage, None)
    assert verdict.outcome.value == "pass" and verdict.evidence["ratio"] == 20.0  # 10 s vs 0.5 s
    assert check_lab_turnaround("l", sent, table, baseline, outage, 5.0).outcome.value == "fail"
    assert check_lab_turnaround("l", sent[:3], table, baseline, outage, 5.0).outcome.value == "unknown"  # none in it


def test_schedule_changes_after_the_downtime_snapshot_must_be_surfaced() -> None:
    from harness.checks.schedule_staleness import check_schedule_staleness

    def write(t: float, schedule: str, version: str) -> RequestRecord:
        return RequestRecord(t, 0.01, "load", "scheduling", "scheduling: POST /schedules/{id}/slots", True, 201,
                             resource_id=f"Schedule/{schedule}", version=version)

    since = "1970-01-01T00:01:40.000000Z"  # 100 s: scheduling's latest write when the snapshot was taken
    writes = [write(90.0, "s1", "2"), write(120.0, "s1", "3"), write(130.0, "s2", "5")]
    diffs = {"schedules": {"s1": {"kind": "staff", "unit": "cardiologie"},
                           "s2": {"kind": "staff", "unit": "cardiologie"}},
             "diffs": {"care-1": {"cardiologie": {"baseline": "downtime", "baseline_as_of": 99.0, "since": since,
                                                  "changes": [{"schedule_id": "s1", "current_version": 3}]}}}}
    verdict = check_schedule_staleness("s", writes, diffs)
    assert verdict.outcome.value == "fail" and verdict.evidence["expected"] == 2  # the write at 90 s is in the snapshot
    assert verdict.evidence["missing"][0]["schedule"] == "s2"
    diffs["diffs"]["care-1"]["cardiologie"]["changes"].append({"schedule_id": "s2", "current_version": 6})
    assert check_schedule_staleness("s", writes, diffs).outcome.value == "pass"
    assert check_schedule_staleness("s", writes[:1], diffs).outcome.value == "unknown"  # nothing after it
    assert check_schedule_staleness("s", writes, None).outcome.value == "unknown"


def test_an_order_for_a_patient_registered_in_downtime_must_land_on_the_patient_it_became() -> None:
    reg_key = "Patient?identifier=urn:hchaos:care:registration|r{}"

    def registration(n: int) -> RequestRecord:
        return RequestRecord(100.0 + n, 0.01, "load", "care", "care: POST /patients", True, 202, mode="downtime",
                             as_of=90.0, downtime_id=f"DT-P-care-1-{n:06d}", patient=f"DT-P-care-1-{n:06d}",
                             write_key=reg_key.format(n))

    def became(n: int, patient_id: str) -> ReadBack:
        return ReadBack(reg_key.format(n), (FoundResource(patient_id, "1", None),))

    order = _queued(7, 110.0, patient="DT-P-care-1-000001")
    right = readback_table([became(1, "perm1"), became(2, "perm2"),
                            _found(7, ("m7", None, True), subject="Patient/perm1")]).lazy()
    records = [registration(1), registration(2), order]
    verdict = check_patient_identity("i", records, right)
    assert verdict.outcome.value == "pass", verdict.summary
    wrong = readback_table([became(1, "perm1"), became(2, "perm2"),
                            _found(7, ("m7", None, True), subject="Patient/perm2")]).lazy()
    verdict = check_patient_identity("i", records, wrong)
    assert verdict.outcome.value == "fail" and verdict.evidence["wrong_patient"][0]["expected"] == "Patient/perm1"
    merged = readback_table([became(1, "perm1"), became(2, "perm1"),
                             _found(7, ("m7", None, True), subject="Patient/perm1")]).lazy()
    verdict = check_patient_identity("i", records, merged)
    assert verdict.outcome.value == "fail" and "two registrations" in verdict.summary


def test_lab_turnaround_baseline_leaves_out_results_the_fault_caught_in_flight() -> None:
    """A result sent in the steady state but still queued when the fault began waits for the
    outage to end: it measures the outage, not the steady state, and must not inflate the
    baseline (it made the flagship's p95 ratio < 1 in 2 runs of 8)."""
    from harness.checks.degraded import check_lab_turnaround
    from harness.checks.windows import Window

    baseline, outage = Window(0, 100), Window(100, 200)
    sent = [result(1, 10), result(2, 20), result(3, 99.9), result(4, 110), result(5, 120)]
    table = readback_table([arrived(1, 10.5), arrived(2, 20.5), arrived(3, 201),  # caught by the fault
                            arrived(4, 115), arrived(5, 125)]).lazy()
    verdict = check_lab_turnaround("l", sent, table, baseline, outage, None)
    assert verdict.evidence["baseline"]["results"] == 2 and verdict.evidence["baseline"]["p95"] == 0.5
    assert verdict.evidence["baseline_in_flight_at_fault"] == 1
    assert verdict.evidence["p95_ratio"] == 10.0
