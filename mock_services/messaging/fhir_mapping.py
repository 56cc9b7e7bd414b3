"""HL7 v2 -> FHIR R4 resources (pure functions; :mod:`.forwarder` does the HTTP).

* ORU^R01 -> per OBR a :class:`LabReport`: one Observation per OBX that follows it (category
  ``laboratory``; code from OBX-3 with coding system LN -> ``http://loinc.org``, SCT ->
  ``http://snomed.info/sct``, others ``urn:hchaos:hl7:coding-system:<name>``; value from
  OBX-2/5/6: NM -> valueQuantity (UCUM when OBX-6.3 is UCUM or empty), CE/CWE ->
  valueCodeableConcept, anything else -> valueString; referenceRange from OBX-7 ``low-high``,
  ``<high``, ``>low`` or text; interpretation from OBX-8; status from OBX-11; effective from
  OBX-14 or OBR-7) and one DiagnosticReport (category LAB from v2-0074, code OBR-4,
  status OBR-25, effective OBR-7, issued OBR-22; ``result`` filled in by the forwarder once
  the Observations exist).
* ADT^A01/A08 -> Patient (PID-3 identifiers, PID-5 name, PID-7 birth date, PID-8 gender,
  PID-11 address); ADT^A03 -> a finished Encounter (class from PV1-2, period PV1-44/45,
  visit number PV1-19).

Identifiers. Patient identifiers come from PID-3 (CX): the system is the assigning
authority's universal id (``urn:oid:`` for ISO, as is for URI, ``urn:uuid:`` for UUID), else
``urn:hchaos:hl7:assigning-authority:<namespace>``, else -- no authority at all -- the
hospital's MRN system ``urn:oid:1.2.250.1.213.1.4.8`` (a single-hospital convention). The
identifier of type MR (else the first) is *the* patient identifier; searched for as a FHIR
token with ``\\ , | $`` escaped (:meth:`PatientIdentifier.token`), so ``A,B`` is not "A or B".

Every Observation, DiagnosticReport and Encounter carries two identifiers derived from the
message, the readable one last:

* system :data:`DEDUP_SYSTEM`, readable: value ``<MSH-10>`` for the first OBR's report and
  for an Encounter, ``<MSH-10>-R<k>`` for the k-th OBR's report (k >= 2), ``<MSH-10>-<n>``
  for the n-th OBX of the message (1-based; equals OBX-1 in the usual one-OBR message). What
  people and the harness's read-back search by.
* system :data:`MESSAGE_KEY_SYSTEM`: 32 hex digits of SHA-256 over (MSH-3, MSH-10, part) --
  the conditional-create key (:func:`message_key`). The readable values are not one-to-one:
  two senders may both send MSH-10 ``1`` (MSH-10 is unique per sending application, and the
  engine stores both), and message ``X-R2``'s report would share the value of message
  ``X``'s second report; creating on them would find the other message's resource and drop
  this one. The key is exact for any MSH-3 and MSH-10, short, and needs no search escaping.

Time stamps: HL7 ``YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]``; without a zone, UTC is assumed. A
stamp that is no real moment (month 13, 30 February, hour 25, zone +99:99, year 0) maps to
nothing: the element is left out rather than sent invalid (the destination would refuse the
resource, and the acknowledged message would never be delivered).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from mock_services.messaging.hl7v2 import Message, Segment
from mock_services.messaging.validation import MAX_NUMBER

DEDUP_SYSTEM = "urn:hchaos:hl7:msh-10"
MESSAGE_KEY_SYSTEM = "urn:hchaos:hl7:message-key"
DEFAULT_PATIENT_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
VISIT_NUMBER_SYSTEM = "urn:hchaos:hl7:visit-number"
CODING_SYSTEMS = {
    "LN": "http://loinc.org",
    "LOINC": "http://loinc.org",
    "SCT": "http://snomed.info/sct",
    "SNM": "http://snomed.info/sct",
    "UCUM": "http://unitsofmeasure.org",
}
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
REPORT_CATEGORY = "http://terminology.hl7.org/CodeSystem/v2-0074"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_STATUS = {
    "F": "final",
    "U": "final",
    "C": "corrected",
    "A": "amended",
    "P": "preliminary",
    "R": "preliminary",
    "S": "preliminary",
    "I": "registered",
    "O": "registered",
    "X": "cancelled",
    "D": "entered-in-error",
    "W": "entered-in-error",
}
REPORT_STATUS = {
    "F": "final",
    "C": "corrected",
    "P": "preliminary",
    "R": "partial",
    "S": "partial",
    "A": "partial",
    "I": "registered",
    "O": "registered",
    "X": "cancelled",
}
GENDER = {"M": "male", "F": "female", "O": "other", "A": "other", "U": "unknown", "N": "unknown"}
ENCOUNTER_CLASS = {"I": "IMP", "O": "AMB", "E": "EMER", "P": "PRENC", "R": "IMP", "B": "AMB"}
_TIMESTAMP = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d+)?([+-]\d{4})?\Z")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_RANGE = re.compile(rf"\s*({_DECIMAL.pattern})\s*-\s*({_DECIMAL.pattern})\s*\Z")


@dataclass(frozen=True)
class PatientIdentifier:
    system: str
    value: str

    def token(self) -> str:
        """``system|value`` for a FHIR ``identifier`` search (search characters escaped)."""
        return f"{search_escape(self.system)}|{search_escape(self.value)}"

    def to_fhir(self) -> dict[str, str]:
        return {"system": self.system, "value": self.value}


@dataclass
class LabReport:
    """One OBR and its OBXs as FHIR: ``report['result']`` is set by the forwarder."""

    report: dict[str, object]
    observations: list[dict[str, object]] = field(default_factory=list)


def search_escape(text: str) -> str:
    """``text`` for a FHIR search value: ``\\``, ``,``, ``|`` and ``$`` escaped with a backslash."""
    return re.sub(r"([\\,|$])", r"\\\1", text)


def dedup_identifier(value: str) -> dict[str, str]:
    """The readable message-derived identifier (see the module docstring)."""
    return {"system": DEDUP_SYSTEM, "value": value}


def message_key(message: Message, part: str) -> dict[str, str]:
    """The conditional-create key of one resource made from ``message`` (see the module
    docstring): ``part`` names the resource within the message (``R1``, ``O3``, ``E``)."""
    key = json.dumps([message.header.field(3), message.control_id, part], ensure_ascii=False)
    return {"system": MESSAGE_KEY_SYSTEM, "value": hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]}


def _real_moment(year: str, month: str | None, day: str | None, hour: str | None, minute: str | None,
                 second: str | None, zone: str | None) -> bool:
    if int(year) < 1 or not 1 <= int(month or 1) <= 12:
        return False
    if not 1 <= int(day or 1) <= calendar.monthrange(int(year), int(month or 1))[1]:
        return False
    if int(hour or 0) > 23 or int(minute or 0) > 59 or int(second or 0) > 59:
        return False
    return not zone or (int(zone[1:3]) * 60 + int(zone[3:]) <= 14 * 60 and int(zone[3:]) <= 59)


def fhir_datetime(ts: str, *, instant: bool = False) -> str | None:
    """HL7 TS -> FHIR dateTime (or instant: always to the second, with a zone); None if
    unparseable or not a real moment (see the module docstring)."""
    match = _TIMESTAMP.match(ts.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if not _real_moment(year, month, day, hour, minute, second, zone):
        return None
    if instant or hour:
        offset = "Z" if not zone or zone in ("+0000", "-0000") else f"{zone[:3]}:{zone[3:]}"
        return (
            f"{year}-{month or '01'}-{day or '01'}T{hour or '00'}:{minute or '00'}:{second or '00'}"
            f"{fraction or ''}{offset}"
        )
    return "-".join(part for part in (year, month, day) if part)


def fhir_code(text: str) -> str:
    """``text`` as a FHIR ``code``: no leading, trailing or doubled whitespace ('' if blank)."""
    return " ".join(text.split())


def uri_part(text: str) -> str:
    """``text`` fit for a URI: whitespace, controls and non-ASCII percent-encoded."""
    return quote(text, safe="!#$&'()*+,/:;=?@[]~%")


def _system(name: str) -> str | None:
    name = name.strip()
    if not name:
        return None
    return CODING_SYSTEMS.get(name.upper(), f"urn:hchaos:hl7:coding-system:{quote(name, safe='')}")


def codeable_concept(segment: Segment, position: int) -> dict[str, object]:
    """A CE/CWE field (code^text^system, alternate in components 4-6) as a CodeableConcept
    (a coding only for a non-blank code; ``coding`` left out when there is none)."""
    codings: list[dict[str, str]] = []
    for first in (1, 4):
        code, display = fhir_code(segment.value(position, first)), segment.value(position, first + 1)
        if not code:
            continue
        coding = {"code": code}
        system = _system(segment.value(position, first + 2))
        if system:
            coding["system"] = system
        if display:
            coding["display"] = display
        codings.append(coding)
    concept: dict[str, object] = {"coding": codings} if codings else {}
    text = segment.value(position, 2)
    if text:
        concept["text"] = text
    return concept


def patient_identifiers(pid: Segment) -> list[PatientIdentifier]:
    """Every PID-3 repetition with a value, MR type first (see the module docstring for systems)."""
    found: list[tuple[bool, PatientIdentifier]] = []
    for repetition in range(1, len(pid.repetitions(3)) + 1):
        value = pid.value(3, 1, repetition=repetition).strip()
        if not value:
            continue
        namespace = pid.value(3, 4, 1, repetition).strip()
        universal = pid.value(3, 4, 2, repetition).strip()
        kind = pid.value(3, 4, 3, repetition).strip().upper()
        if universal and kind == "ISO":
            system = f"urn:oid:{uri_part(universal)}"
        elif universal and kind == "UUID":
            system = f"urn:uuid:{uri_part(universal)}"
        elif universal:
            system = uri_part(universal)
        elif namespace:
            system = f"urn:hchaos:hl7:assigning-authority:{quote(namespace, safe='')}"
        else:
            system = DEFAULT_PATIENT_SYSTEM
        is_mrn = pid.value(3, 5, repetition=repetition).strip().upper() == "MR"
        found.append((not is_mrn, PatientIdentifier(system, value)))
    found.sort(key=lambda item: item[0])  # stable: MR first, then in message order
    return [identifier for _, identifier in found]


def primary_identifier(message: Message) -> PatientIdentifier:
    """The patient identifier of a validated message (PID-3 is required, so one exists)."""
    pid = message.first("PID")
    identifiers = patient_identifiers(pid) if pid is not None else []
    if not identifiers:
        raise ValueError("the message has no PID-3 identifier")
    return identifiers[0]


def patient(message: Message) -> dict[str, object]:
    """ADT^A01/A08 -> Patient."""
    pid = message.first("PID")
    assert pid is not None
    resource: dict[str, object] = {
        "resourceType": "Patient",
        "identifier": [i.to_fhir() for i in patient_identifiers(pid)],
    }
    family, given = pid.value(5, 1), [g for g in (pid.value(5, 2), pid.value(5, 3)) if g]
    if family or given:
        name: dict[str, object] = {"use": "official"}
        if family:
            name["family"] = family
        if given:
            name["given"] = given
        resource["name"] = [name]
    birth = fhir_datetime(pid.value(7)[:8])
    if birth:
        resource["birthDate"] = birth
    gender = GENDER.get(pid.value(8).strip().upper())
    if gender:
        resource["gender"] = gender
    street, city, postal, country = pid.value(11, 1), pid.value(11, 3), pid.value(11, 5), pid.value(11, 6)
    if street or city:
        address = {k: v for k, v in (("city", city), ("postalCode", postal), ("country", country)) if v}
        resource["address"] = [{**({"line": [street]} if street else {}), **address}]
    return resource


_UPDATED_BY_ADT = ("name", "birthDate", "gender", "address")


def merge_patient(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``current`` (a Patient read from the destination) with the demographics of ``update``
    (from an ADT): name, birth date, gender and address replaced when the message has them,
    identifiers added when new; everything else (telecom, extensions, ...) kept. No ``meta``."""
    merged = {key: value for key, value in current.items() if key != "meta"}
    for key in _UPDATED_BY_ADT:
        if key in update:
            merged[key] = update[key]
    identifiers = list(current.get("identifier", []))
    for identifier in update.get("identifier", []):
        if not any(
            i.get("system") == identifier["system"] and i.get("value") == identifier["value"] for i in identifiers
        ):
            identifiers.append(identifier)
    merged["identifier"] = identifiers
    return merged


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two versions of a resource say the same, ``meta`` and ``text`` aside."""
    return {k: v for k, v in a.items() if k not in ("meta", "text")} == {
        k: v for k, v in b.items() if k not in ("meta", "text")
    }


def encounter(message: Message, subject: dict[str, object], control_id: str) -> dict[str, object]:
    """ADT^A03 -> a finished Encounter."""
    pv1 = message.first("PV1")
    identifiers = [message_key(message, "E"), dedup_identifier(control_id)]
    resource: dict[str, object] = {"resourceType": "Encounter", "status": "finished", "subject": subject}
    class_code = "IMP"
    if pv1 is not None:
        class_code = ENCOUNTER_CLASS.get(pv1.value(2).strip().upper(), "IMP")
        visit = pv1.value(19)
        if visit:
            identifiers.insert(0, {"system": VISIT_NUMBER_SYSTEM, "value": visit})
        start, end = fhir_datetime(pv1.value(44)), fhir_datetime(pv1.value(45))
        period = {k: v for k, v in (("start", start), ("end", end)) if v}
        if period:
            resource["period"] = period
    if "period" not in resource:
        evn = message.first("EVN")
        end = fhir_datetime(evn.value(2)) if evn is not None else None
        end = end or fhir_datetime(message.header.value(7))
        if end:
            resource["period"] = {"end": end}
    resource["class"] = {"system": ACT_CODE, "code": class_code}
    resource["identifier"] = identifiers
    return resource


def lab_reports(message: Message, subject: dict[str, object], control_id: str) -> list[LabReport]:
    """ORU^R01 -> one :class:`LabReport` per OBR with the OBXs that follow it."""
    reports: list[LabReport] = []
    current: Segment | None = None
    observation_number = 0
    for segment in message.segments:
        if segment.name == "OBR":
            current = segment
            number = len(reports) + 1
            value = control_id if number == 1 else f"{control_id}-R{number}"
            identifiers = [message_key(message, f"R{number}"), dedup_identifier(value)]
            reports.append(LabReport(_report(segment, subject, identifiers)))
        elif segment.name == "OBX" and current is not None:
            observation_number += 1
            value = f"{control_id}-{observation_number}"
            identifiers = [message_key(message, f"O{observation_number}"), dedup_identifier(value)]
            reports[-1].observations.append(_observation(segment, current, subject, identifiers))
    return reports


def _report(obr: Segment, subject: dict[str, object], identifiers: list[dict[str, str]]) -> dict[str, object]:
    report: dict[str, object] = {
        "resourceType": "DiagnosticReport",
        "identifier": identifiers,
        "status": REPORT_STATUS.get(obr.value(25).strip().upper(), "final" if not obr.value(25) else "unknown"),
        "category": [{"coding": [{"system": REPORT_CATEGORY, "code": "LAB", "display": "Laboratory"}]}],
        "code": codeable_concept(obr, 4),
        "subject": subject,
    }
    effective = fhir_datetime(obr.value(7))
    if effective:
        report["effectiveDateTime"] = effective
    issued = fhir_datetime(obr.value(22), instant=True)
    if issued:
        report["issued"] = issued
    return report


def _observation(
    obx: Segment, obr: Segment, subject: dict[str, object], identifiers: list[dict[str, str]]
) -> dict[str, object]:
    status_code = obx.value(11).strip().upper()
    observation: dict[str, object] = {
        "resourceType": "Observation",
        "identifier": identifiers,
        "status": OBSERVATION_STATUS.get(status_code, "final" if not status_code else "unknown"),
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory", "display": "Laboratory"}]}],
        "code": codeable_concept(obx, 3),
        "subject": subject,
    }
    effective = fhir_datetime(obx.value(14)) or fhir_datetime(obr.value(7))
    if effective:
        observation["effectiveDateTime"] = effective
    observation.update(_value(obx))
    reference_range = _reference_range(obx.value(7), _unit(obx))
    if reference_range:
        observation["referenceRange"] = [reference_range]
    flags = [fhir_code(obx.value(8, repetition=r)) for r in range(1, len(obx.repetitions(8)) + 1)]
    if any(flags):
        observation["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": f}]} for f in flags if f]
    return observation


def _unit(obx: Segment) -> dict[str, object]:
    code, text, system = fhir_code(obx.value(6, 1)), obx.value(6, 2), obx.value(6, 3).strip().upper()
    if not code and not text:
        return {}
    unit: dict[str, object] = {"unit": text or code}
    if code and system in ("", "UCUM"):
        unit.update(system="http://unitsofmeasure.org", code=code)
    return unit


def _number(text: str) -> int | float | None:
    """A decimal's JSON number: exact for an integer, None when too long to be a real value
    (no infinity, no 5 000-digit int: neither can be sent, and the message would never be)."""
    if len(text) > MAX_NUMBER:
        return None
    return float(text) if "." in text else int(text)


def _value(obx: Segment) -> dict[str, object]:
    kind, raw = obx.value(2).strip().upper(), obx.value(5).strip()
    if not raw:
        return {}
    number = _number(raw) if kind == "NM" and _DECIMAL.fullmatch(raw) else None
    if number is not None:
        return {"valueQuantity": {"value": number, **_unit(obx)}}
    if kind in ("CE", "CWE", "CNE"):
        return {"valueCodeableConcept": codeable_concept(obx, 5)}
    return {"valueString": raw}


def _reference_range(text: str, unit: dict[str, object]) -> dict[str, object]:
    text = text.strip()
    if not text:
        return {}
    result: dict[str, object] = {"text": text}
    match = _RANGE.match(text)
    if match:
        low, high = _number(match.group(1)), _number(match.group(4))
        if low is not None and high is not None:
            result["low"] = {"value": low, **unit}
            result["high"] = {"value": high, **unit}
    elif text[0] in "<>" and _DECIMAL.fullmatch(text[1:].strip().lstrip("=")):
        bound = _number(text[1:].strip().lstrip("="))
        if bound is not None:
            result["high" if text[0] == "<" else "low"] = {"value": bound, **unit}
    return result
