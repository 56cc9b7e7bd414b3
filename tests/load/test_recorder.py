"""The recorder's pure logic: Locust request events -> timeline record dicts, error kinds,
the records file, the summary; and the other pure pieces of the Locust side (stages, weights,
the loopback guard). Never imports Locust or gevent (they monkey-patch at import)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.load.plan import LoadPlan, PersonaPlan, Stage
from harness.load.users.planning import integer_weights, stage_at
from harness.load.users.recorder import (
    RecordsFile,
    build_summary,
    classify_error,
    encode_record,
    parse_location,
    request_record,
    write_summary,
)
from harness.load.users.safety import UnsafeTarget, check_targets, is_loopback
from harness.timeline.events import RequestRecord, record_from_dict, record_to_dict


class FakeHeaders(dict[str, Any]):
    """Case-insensitive like geventhttpclient's Headers (which may give a list for repeats)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        for name, value in self.items():
            if name.lower() == key.lower():
                return value
        return default


class FakeResponse:
    def __init__(self, status: int, headers: dict[str, Any] | None = None) -> None:
        self.status_code = status
        self.headers = FakeHeaders(headers or {})


# Stand-ins named like the geventhttpclient / Locust / gevent classes the recorder recognises by name.
class RetriesExceeded(Exception):
    def __init__(self, original: BaseException) -> None:
        super().__init__("retries exceeded")
        self.original = original


class HTTPConnectionClosed(Exception):
    pass


class EmptyResponse(Exception):
    pass


class LocustBadStatusCode(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"code={code}")
        self.code = code


class CatchResponseError(Exception):
    pass


class Timeout(BaseException):  # gevent.Timeout is a BaseException
    pass


def record(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "name": "ehr: GET Patient/{id}",
        "response_time": 12.5,
        "start_time": 1_700_000_000.25,
        "context": {"service": "ehr", "persona": "nurse", "user": "0-1"},
        "exception": None,
        "response": FakeResponse(200, {"X-Served-By": "ehr-a", "X-Datacenter": "dc-a"}),
    }
    arguments.update(overrides)
    return request_record(**arguments)


def test_a_successful_read_becomes_a_request_record_without_none_fields() -> None:
    built = record()
    assert built == {
        "t": 1_700_000_000.25, "duration": 0.0125, "source": "load", "service": "ehr",
        "operation": "ehr: GET Patient/{id}", "ok": True, "kind": "request", "status": 200,
        "served_by": "ehr-a", "datacenter": "dc-a", "persona": "nurse", "user": "0-1",
    }
    assert record_to_dict(record_from_dict(built)) == built


def test_a_fhir_create_carries_type_id_and_version_from_location() -> None:
    location = "http://127.0.0.1:8080/Observation/7ed8cdf8/_history/3"
    built = record(name="ehr: POST Observation (vital signs)",
                   response=FakeResponse(201, {"location": location, "x-served-by": "ehr-b"}))
    assert (built["resource_id"], built["version"], built["served_by"]) == ("Observation/7ed8cdf8", "3", "ehr-b")
    assert "datacenter" not in built
    explicit = record(context={"service": "ehr", "resource_id": "Patient/p1", "version": "2"},
                      response=FakeResponse(200, {"Location": location}))
    assert (explicit["resource_id"], explicit["version"]) == ("Patient/p1", "2")


def test_an_mllp_message_has_no_status_and_names_its_engine_and_ack() -> None:
    context = {"service": "messaging", "persona": "lab_system", "user": "1-4", "message_id": "LAB12-1-4-A",
               "ack_code": "AA", "served_by": "msg-b", "datacenter": "dc-b"}
    built = record(name="messaging: ORU^R01", context=context, response=None)
    assert "status" not in built and built["ok"] is True
    assert (built["message_id"], built["ack_code"], built["served_by"], built["datacenter"]) == (
        "LAB12-1-4-A", "AA", "msg-b", "dc-b")
    rejected = record(name="messaging: ORU^R01", response=None, exception=ValueError("ACK AE"),
                      context={**context, "ack_code": "AE", "error": "ack-AE"})
    assert (rejected["ok"], rejected["error"], rejected["ack_code"]) == (False, "ack-AE", "AE")
    assert isinstance(record_from_dict(rejected), RequestRecord)


def test_stow_records_carry_the_instance_uid_even_when_the_store_failed() -> None:
    built = record(name="imaging: POST /studies (STOW-RS)", exception=TimeoutError("timed out"), response=None,
                   context={"service": "imaging", "instance_uid": "2.25.123"})
    assert (built["ok"], built["error"], built["instance_uid"]) == (False, "timeout", "2.25.123")


@pytest.mark.parametrize(("exception", "status", "kind"), [
    (None, 200, None),
    (RetriesExceeded(TimeoutError("timed out")), None, "timeout"),
        (RetriesExceeded(EmptyResponse()), None, "disconnected"),
    (Timeout(), None, "timeout"),
    (ConnectionRefusedError(111, "Connection refused"), None, "connect"),
    (ConnectionResetError(104, "reset"), None, "disconnected"),
    (BrokenPipeError(32, "broken pipe"), None, "disconnected"),
    (HTTPConnectionClosed("connection closed."), None, "disconnected"),
    (LocustBadStatusCode(503), 503, "http-503"),
    (CatchResponseError("HTTP 404, expected 200"), 404, "http-404"),
    (socket.gaierror(-2, "Name or service not known"), None, "dns"),
    (OSError(113, "No route to host"), None, "connect"),
    (RuntimeError("something else"), None, "error"),
])
def test_error_kinds(exception: BaseException | None, status: int | None, kind: str | None) -> None:
    assert classify_error(exception, status) == kind


def test_the_personas_own_error_kind_wins_and_every_failure_is_a_valid_record() -> None:
    bad_body = record(exception=CatchResponseError("unexpected body"),
                      context={"service": "ehr", "error": "bad-body"}, response=FakeResponse(200))
    assert (bad_body["ok"], bad_body["error"], bad_body["status"]) == (False, "bad-body", 200)
    no_answer = record(exception=ConnectionRefusedError(111, "refused"), response=FakeResponse(0))
    assert "status" not in no_answer and no_answer["error"] == "connect"
    unavailable = record(exception=LocustBadStatusCode(503), response=FakeResponse(503, {"x-served-by": "ehr-b"}))
    assert (unavailable["error"], unavailable["served_by"]) == ("http-503", "ehr-b")
    for built in (bad_body, no_answer, unavailable):
        assert record_to_dict(record_from_dict(built)) == built


def test_service_falls_back_to_the_request_name_and_repeated_headers_take_the_first() -> None:
    built = record(context={}, response=FakeResponse(200, {"X-Served-By": ["pacs-a", "pacs-b"]}),
                   name="imaging: GET /studies?PatientID")
    assert (built["service"], built["served_by"]) == ("imaging", "pacs-a")


@pytest.mark.parametrize(("location", "expected"), [
    ("http://h/Observation/abc/_history/1", ("Observation/abc", "1")),
    ("http://h/fhir/MedicationAdministration/a.b-c/_history/12/", ("MedicationAdministration/a.b-c", "12")),
    ("http://h/Observation/abc", None),
    (None, None),
    ("", None),
])
def test_parse_location(location: str | None, expected: tuple[str, str] | None) -> None:
    assert parse_location(location) == expected


def test_records_file_appends_json_lines_and_counts_them(tmp_path: Path) -> None:
    path = tmp_path / "run" / "load-requests.jsonl"
    records_file = RecordsFile(path)
    records_file.append([])
    assert not path.exists()
    records_file.append([encode_record(record()), encode_record(record(name="ehr: GET Encounter?patient"))])
    records_file.append([encode_record(record())])
    records_file.close()
    lines = path.read_text().splitlines()
    assert records_file.written == len(lines) == 3
    assert [record_from_dict(json.loads(line)).operation for line in lines][1] == "ehr: GET Encounter?patient"


def test_summary_is_written_atomically(tmp_path: Path) -> None:
    summary = build_summary(requests=5, failures=1, recorded=5, workers=2, recording=True,
                            by_name={"b": {"requests": 2, "failures": 1}, "a": {"requests": 3, "failures": 0}})
    path = tmp_path / "load-summary.json"
    write_summary(path, summary)
    assert json.loads(path.read_text()) == {
        "locust_requests": 5, "locust_failures": 1, "recorded": 5, "workers": 2, "recording": True,
        "by_name": {"a": {"requests": 3, "failures": 0}, "b": {"requests": 2, "failures": 1}}}
    assert [p.name for p in tmp_path.iterdir()] == ["load-summary.json"]


def test_stage_at_follows_the_stages_and_ends_after_the_last() -> None:
    stages = [Stage(10, 5, 1.0), Stage(20, 8, 2.0), Stage(25, 0, 4.0)]
    assert stage_at(stages, 0) == (5, 1.0)
    assert stage_at(stages, 9.99) == (5, 1.0)
    assert stage_at(stages, 10) == (8, 2.0)
    assert stage_at(stages, 24.9) == (0, 4.0)
    assert stage_at(stages, 25) is None
    assert stage_at([], 0) is None


def test_integer_weights_keep_ratios() -> None:
    assert integer_weights({"chart_review": 33.0, "vitals_entry": 24.0, "medication_administration": 17.0}) == {
        "chart_review": 33, "vitals_entry": 24, "medication_administration": 17}
    assert integer_weights({"a": 10.0, "b": 6.0, "c": 2.0}) == {"a": 5, "b": 3, "c": 1}
    assert integer_weights({"a": 0.5, "b": 0.25}) == {"a": 2, "b": 1}
    assert integer_weights({"a": 1.0, "b": 0.0001}) == {"a": 1000, "b": 1}
    with pytest.raises(ValueError, match="positive"):
        integer_weights({"a": 0.0})


def _plan(http: dict[str, str], mllp: list[tuple[str, int]] | None = None, **extra: Any) -> LoadPlan:
    return LoadPlan(run_id="r", http_targets=http, mllp_targets=mllp or [],
                    personas={"nurse": PersonaPlan(1, {"chart_review": 1})}, stages=[Stage(1, 1, 1)], extra=extra)


def test_only_loopback_targets_unless_allowed() -> None:
    check_targets(_plan({"ehr": "http://127.0.0.1:8080", "labs": "http://localhost:9"}, [("127.0.0.5", 2575)]))
    check_targets(_plan({"ehr": "http://[::1]:8080"}))
    with pytest.raises(UnsafeTarget, match=r"'10\.1\.2\.3' is not a loopback"):
        check_targets(_plan({"ehr": "http://10.1.2.3:8080"}))
    with pytest.raises(UnsafeTarget, match=r"MLLP target ehr\.example\.org:2575"):
        check_targets(_plan({"ehr": "http://127.0.0.1:1"}, [("ehr.example.org", 2575)]))
    check_targets(_plan({"ehr": "http://10.1.2.3:8080"}, allow_hosts=["10.1.2.3"]))
    with pytest.raises(UnsafeTarget, match="not an http"):
        check_targets(_plan({"ehr": "ftp://127.0.0.1/"}))
    assert is_loopback("127.255.0.1") and not is_loopback("128.0.0.1") and not is_loopback("localhost.example.org")


def test_the_pure_modules_never_import_locust_or_gevent() -> None:
    import harness.load.users.clinical
    import harness.load.users.dicom  # noqa: F401

    assert "locust" not in sys.modules and "gevent" not in sys.modules
