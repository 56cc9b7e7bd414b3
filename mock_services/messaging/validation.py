"""What the engine accepts: message types, versions, required segments and fields.

:func:`validate` turns a parsed message into a list of :class:`Issue` (empty = accept). Each
issue carries its HL7 table 0357 error code, where it is (segment id, occurrence, field) and
a human text, which :mod:`.ack` writes into ERR segments. An issue's ``severity`` decides
the acknowledgment:

* ``reject`` -- the engine will not take this kind of message at all: unsupported message
  type, trigger event, version or processing id, an unreadable structure. Original mode AR,
  enhanced mode CR.
* ``error`` -- a supported message whose content is wrong: a required segment or field is
  missing, a numeric result is not a number. Original mode AE, enhanced mode CE.

Accepted (``MSH-9``): ADT^A01, ADT^A03, ADT^A08, ORM^O01, OML^O21, ORU^R01, a published
HL7 v2 version (``MSH-12.1`` one of :data:`KNOWN_VERSIONS`, HL7 table 0104: 2.1 .. 2.9),
processing id P, T or D (or empty), usable separators (:attr:`.hl7v2.Separators.usable`), and
a message control id (MSH-10) that is not blank, holds no control character and is at most
:data:`MAX_KEY` characters long. MSH-10 (with MSH-3) is the key the engine de-duplicates on
and the one its forwarded resources derive their identifiers from: a blank one would make
every such message a "duplicate" of the first -- acknowledged and dropped. Required content,
kept to what forwarding needs (stricter profiles would reject real-world traffic that Mirth
accepts):

* Every type: at most one PID (one patient per message: results filed under the first PID
  while a second one names another patient would be a patient mix-up).
* ADT: a PID segment with PID-3 (patient identifier list; values and assigning authorities
  at most :data:`MAX_KEY` characters, as everywhere below).
* ORU^R01: PID with PID-3, at least one OBR with OBR-4 (universal service id), at least one
  OBX with OBX-3 (observation identifier), the PID before the first OBR and every OBX after
  one (an OBX before any OBR belongs to no request: it would be acknowledged and never
  filed; results before their PID name no patient); an OBX with a value
  (OBX-5) needs its type (OBX-2), and an NM value must be a number (:func:`is_number`).
* ORM^O01, OML^O21: at least one ORC with ORC-1 (order control); PID-3 if a PID is present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

from mock_services.messaging.hl7v2 import Message, Segment

SUPPORTED_TYPES: dict[str, frozenset[str]] = {
    "ADT": frozenset({"A01", "A03", "A08"}),
    "ORM": frozenset({"O01"}),
    "OML": frozenset({"O21"}),
    "ORU": frozenset({"R01"}),
}
KNOWN_VERSIONS = ("2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2",
                  "2.9")
"""HL7 table 0104 (version id): every published HL7 v2 release."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)\Z")
PROCESSING_IDS = frozenset({"P", "T", "D", ""})
MAX_KEY = 199
"""Longest MSH-10, PID-3.1 and PID-3.4 part (their HL7 v2.7 lengths): these become FHIR search
values, in URLs and headers that a strict server caps (8 KiB for Jetty or Tomcat); a longer
key would be acknowledged and then never delivered."""
MAX_NUMBER = 32
"""Longest NM value accepted (HL7 gives NM 16 characters): a longer one is no lab result, and
some FHIR servers could not carry it (a 400-digit decimal is infinite as a float)."""


def is_number(text: str) -> bool:
    """Whether ``text`` is an HL7 NM value the engine forwards: ``[+-]digits[.digits]``, short."""
    return len(text) <= MAX_NUMBER and _NUMBER.match(text) is not None


class ErrorCode(IntEnum):
    """HL7 table 0357 (message error condition codes) -- the ones this engine uses."""

    SEGMENT_SEQUENCE_ERROR = 100
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE_ERROR = 102
    VALUE_TOO_LONG = 104
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT_CODE = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION_ID = 203
    APPLICATION_INTERNAL_ERROR = 207

    @property
    def text(self) -> str:
        """The table's description (ERR-3.2)."""
        return _CODE_TEXT[self]


_CODE_TEXT = {
    ErrorCode.SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE_ERROR: "Data type error",
    ErrorCode.VALUE_TOO_LONG: "Value too long",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION_ID: "Unsupported version id",
    ErrorCode.APPLICATION_INTERNAL_ERROR: "Application internal error",
}

Severity = Literal["reject", "error"]


@dataclass(frozen=True)
class Issue:
    """One reason not to accept a message: code, location (ERR-2) and text (ERR-8)."""

    code: ErrorCode
    severity: Severity
    segment: str
    sequence: int
    position: int | None
    text: str


def message_type(message: Message) -> tuple[str, str]:
    """(MSH-9.1, MSH-9.2): message code and trigger event, upper-cased."""
    header = message.header
    return header.value(9, 1).strip().upper(), header.value(9, 2).strip().upper()


def validate(message: Message) -> list[Issue]:
    """Every reason to reject or error ``message``, header problems first (empty = accept)."""
    issues = [
        Issue(ErrorCode.SEGMENT_SEQUENCE_ERROR, "reject", p.segment, p.sequence, p.position, p.text)
        for p in message.problems
    ]
    issues += _header_issues(message)
    if issues:
        return issues  # content rules assume a message of a known type
    issues += [
        Issue(ErrorCode.SEGMENT_SEQUENCE_ERROR, "error", "PID", pid.sequence, None, "one patient (PID) per message")
        for pid in message.all("PID")[1:]
    ]
    code, _ = message_type(message)
    if code == "ADT":
        issues += _require_patient_id(message, required=True)
    elif code == "ORU":
        issues += _require_patient_id(message, required=True)
        issues += _results_issues(message)
    else:  # ORM, OML
        issues += _require_patient_id(message, required=False)
        issues += _orders_issues(message)
    return issues


def _header_issues(message: Message) -> list[Issue]:
    header = message.header
    issues: list[Issue] = []
    control_id = message.control_id
    if not control_id.strip():
        text = "MSH-10 (message control id) is " + ("blank" if control_id else "missing")
        issues.append(_msh(ErrorCode.REQUIRED_FIELD_MISSING, 10, text))
    elif _CONTROL.search(control_id):
        issues.append(_msh(ErrorCode.DATA_TYPE_ERROR, 10, "MSH-10 (message control id) holds control characters"))
    elif len(control_id) > MAX_KEY:
        issues.append(_msh(ErrorCode.VALUE_TOO_LONG, 10, f"MSH-10 (message control id) is over {MAX_KEY} characters"))
    code, trigger = message_type(message)
    if not code:
        issues.append(_msh(ErrorCode.REQUIRED_FIELD_MISSING, 9, "MSH-9 (message type) is missing"))
    elif code not in SUPPORTED_TYPES:
        issues.append(_msh(ErrorCode.UNSUPPORTED_MESSAGE_TYPE, 9, f"message type {code[:20]} is not supported"))
    elif trigger not in SUPPORTED_TYPES[code]:
        supported = ", ".join(sorted(f"{code}^{t}" for t in SUPPORTED_TYPES[code]))
        text = f"{code}^{trigger[:20] or '(none)'} is not supported ({supported} are)"
        issues.append(_msh(ErrorCode.UNSUPPORTED_EVENT_CODE, 9, text))
    version = header.value(12, 1).strip()
    if not version:
        issues.append(_msh(ErrorCode.REQUIRED_FIELD_MISSING, 12, "MSH-12 (version id) is missing"))
    elif version not in KNOWN_VERSIONS:
        text = f"version {version[:20]} is not an HL7 v2 version (2.1 .. 2.9)"
        issues.append(_msh(ErrorCode.UNSUPPORTED_VERSION_ID, 12, text))
    processing = header.value(11, 1).strip().upper()
    if processing not in PROCESSING_IDS:
        text = f"processing id {processing[:20]} is not P, T or D"
        issues.append(_msh(ErrorCode.UNSUPPORTED_PROCESSING_ID, 11, text))
    return issues


def _msh(code: ErrorCode, position: int, text: str) -> Issue:
    return Issue(code, "reject", "MSH", 1, position, text)


def _missing_segment(name: str, what: str) -> Issue:
    return Issue(ErrorCode.SEGMENT_SEQUENCE_ERROR, "error", name, 1, None, f"{name} segment ({what}) is required")


def _missing_field(segment: Segment, position: int, what: str) -> Issue:
    text = f"{segment.name}-{position} ({what}) is required"
    return Issue(ErrorCode.REQUIRED_FIELD_MISSING, "error", segment.name, segment.sequence, position, text)


def _require_patient_id(message: Message, *, required: bool) -> list[Issue]:
    pid = message.first("PID")
    if pid is None:
        return [_missing_segment("PID", "patient identification")] if required else []
    if not pid.value(3, 1).strip():
        return [_missing_field(pid, 3, "patient identifier list")]
    for repetition in range(1, len(pid.repetitions(3)) + 1):
        parts = (pid.value(3, 1, 1, repetition), pid.value(3, 4, 1, repetition), pid.value(3, 4, 2, repetition))
        if any(len(part) > MAX_KEY for part in parts):
            text = f"PID-3 identifier or assigning authority over {MAX_KEY} characters"
            return [Issue(ErrorCode.VALUE_TOO_LONG, "error", "PID", pid.sequence, 3, text)]
    return []


def _results_issues(message: Message) -> list[Issue]:
    issues: list[Issue] = []
    requests, results = message.all("OBR"), message.all("OBX")
    if not requests:
        issues.append(_missing_segment("OBR", "observation request"))
    if not results:
        issues.append(_missing_segment("OBX", "observation result"))
    if requests:
        seen_request = False
        for segment in message.segments:
            seen_request |= segment.name == "OBR"
            if segment.name == "OBX" and not seen_request:
                text = "OBX before any OBR"
                issues.append(Issue(ErrorCode.SEGMENT_SEQUENCE_ERROR, "error", "OBX", segment.sequence, None, text))
            elif segment.name == "PID" and seen_request and segment.sequence == 1:  # (others: one patient)
                text = "PID after an OBR: the results before it name no patient"
                issues.append(Issue(ErrorCode.SEGMENT_SEQUENCE_ERROR, "error", "PID", segment.sequence, None, text))
    issues += [
        _missing_field(obr, 4, "universal service identifier") for obr in requests if not obr.value(4, 1).strip()
    ]
    for obx in results:
        if not (obx.value(3, 1).strip() or obx.value(3, 2).strip()):
            issues.append(_missing_field(obx, 3, "observation identifier"))
        if obx.field(5) and not obx.value(2).strip():
            issues.append(_missing_field(obx, 2, "value type, needed when OBX-5 has a value"))
        value = obx.value(5).strip()
        if obx.value(2).strip().upper() == "NM" and obx.field(5) and not is_number(value):
            text = f"OBX-5 value {value[:40]!r} is not a number of at most {MAX_NUMBER} characters (OBX-2 is NM)"
            issues.append(Issue(ErrorCode.DATA_TYPE_ERROR, "error", "OBX", obx.sequence, 5, text))
    return issues


def _orders_issues(message: Message) -> list[Issue]:
    orders = message.all("ORC")
    if not orders:
        return [_missing_segment("ORC", "common order")]
    return [_missing_field(orc, 1, "order control") for orc in orders if not orc.value(1).strip()]
