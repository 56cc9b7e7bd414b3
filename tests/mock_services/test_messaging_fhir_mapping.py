"""HL7 v2 -> FHIR mapping: field by field, and every resource valid for fhir.resources (R4B)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from mock_services.messaging import fhir_mapping, samples
from mock_services.messaging.hl7v2 import parse

SUBJECT: dict[str, object] = {"reference": "Patient/p1", "identifier": {"system": "urn:x", "value": "MRN1"}}


def lab(text: str, control_id: str = "MSG1") -> list[fhir_mapping.LabReport]:
    return fhir_mapping.lab_reports(parse(text), SUBJECT, control_id)


def readable(resource: dict[str, Any]) -> str:
    """The value of the resource's ``urn:hchaos:hl7:msh-10`` identifier (its last one)."""
    assert resource["identifier"][-1]["system"] == "urn:hchaos:hl7:msh-10"
    value: str = resource["identifier"][-1]["value"]
    return value


def key(resource: dict[str, Any]) -> str:
    [found] = [i["value"] for i in resource["identifier"] if i["system"] == fhir_mapping.MESSAGE_KEY_SYSTEM]
    assert isinstance(found, str)
    return found


def test_oru_observations_fields() -> None:
    [report] = lab(samples.oru("MSG1"))
    glucose, potassium = report.observations
    Observation.model_validate(glucose)
    assert readable(glucose) == "MSG1-1" and readable(potassium) == "MSG1-2"
    assert glucose["identifier"][0]["system"] == fhir_mapping.MESSAGE_KEY_SYSTEM  # type: ignore[index]
    assert glucose["code"] == {
        "coding": [
            {"code": "2345-7", "system": "http://loinc.org", "display": "Glucose [Moles/volume] in Serum or Plasma"}
        ],
        "text": "Glucose [Moles/volume] in Serum or Plasma",
    }
    assert glucose["category"][0]["coding"][0]["code"] == "laboratory"  # type: ignore[index]
    assert glucose["valueQuantity"] == {
        "value": 5.4,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    }
    reference_range: Any = glucose["referenceRange"]
    assert reference_range[0]["low"]["value"] == 3.9 and reference_range[0]["high"]["value"] == 6.1
    assert potassium["interpretation"] == [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "H"}]}
    ]
    assert glucose["status"] == "final" and glucose["subject"] == SUBJECT
    assert glucose["effectiveDateTime"] == "2024-08-03T09:30:00Z"


def test_oru_diagnostic_report_fields() -> None:
    [report] = lab(samples.oru("MSG1", report_status="P"))
    document = {**report.report, "result": [{"reference": "Observation/o1"}]}
    DiagnosticReport.model_validate(document)
    assert readable(document) == "MSG1"
    assert document["category"] == [
        {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB", "display": "Laboratory"}
            ]
        }
    ]
    coding: Any = document["code"]
    assert coding["coding"][0]["code"] == "24323-8" and coding["coding"][0]["system"] == "http://loinc.org"
    assert document["issued"] == "2024-08-03T10:15:00Z" and document["status"] == "preliminary"


def test_several_obr_and_value_types() -> None:
    base = samples.oru("M2", results=[samples.LabResult("1-1", "A", "7", "g/L", "<10", "N", status="C")])
    second = "\r".join(
        [
            "OBR|2|P2|F2|5-5^Second panel^LN",
            "OBX|1|ST|9-9^Comment^LN||hemolysed sample||||||F",
            "OBX|2|CE|8-8^Organism^LN||3092008^Staphylococcus aureus^SCT||||||P",
            "OBX|3|NM|7-7^Temp^LN||38.5|Cel^degrees C^UCUM|>36||||X",
        ]
    )
    reports = lab(base + "\r" + second, "M2")
    assert [readable(r.report) for r in reports] == ["M2", "M2-R2"]
    first = reports[0].observations[0]
    assert first["status"] == "corrected" and first["valueQuantity"] == {
        "value": 7,
        "unit": "g/L",
        "system": "http://unitsofmeasure.org",
        "code": "g/L",
    }
    assert first["referenceRange"] == [
        {"text": "<10", "high": {"value": 10, "unit": "g/L", "system": "http://unitsofmeasure.org", "code": "g/L"}}
    ]
    text, coded, temperature = reports[1].observations
    assert [readable(o) for o in reports[1].observations] == ["M2-2", "M2-3", "M2-4"]
    assert text["valueString"] == "hemolysed sample"
    assert coded["valueCodeableConcept"]["coding"][0]["system"] == "http://snomed.info/sct"  # type: ignore[index]
    assert coded["status"] == "preliminary" and temperature["status"] == "cancelled"
    assert temperature["referenceRange"][0]["low"]["value"] == 36  # type: ignore[index]
    for observation in (*reports[0].observations, *reports[1].observations):
        Observation.model_validate(observation)


def test_patient_from_pid() -> None:
    message = parse(samples.adt("A01", "A1", mrn="MRN00000042"))
    resource = fhir_mapping.patient(message)
    Patient.model_validate(resource)
    assert resource["identifier"] == [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "MRN00000042"}]
    assert resource["name"] == [{"use": "official", "family": "DUPONT", "given": ["MARIE"]}]
    assert resource["birthDate"] == "1970-01-01" and resource["gender"] == "female"
    assert resource["address"] == [
        {"line": ["12 RUE DE RIVOLI"], "city": "PARIS", "postalCode": "75001", "country": "FRA"}
    ]


@pytest.mark.parametrize(
    ("cx", "system"),
    [
        ("X1^^^HCHAOS&1.2.3&ISO^MR", "urn:oid:1.2.3"),
        ("X1^^^&http://h.example/mrn&URI^MR", "http://h.example/mrn"),
        ("X1^^^CLINIC^MR", "urn:hchaos:hl7:assigning-authority:CLINIC"),
        ("X1", "urn:oid:1.2.250.1.213.1.4.8"),
    ],
)
def test_patient_identifier_systems(cx: str, system: str) -> None:
    message = parse(f"MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\rPID|1||{cx}")
    assert fhir_mapping.primary_identifier(message) == fhir_mapping.PatientIdentifier(system, "X1")


def test_mr_identifier_is_primary() -> None:
    message = parse("MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5\rPID|1||N1^^^NIR^NH~M1^^^H&1.2&ISO^MR")
    assert fhir_mapping.primary_identifier(message).value == "M1"


def test_encounter_from_a03() -> None:
    resource = fhir_mapping.encounter(parse(samples.adt("A03", "D1")), SUBJECT, "D1")
    Encounter.model_validate(resource)
    assert resource["status"] == "finished"
    assert resource["period"] == {"start": "2024-08-01T08:00:00Z", "end": "2024-08-03T10:00:00Z"}
    assert resource["class"] == {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"}
    assert resource["identifier"][-1] == {"system": "urn:hchaos:hl7:msh-10", "value": "D1"}  # type: ignore[index]
    assert resource["identifier"][-2]["system"] == fhir_mapping.MESSAGE_KEY_SYSTEM  # type: ignore[index]


@pytest.mark.parametrize(
    ("ts", "date_time", "instant"),
    [
        ("2024", "2024", "2024-01-01T00:00:00Z"),
        ("20240803", "2024-08-03", "2024-08-03T00:00:00Z"),
        ("202408031015", "2024-08-03T10:15:00Z", "2024-08-03T10:15:00Z"),
        ("20240803101530.25+0200", "2024-08-03T10:15:30.25+02:00", "2024-08-03T10:15:30.25+02:00"),
        ("not a date", None, None),
    ],
)
def test_timestamps(ts: str, date_time: str | None, instant: str | None) -> None:
    assert fhir_mapping.fhir_datetime(ts) == date_time
    assert fhir_mapping.fhir_datetime(ts, instant=True) == instant


def test_merge_patient_keeps_what_the_message_does_not_carry() -> None:
    current = {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "3"},
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "MRN1"}],
        "telecom": [{"system": "phone", "value": "0102030405"}],
        "name": [{"family": "OLD"}],
    }
    update = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "MRN1"}, {"system": "urn:x", "value": "9"}],
        "name": [{"family": "NEW"}],
        "gender": "female",
    }
    merged = fhir_mapping.merge_patient(current, update)
    assert merged["id"] == "p1" and "meta" not in merged and merged["telecom"] == current["telecom"]
    assert merged["name"] == [{"family": "NEW"}] and merged["gender"] == "female"
    assert [i["value"] for i in merged["identifier"]] == ["MRN1", "9"]
    assert not fhir_mapping.same_content(current, merged)
    assert fhir_mapping.same_content(merged, {**merged, "meta": {"versionId": "4"}})


@pytest.mark.parametrize(
    "stamp",
    ["20241399", "20240230", "20230229", "202408032500", "202408031060", "20240803101561", "202408031015+9999",
     "202408031015+1260", "99999999999999", "00000000"],
)
def test_impossible_time_stamps_are_not_dates(stamp: str) -> None:
    assert fhir_mapping.fhir_datetime(stamp) is None
    assert fhir_mapping.fhir_datetime(stamp, instant=True) is None


def test_leap_day_and_zones_are_dates() -> None:
    assert fhir_mapping.fhir_datetime("20240229") == "2024-02-29"
    assert fhir_mapping.fhir_datetime("20240803101530.1234+0200") == "2024-08-03T10:15:30.1234+02:00"
    assert fhir_mapping.fhir_datetime("202408031015-1400") == "2024-08-03T10:15:00-14:00"


def test_impossible_dates_are_left_out_of_the_resources() -> None:
    text = samples.oru("D9").replace("20240803093000", "20241399", 1)  # OBR-7
    text = text.replace("20240803101500", "20240230", 1)  # OBR-22
    [report] = lab(text.replace("20240803093000", "99999999999999"))  # OBX-14
    assert "effectiveDateTime" not in report.report and "issued" not in report.report
    assert all("effectiveDateTime" not in o for o in report.observations)
    DiagnosticReport.model_validate({**report.report, "result": []})
    birth = samples.adt("A01", "D10").replace("19700101", "19701332")
    assert "birthDate" not in fhir_mapping.patient(parse(birth))


def test_patient_search_token_escapes_fhir_search_characters() -> None:
    identifier = fhir_mapping.PatientIdentifier("urn:x,y", "A,B|C\\D$")
    assert identifier.token() == "urn:x\\,y|A\\,B\\|C\\\\D\\$"


def test_message_keys_are_one_to_one_where_readable_values_are_not() -> None:
    [first] = lab(samples.oru("1", sending_application="LIS"), "1")
    [other_sender] = lab(samples.oru("1", sending_application="POC"), "1")
    [resent] = lab(samples.oru("1", sending_application="LIS", mrn="MRN00000009"), "1")  # same key, other content
    assert readable(first.report) == readable(other_sender.report) == "1"
    assert key(first.report) != key(other_sender.report)
    assert key(first.report) == key(resent.report)  # a resend must find what the first copy created
    keys = [key(first.report), *(key(o) for o in first.observations)]
    assert len(set(keys)) == 3 and all(re.fullmatch("[0-9a-f]{32}", k) for k in keys)
    lines = samples.oru("X").split("\r")
    two_panels = "\r".join([*lines[:4], lines[2].replace("OBR|1|", "OBR|2|", 1), lines[4]])
    second_report = lab(two_panels, "X")[1].report
    [lookalike] = lab(samples.oru("X-R2"), "X-R2")
    assert readable(second_report) == readable(lookalike.report) == "X-R2"
    assert key(second_report) != key(lookalike.report)


def test_numbers_are_exact_and_huge_ones_never_break_the_mapping() -> None:
    big = samples.LabResult("1-1", "A", "99999999999999999999999", "g/L", "1-" + "9" * 5000)
    [report] = lab(samples.oru("N1", results=[big]))
    [observation] = report.observations
    assert observation["valueQuantity"]["value"] == 99999999999999999999999  # type: ignore[index]
    assert observation["referenceRange"] == [{"text": "1-" + "9" * 5000}]  # not a number JSON can carry
    json.dumps(observation, allow_nan=False)


def test_codes_and_uris_are_valid_fhir_whatever_their_whitespace() -> None:
    # FHIR codes have no leading, trailing or doubled whitespace, URIs none at all: a strict
    # server (HAPI) refuses the resource, and the acknowledged result would never be filed.
    padded = samples.LabResult(" 2345-7\t", "Glucose", "5.4", "\t")
    [report] = lab(samples.oru("W1", results=[padded]).replace("^LN|", "^L  N|", 1))
    [observation] = report.observations
    Observation.model_validate(observation)
    coding: Any = observation["code"]
    assert coding["coding"][0]["code"] == "2345-7" and " " not in coding["coding"][0]["system"]
    assert "code" not in observation["valueQuantity"]  # type: ignore[operator]
    blank_code = samples.LabResult("   ", "Glucose", "5.4", "mmol/L")
    [report] = lab(samples.oru("W2", results=[blank_code]))
    assert report.observations[0]["code"] == {"text": "Glucose"}
    Observation.model_validate(report.observations[0])
    message = parse(samples.adt("A01", "W3").replace("HCHAOS&1.2.250.1.213.1.4.8&ISO", "MY CLINIC", 1))
    patient = fhir_mapping.patient(message)
    Patient.model_validate(patient)
    system = "urn:hchaos:hl7:assigning-authority:MY%20CLINIC"
    assert patient["identifier"] == [{"system": system, "value": "MRN00000001"}]
