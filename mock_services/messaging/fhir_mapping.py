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
identifier of type MR (else the first) is *the* patient identifier. Every Observation,
DiagnosticReport and Encounter carries a de-duplication identifier derived from the message
(system :data:`DEDUP_SYSTEM`): value ``<MSH-10>`` for the first OBR's report and for an
Encounter, ``<MSH-10>-R<k>`` for the k-th OBR's report (k >= 2), ``<MSH-10>-<n>`` for the
n-th OBX of the message (1-based; equals OBX-1 in the usual one-OBR message).

Time stamps: HL7 ``YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]``; without a zone, UTC is assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mock_services.messaging.hl7v2 import Message, Segment

DEDUP_SYSTEM = "urn:hchaos:hl7:msh-10"
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
        """``system|value`` for a FHIR ``identifier`` search."""
        return f"{self.system}|{self.value}"

    def to_fhir(self) -> dict[str, str]:
        return {"system": self.system, "value": self.value}


@dataclass
class LabReport:
    """One OBR and its OBXs as FHIR: ``report['result']`` is set by the forwarder."""

    report: dict[str, object]
    observations: list[dict[str, object]] = field(default_factory=list)


def dedup_identifier(value: str) -> dict[str, str]:
    """The identifier a forwarded resource carries so that a retry cannot duplicate it."""
    return {"system": DEDUP_SYSTEM, "value": value}


def fhir_datetime(ts: str, *, instant: bool = False) -> str | None:
    """HL7 TS -> FHIR dateTime (or instant: always to the second, with a zone); None if unparseable."""
    match = _TIMESTAMP.match(ts.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if instant or hour:
        offset = "Z" if not zone or zone in ("+0000", "-0000") else f"{zone[:3]}:{zone[3:]}"
        return (
            f"{year}-{month or '01'}-{day or '01'}T{hour or '00'}:{minute or '00'}:{second or '00'}"
            f"{fraction or ''}{offset}"
        )
    return "-".join(part for part in (year, month, day) if part)


def _system(name: str) -> str | None:
    name = name.strip()
    if not name:
        return None
    return CODING_SYSTEMS.get(name.upper(), f"urn:hchaos:hl7:coding-system:{name}")


def codeable_concept(segment: Segment, position: int) -> dict[str, object]:
    """A CE/CWE field (code^text^system, alternate in components 4-6) as a CodeableConcept."""
    codings: list[dict[str, str]] = []
    for first in (1, 4):
        code, display = segment.value(position, first), segment.value(position, first + 1)
        if not code:
            continue
        coding = {"code": code}
        system = _system(segment.value(position, first + 2))
        if system:
            coding["system"] = system
        if display:
            coding["display"] = display
        codings.append(coding)
    concept: dict[str, object] = {"coding": codings}
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
            system = f"urn:oid:{universal}"
        elif universal and kind == "UUID":
            system = f"urn:uuid:{universal}"
        elif universal:
            system = universal
        elif namespace:
            system = f"urn:hchaos:hl7:assigning-authority:{namespace}"
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
    identifiers = [dedup_identifier(control_id)]
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
            reports.append(LabReport(_report(segment, subject, value)))
        elif segment.name == "OBX" and current is not None:
            observation_number += 1
            value = f"{control_id}-{observation_number}"
            reports[-1].observations.append(_observation(segment, current, subject, value))
    return reports


def _report(obr: Segment, subject: dict[str, object], dedup_value: str) -> dict[str, object]:
    report: dict[str, object] = {
        "resourceType": "DiagnosticReport",
        "identifier": [dedup_identifier(dedup_value)],
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


def _observation(obx: Segment, obr: Segment, subject: dict[str, object], dedup_value: str) -> dict[str, object]:
    status_code = obx.value(11).strip().upper()
    observation: dict[str, object] = {
        "resourceType": "Observation",
        "identifier": [dedup_identifier(dedup_value)],
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
    flags = [obx.value(8, repetition=r).strip() for r in range(1, len(obx.repetitions(8)) + 1)]
    if any(flags):
        observation["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": f}]} for f in flags if f]
    return observation


def _unit(obx: Segment) -> dict[str, object]:
    code, text, system = obx.value(6, 1), obx.value(6, 2), obx.value(6, 3).strip().upper()
    if not code and not text:
        return {}
    unit: dict[str, object] = {"unit": text or code}
    if code and system in ("", "UCUM"):
        unit.update(system="http://unitsofmeasure.org", code=code)
    return unit


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() and "." not in text else number


def _value(obx: Segment) -> dict[str, object]:
    kind, raw = obx.value(2).strip().upper(), obx.value(5).strip()
    if not raw:
        return {}
    if kind == "NM" and _DECIMAL.fullmatch(raw):
        return {"valueQuantity": {"value": _number(raw), **_unit(obx)}}
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
        result["low"] = {"value": _number(match.group(1)), **unit}
        result["high"] = {"value": _number(match.group(4)), **unit}
    elif text[0] in "<>" and _DECIMAL.fullmatch(text[1:].strip().lstrip("=")):
        bound = {"value": _number(text[1:].strip().lstrip("=")), **unit}
        result["high" if text[0] == "<" else "low"] = bound
    return result
