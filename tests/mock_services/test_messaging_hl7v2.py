"""The HL7 v2 parser: separators, numbering, repetitions, components, escapes, errors."""

from __future__ import annotations

import pytest

from mock_services.messaging import samples
from mock_services.messaging.hl7v2 import Separators, Unreadable, parse


def test_msh_numbering_follows_the_standard() -> None:
    message = parse(samples.oru("MSG42"))
    msh = message.header
    assert msh.field(1) == "|" and msh.field(2) == "^~\\&"
    assert msh.field(3) == "LIS" and msh.field(9) == "ORU^R01^ORU_R01" and msh.field(12) == "2.5.1"
    assert message.control_id == "MSG42"
    assert msh.value(9, 2) == "R01"


def test_segments_components_subcomponents_and_occurrences() -> None:
    message = parse(samples.oru("M1"))
    pid = message.first("PID")
    assert pid is not None
    assert pid.value(3, 1) == "MRN00000001"
    assert pid.value(3, 4, 2) == "1.2.250.1.213.1.4.8"  # CX-4 is an HD: subcomponents
    assert pid.value(3, 5) == "MR"
    results = message.all("OBX")
    assert [obx.sequence for obx in results] == [1, 2]
    assert results[1].value(3, 1) == "2823-3"
    assert pid.value(99) == "" and pid.value(3, 9) == ""


def test_repetitions() -> None:
    message = parse("MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\rPID|||ID1^^^X^MR~ID2^^^Y^PI")
    pid = message.first("PID")
    assert pid is not None
    assert pid.repetitions(3) == ["ID1^^^X^MR", "ID2^^^Y^PI"]
    assert pid.value(3, 1, repetition=2) == "ID2"


def test_lf_and_crlf_segment_separators_are_accepted() -> None:
    for separator in ("\n", "\r\n"):
        message = parse(samples.oru("M1").replace("\r", separator))
        assert [s.name for s in message.segments] == ["MSH", "PID", "OBR", "OBX", "OBX"]


def test_custom_separators_from_msh() -> None:
    message = parse("MSH#*~!@#A#B#C#D###ADT*A08#77#P#2.4\rPID###ID9*xx*yy*AUTH")
    assert message.separators == Separators("#", "*", "~", "!", "@")
    assert message.header.value(9, 2) == "A08"
    pid = message.first("PID")
    assert pid is not None and pid.value(3, 4) == "AUTH"


def test_escape_sequences_round_trip() -> None:
    seps = Separators()
    text = "a|b^c&d~e\\f\nline"
    escaped = seps.escape_text(text)
    assert "|" not in escaped and "^" not in escaped and "\n" not in escaped
    assert seps.unescape(escaped) == text
    assert seps.unescape("\\X41\\\\H\\bold\\N\\") == "Abold"
    assert seps.unescape("dangling\\E") == "dangling\\E"


def test_value_unescapes() -> None:
    message = parse("MSH|^~\\&|A|B|C|D|||ORU^R01|1|P|2.5\rOBX|1|ST|X^Y||5 \\S\\ 10")
    obx = message.first("OBX")
    assert obx is not None and obx.value(5) == "5 ^ 10"


@pytest.mark.parametrize("text", ["", "garbage", "PID|1||X", "MSHa^~\\&|x", "MSH", "MSH\r|x", "\r\nMSH"])
def test_unreadable_without_an_msh_header(text: str) -> None:
    with pytest.raises(Unreadable):
        parse(text)


@pytest.mark.parametrize(
    "text", ["MSH|^~\\&|A|B|C|D|||ADT^A01", "MSH|^~\\&|A|B|C|D|||ADT^A01||P", "MSH|", "MSH|^~\\&|A|B|C|D|||X|   |P"]
)
def test_a_header_without_a_control_id_is_readable(text: str) -> None:
    # validation refuses it with an ACK naming MSH-10: the sender learns why
    assert parse(text).control_id.strip() == ""


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("MSH\t^~\\&\tA\tB\tC\tD\t\t\tADT^A01\tID1\tP\t2.5", 1),
        ("MSH ^~\\& A B C D   ADT^A01 ID1 P 2.5", 1),
        ("MSH\x01^~\\&\x01A", 1),
        ("MSH~^~\\&~A", 1),  # MSH-2 is "^", completed with defaults that contain the field separator
        ("MSH|^~\\\x02|A|B|C|D|||ADT^A01|ID1|P|2.5", 2),
        ("MSH|^~\\é|A|B|C|D|||ADT^A01|ID1|P|2.5", 2),
    ],
)
def test_unusable_separators_are_a_problem(text: str, position: int) -> None:
    message = parse(text)
    assert message.separators.usable is (position == 2)  # bad MSH-2: the defaults are used instead
    assert position in [p.position for p in message.problems if p.segment == "MSH"]
    assert parse(samples.oru("OK")).separators.usable


def test_transcode_between_separators() -> None:
    custom, standard = Separators("#", "*", "~", "!", "@"), Separators()
    assert custom.transcode("LAB*1.2.3*ISO", standard) == "LAB^1.2.3^ISO"
    assert custom.transcode("ID^9|x", standard) == "ID\\S\\9\\F\\x"  # literal there, delimiters here
    assert custom.transcode("a!F!b~c@d", standard) == "a#b~c&d"  # !F! meant '#', a plain character here
    assert standard.transcode("a\\F\\b", standard) == "a\\F\\b"


def test_escape_text_escapes_control_characters() -> None:
    seps = Separators()
    escaped = seps.escape_text("a\x1cb\x0bc\x00\x7f\td")
    assert escaped == "a\\X1C\\b\\X0B\\c\\X00\\\\X7F\\\\X09\\d"
    assert seps.unescape(escaped) == "a\x1cb\x0bc\x00\x7f\td"


def test_bad_lines_are_problems_not_exceptions() -> None:
    message = parse("MSH|^~\\&|A|B|C|D|||ADT^A01|ID7|P|2.5\rPID|1||X\rthis is not a segment\rpv1|x")
    assert message.control_id == "ID7"
    assert [p.sequence for p in message.problems] == [3, 4]
    assert [s.name for s in message.segments] == ["MSH", "PID"]


def test_invalid_encoding_characters_are_a_problem() -> None:
    message = parse("MSH|^^\\&|A|B|C|D|||ADT^A01|ID8|P|2.5\rPID|1||X")
    assert message.control_id == "ID8"
    assert message.problems and message.problems[0].position == 2
