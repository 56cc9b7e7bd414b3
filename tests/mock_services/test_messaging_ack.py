"""Validation verdicts and the ACK message (codes per mode, ERR segments), without sockets."""

from __future__ import annotations

import hl7
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


def ack_of(text: str, code: str = "AR") -> str:
    message = parse(text)
    return build_ack(message.header, code, validate(message), "new-1")


@pytest.mark.parametrize(
    ("version", "in_ack"),
    [
        ("3.0", "2.5.1"),
        ("2.0", "2.5.1"),
        ("2.5.9", "2.5.1"),
        ("v2", "2.5.1"),
        ("", "2.5.1"),
        ("2.5.1^FRA^x", "2.5.1"),
        ("2.3", "2.3"),
        ("2.7.1", "2.7.1"),
        ("2.9", "2.9"),
    ],
)
def test_ack_carries_a_published_version(version: str, in_ack: str) -> None:
    ack = hl7.parse(ack_of(samples.oru("V-1", version=version)))
    assert str(ack.segment("MSH")[12]) == in_ack


@pytest.mark.parametrize("version", ["3.0", "2.0", "2.5.9", "v2", "2.10", "2.5.1.1"])
def test_unpublished_versions_are_rejected_with_203(version: str) -> None:
    assert issues_of(samples.oru("V-2", version=version))[0] == (203, "reject", "MSH", 1, 12)


@pytest.mark.parametrize(
    ("message_type", "in_ack"),
    [
        ("ORU^\\S\\x", "ACK"),  # an escaped component separator: "^x" once decoded
        ("ORU^R\\X0D\\", "ACK"),
        ("ORU^r01", "ACK^R01^ACK"),
        ("SIU^S12", "ACK^S12^ACK"),
        ("ORU", "ACK"),
    ],
)
def test_ack_message_type_echoes_only_a_trigger_event_code(message_type: str, in_ack: str) -> None:
    ack = ack_of(samples.oru("T-1").replace("ORU^R01^ORU_R01", message_type, 1))
    assert str(hl7.parse(ack).segment("MSH")[9]) == in_ack
    assert parse(ack).header.field(9) == in_ack


@pytest.mark.parametrize(("processing", "in_ack"), [("Q", "P"), ("T", "T"), ("d", "D"), ("P^x\\F\\", "P"), ("", "P")])
def test_ack_processing_id_is_p_t_or_d(processing: str, in_ack: str) -> None:
    ack = ack_of(samples.oru("P-1").replace("|P|2.5.1", f"|{processing}|2.5.1", 1))
    assert parse(ack).header.field(11) == in_ack


@pytest.mark.parametrize("separator", ["^", "~", "\t", " ", "\x01"])
def test_ack_for_unusable_separators_uses_the_standard_ones(separator: str) -> None:
    text = "MSH" + separator + samples.oru("S-1")[4:].replace("|", separator)
    message = parse(text)
    issues = validate(message)
    assert issues and issues[0].position in (1, 2) and issues[0].severity == "reject"
    ack = build_ack(message.header, "AR", issues, "new-1")
    assert ack.startswith("MSH|^~\\&|")
    parsed = hl7.parse(ack)
    assert str(parsed.segment("MSA")[1]) == "AR"
    if separator not in "^~":  # (those two also split the fields differently)
        assert str(parsed.segment("MSA")[2]) == "S-1"
        assert str(parsed.segment("MSH")[5]) == "LIS"


def test_copied_fields_follow_the_ack_separators() -> None:
    # MSH-1 '#', components '*': MSH-3 "LAB*1.2.3*ISO" must read as LAB^1.2.3^ISO in a standard ACK
    text = "MSH#*~\\&#LAB*1.2.3*ISO#HOSP#HCHAOS#HOSP#20240803101530##ORU*R01#ID^9#P#2.5.1\rPID###X"
    message = parse(text)
    ack = parse(build_ack(message.header, "AR", validate(message), "new-1"))
    assert ack.separators.field == "#"  # usable separators are kept...
    text = text.replace("#", "\t")
    message = parse(text)
    ack = parse(build_ack(message.header, "AR", validate(message), "new-1"))
    assert ack.separators.field == "|"  # ...unusable ones replaced, and the copied fields re-encoded
    assert ack.header.field(5) == "LAB^1.2.3^ISO"
    msa = ack.first("MSA")
    assert msa is not None and msa.field(2) == "ID\\S\\9" and msa.value(2) == "ID^9"


def test_error_texts_escape_control_characters() -> None:
    message = parse(samples.oru("C-3").replace("ORU^R01^ORU_R01", "Z\\X1C\\Z\\X0B\\Z^R01", 1))
    ack = build_ack(message.header, "AR", validate(message), "new-1")
    assert not any(ord(c) < 0x20 and c != "\r" for c in ack), repr(ack)
    err = parse(ack).first("ERR")
    assert err is not None and "Z\x1cZ\x0bZ" in err.value(8)  # escaped, so it decodes back


@pytest.mark.parametrize("blank", ["", " ", "   ", "\t "])
def test_blank_control_id_is_a_reject_naming_msh_10(blank: str) -> None:
    assert issues_of(samples.oru(blank)) == [(101, "reject", "MSH", 1, 10)]


def test_keys_longer_than_hl7_allows_are_refused() -> None:
    # MSH-10 and PID-3 end up in URLs and headers (FHIR searches, If-None-Exist): a strict
    # server refuses 60 kB ones, and the acknowledged message would never be delivered
    assert issues_of(samples.oru("C" * 199)) == []
    assert issues_of(samples.oru("C" * 200)) == [(104, "reject", "MSH", 1, 10)]
    assert issues_of(samples.adt("A01", "L-1", mrn="M" * 200)) == [(104, "error", "PID", 1, 3)]
    authority = samples.adt("A01", "L-2").replace("1.2.250.1.213.1.4.8", "1" * 200, 1)
    assert issues_of(authority) == [(104, "error", "PID", 1, 3)]


def test_control_id_with_control_characters_is_a_reject() -> None:
    assert issues_of(samples.oru("ID\x00\x01")) == [(102, "reject", "MSH", 1, 10)]


@pytest.mark.parametrize("value", ["9" * 40, "1" * 17 + "." + "5" * 20])
def test_a_number_no_json_can_carry_is_a_data_type_error(value: str) -> None:
    text = samples.oru("N-1", results=[samples.LabResult("2345-7", "Glucose", value, "mmol/L")])
    assert issues_of(text) == [(102, "error", "OBX", 1, 5)]


def test_blank_codes_of_requests_and_results_are_missing() -> None:
    blank = samples.oru("B-1", results=[samples.LabResult("   ", "", "5.4", "mmol/L")])
    assert issues_of(blank) == [(101, "error", "OBX", 1, 3)]
    assert issues_of(samples.oru("B-2", panel=" ^Panel^LN")) == [(101, "error", "OBR", 1, 4)]


def test_results_before_their_request_and_two_patients_are_content_errors() -> None:
    lines = samples.oru("O-1").split("\r")  # MSH PID OBR OBX OBX
    early = "\r".join([lines[0], lines[1], lines[3], lines[2], lines[4]])
    assert issues_of(early) == [(100, "error", "OBX", 1, None)]
    two = "\r".join([*lines, samples.pid("OTHER1"), lines[2].replace("|1|", "|2|", 1), lines[3]])
    assert issues_of(two) == [(100, "error", "PID", 2, None)]
    late_patient = "\r".join([lines[0], lines[2], lines[1], lines[3], lines[4]])  # whose results are these?
    assert issues_of(late_patient) == [(100, "error", "PID", 1, None)]
