"""Validation verdicts and the ACK message (codes per mode, ERR segments), without sockets."""

from __future__ import annotations

import pytest

from mock_services.messaging import samples
from mock_services.messaging.ack import AckPolicy, ControlIds, Outcome, build_ack, outcome_of
from mock_services.messaging.hl7v2 import parse
from mock_services.messaging.validation import ErrorCode, validate


def issues_of(text: str) -> list[tuple[int, str, str, int, int | None]]:
    return [(int(i.code), i.severity, i.segment, i.sequence, i.position) for i in validate(parse(text))]


@pytest.mark.parametrize(
    "text",
    [
        samples.adt("A01", "1"),
        samples.adt("A03", "2"),
        samples.adt("A08", "3"),
        samples.orm("4"),
        samples.oml("5"),
        samples.oru("6"),
    ],
)
def test_supported_messages_are_valid(text: str) -> None:
    assert validate(parse(text)) == []


def test_missing_pid_3_is_a_content_error() -> None:
    assert issues_of(samples.adt("A01", "1", mrn="")) == [(101, "error", "PID", 1, 3)]


def test_results_without_obx_and_with_a_non_numeric_value() -> None:
    no_obx = samples.oru("1", results=())
    assert issues_of(no_obx) == [(100, "error", "OBX", 1, None)]
    bad = samples.oru("2", results=[samples.LabResult("2345-7", "Glucose", "high!", "mmol/L")])
    assert issues_of(bad) == [(102, "error", "OBX", 1, 5)]


def test_orders_need_orc() -> None:
    text = "\r".join(line for line in samples.orm("1").split("\r") if not line.startswith("ORC"))
    assert issues_of(text) == [(100, "error", "ORC", 1, None)]


@pytest.mark.parametrize(
    ("replace", "code"),
    [
        ("ORU^R01^ORU_R01", 200),  # SIU^S12: unsupported type
        ("ADT^A01^ADT_A01", 201),  # ADT^A04: unsupported event
        ("|2.5.1", 203),  # version 3.0
        ("|P|", 202),  # processing id Q
    ],
)
def test_header_rejections(replace: str, code: int) -> None:
    text = samples.adt("A01", "1") if replace.startswith("ADT") else samples.oru("1")
    swap = {"ORU^R01^ORU_R01": "SIU^S12", "ADT^A01^ADT_A01": "ADT^A04^ADT_A01", "|2.5.1": "|3.0", "|P|": "|Q|"}
    found = issues_of(text.replace(replace, swap[replace], 1))
    assert found[0][:3] == (code, "reject", "MSH")


def test_outcomes_and_codes_per_mode() -> None:
    original, enhanced = AckPolicy(enhanced=False), AckPolicy(enhanced=True, accept_ack_type="AL")
    table = {o: (original.code(o), enhanced.code(o)) for o in Outcome}
    assert table == {
        Outcome.ACCEPTED: ("AA", "CA"),
        Outcome.ERROR: ("AE", "CE"),
        Outcome.REJECTED: ("AR", "CR"),
        Outcome.FAILED: ("AR", "CE"),
    }
    assert outcome_of([]) is Outcome.ACCEPTED


@pytest.mark.parametrize(
    ("accept", "sends_on_success", "sends_on_error"),
    [("AL", True, True), ("ER", False, True), ("SU", True, False), ("NE", False, False)],
)
def test_enhanced_mode_send_rules(accept: str, sends_on_success: bool, sends_on_error: bool) -> None:
    policy = AckPolicy.from_header(parse(samples.oru("1", accept_ack=accept, application_ack="NE")).header)
    assert policy.enhanced
    assert policy.should_send(Outcome.ACCEPTED) is sends_on_success
    assert policy.should_send(Outcome.ERROR) is sends_on_error


def test_original_mode_when_msh_15_and_16_are_empty() -> None:
    assert AckPolicy.from_header(parse(samples.oru("1")).header) == AckPolicy(enhanced=False)
    assert AckPolicy.from_header(parse(samples.oru("1", application_ack="AL")).header).accept_ack_type == "AL"


def test_ack_message_fields() -> None:
    message = parse(samples.adt("A01", "CTRL-9", mrn=""))
    issues = validate(message)
    ack = parse(build_ack(message.header, "AE", issues, "new-1"))
    msh, msa, err = ack.header, ack.first("MSA"), ack.first("ERR")
    assert (msh.field(3), msh.field(4), msh.field(5), msh.field(6)) == ("HCHAOS", "HOSP", "LIS", "HOSP")
    assert msh.field(9) == "ACK^A01^ACK" and msh.field(10) == "new-1"
    assert (msh.field(11), msh.field(12)) == ("P", "2.5.1")
    assert msa is not None and (msa.value(1), msa.value(2)) == ("AE", "CTRL-9")
    assert err is not None
    assert err.field(2) == "PID^1^3"
    assert (err.value(3, 1), err.value(3, 3), err.value(4)) == ("101", "HL70357", "E")
    assert "PID-3" in err.value(8)


def test_ack_before_v2_5_uses_err_1() -> None:
    message = parse(samples.adt("A01", "C1", mrn="", version="2.3"))
    ack = parse(build_ack(message.header, "AE", validate(message), "x"))
    err = ack.first("ERR")
    assert err is not None and err.value(1, 1) == "PID" and err.value(1, 3) == "3" and err.value(1, 4, 1) == "101"


def test_error_text_is_escaped() -> None:
    escaped_value = "5\\F\\\\S\\\\T\\"  # OBX-5 "5|^&" as it travels
    message = parse(samples.oru("C2", results=[samples.LabResult("1", "x", escaped_value, "u")]))
    assert message.all("OBX")[0].value(5) == "5|^&"
    ack = build_ack(message.header, "AE", validate(message), "x")
    err = parse(ack).first("ERR")
    assert err is not None and "5|^&" in err.value(8)


def test_control_ids_are_unique_and_short() -> None:
    ids = ControlIds()
    made = {ids.next() for _ in range(1000)}
    assert len(made) == 1000 and max(len(i) for i in made) <= 20
    assert ErrorCode.UNSUPPORTED_VERSION_ID.text == "Unsupported version id"
