"""The ledger on hand-made writes and read-backs: each category, and no data = unknown."""

from __future__ import annotations

from harness.checks.ledger import check_ledger
from harness.readback import FoundResource, ReadBack
from harness.timeline import RequestRecord

KEY = "Observation?identifier=urn:hchaos:load|r-0-1-{}"


def _write(n: int, ok: bool = True, resource_id: str | None = None, version: str = "1") -> RequestRecord:
    return RequestRecord(float(n), 0.01, "load", "ehr", "ehr: POST Observation", ok,
                         status=201 if ok else None, error=None if ok else "timeout",
                         resource_id=(resource_id or f"Observation/o{n}") if ok else None,
                         version=version if ok else None, served_by="ehr-a", write_key=KEY.format(n))


def _found(n: int, *ids: str, version: str = "1") -> ReadBack:
    return ReadBack(KEY.format(n), tuple(FoundResource(i, version, "ehr-b#2") for i in ids))


def test_every_category_is_listed_with_ids() -> None:
    writes = [_write(1), _write(2), _write(3), _write(4, version="3"), _write(5, ok=False), _write(6)]
    readback = {r.key: r for r in [
        _found(1, "o1"),                      # kept
        _found(2),                            # lost
        _found(3, "o3", "o3bis"),             # duplicated
        _found(4, "o4", version="2"),         # stale: acknowledged at 3
        _found(5, "o5"),                      # unexpected: the client saw a timeout
        ReadBack(KEY.format(6), error="http-503"),  # indeterminate
    ]}
    verdict = check_ledger("ledger", writes, readback)
    e = verdict.evidence
    assert verdict.outcome.value == "fail"
    assert [x["resource_id"] for x in e["lost"]] == ["Observation/o2"] and e["lost"][0]["served_by"] == "ehr-a"
    assert e["duplicated"][0]["ids"] == ["Observation/o3", "Observation/o3bis"]
    assert e["stale"] == [{"key": KEY.format(4), "resource_id": "Observation/o4", "acknowledged_version": "3",
                           "found_version": "2", "t": 4.0}]
    assert e["unexpected"][0]["ids"] == ["Observation/o5"] and e["unexpected"][0]["errors"] == ["timeout"]
    assert e["indeterminate"] == [KEY.format(6)]
    assert verdict.measured == "5 acknowledged: 1 lost, 1 duplicated, 1 stale, 1 unexpected"


def test_all_kept_passes_and_unexpected_alone_does_not_fail_by_default() -> None:
    writes = [_write(1), _write(2, ok=False)]
    readback = {r.key: r for r in [_found(1, "o1"), _found(2, "o2")]}
    assert check_ledger("l", writes, readback).outcome.value == "pass"
    assert check_ledger("l", writes, readback, fail_on_unexpected=True).outcome.value == "fail"


def test_no_readback_or_no_acknowledged_write_is_unknown() -> None:
    assert check_ledger("l", [_write(1)], None).outcome.value == "unknown"
    assert check_ledger("l", [_write(1, ok=False)], {KEY.format(1): _found(1)}).outcome.value == "unknown"


def test_readback_round_trips_through_its_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from harness.readback import read_readback, write_readback

    results = [_found(1, "o1"), ReadBack(KEY.format(2), error="http-503")]
    write_readback(tmp_path / "readback.jsonl", results)
    assert read_readback(tmp_path / "readback.jsonl") == {r.key: r for r in results}
    assert read_readback(tmp_path / "missing.jsonl") is None


def test_an_hl7_result_acknowledged_by_the_engine_is_lost_only_if_nothing_carries_its_id() -> None:
    key = "DiagnosticReport?identifier=urn:hchaos:hl7:msh-10|{}"

    def oru(n: int) -> RequestRecord:
        return RequestRecord(float(n), 0.01, "load", "messaging", "messaging: ORU^R01", True, message_id=f"M{n}",
                             ack_code="AA", served_by="msg-a", write_key=key.format(f"M{n}"))

    readback = {key.format("M1"): ReadBack(key.format("M1"), (FoundResource("dr1", "1", "ehr-a#1"),)),
                key.format("M2"): ReadBack(key.format("M2"))}
    verdict = check_ledger("l", [oru(1), oru(2)], readback)
    assert verdict.outcome.value == "fail"
    assert [x["message_id"] for x in verdict.evidence["lost"]] == ["M2"]


def test_reads_that_saw_less_than_an_acknowledged_write_are_stale_reads() -> None:
    def read(t: float, status: int, version: str | None = None) -> RequestRecord:
        ok = status == 200
        return RequestRecord(t, 0.01, "load", "ehr", "ehr: GET Observation/{id} (read back)", ok, status=status,
                             error=None if ok else f"http-{status}", resource_id="Observation/o1", version=version,
                             served_by="ehr-b")

    writes = [_write(1, version="2")]
    readback = {KEY.format(1): _found(1, "o1", version="2")}
    before_ack = read(0.5, 404)
    fine = read(2, 200, "2")
    older = read(3, 200, "1")
    missing = read(4, 404)
    verdict = check_ledger("l", [*writes, before_ack, fine, older, missing], readback)
    assert verdict.outcome.value == "fail"
    assert [(r["t"], r["read"]) for r in verdict.evidence["stale_reads"]] == [(3, "version 1"), (4, "not found")]


def test_an_id_found_under_a_key_of_another_type_does_not_count() -> None:
    # acknowledged as Patient/o1 but the key searches Observations: an Observation o1 is not it
    verdict = check_ledger("l", [_write(1, resource_id="Patient/o1")], {KEY.format(1): _found(1, "o1")})
    assert verdict.outcome.value == "fail"
    assert [x["resource_id"] for x in verdict.evidence["lost"]] == ["Patient/o1"]


def test_counts_are_complete_when_the_lists_are_cut() -> None:
    from harness.checks.ledger import EVIDENCE_LIMIT
    n = EVIDENCE_LIMIT + 50
    writes = [_write(i) for i in range(n)]
    verdict = check_ledger("l", writes, {KEY.format(i): _found(i) for i in range(n)})  # every one lost
    assert verdict.evidence["lost_count"] == n and len(verdict.evidence["lost"]) == EVIDENCE_LIMIT
    assert [x["t"] for x in verdict.evidence["lost"]] == [float(i) for i in range(EVIDENCE_LIMIT)]  # by time


def test_one_computation_serves_every_service() -> None:
    from dataclasses import replace

    from harness.checks.ledger import ledger_verdict
    from harness.checks.ledger_tables import ledger_tables
    ehr = [_write(1), _write(2)]
    results = [replace(_write(3, resource_id=None), service="messaging", operation="messaging: ORU^R01",
                       resource_id=None, message_id="M3", ack_code="AA")]
    readback = {KEY.format(1): _found(1, "o1"), KEY.format(2): _found(2), KEY.format(3): _found(3, "dr3")}
    tables = ledger_tables(ehr + results, readback)
    assert tables.count("lost") == 1 and tables.count("acknowledged") == 3
    ehr_verdict = ledger_verdict("l", tables.of_service("ehr"))
    assert ehr_verdict.outcome.value == "fail" and ehr_verdict.evidence["lost"][0]["resource_id"] == "Observation/o2"
    messaging = ledger_verdict("l", tables.of_service("messaging"))
    assert messaging.outcome.value == "pass" and messaging.evidence["acknowledged"] == 1
