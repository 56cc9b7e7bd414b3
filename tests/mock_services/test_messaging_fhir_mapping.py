"""HL7 v2 -> FHIR mapping: field by field, and every resource valid for fhir.resources (R4B)."""

from __future__ import annotations

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


def test_oru_observations_fields() -> None:
    [report] = lab(samples.oru("MSG1"))
    glucose, potassium = report.observations
    Observation.model_validate(glucose)
    assert glucose["identifier"] == [{"system": "urn:hchaos:hl7:msh-10", "value": "MSG1-1"}]
    assert potassium["identifier"] == [{"system": "urn:hchaos:hl7:msh-10", "value": "MSG1-2"}]
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
    assert document["identifier"] == [{"system": "urn:hchaos:hl7:msh-10", "value": "MSG1"}]
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
    assert [r.report["identifier"] for r in reports] == [
        [{"system": "urn:hchaos:hl7:msh-10", "value": "M2"}],
        [{"system": "urn:hchaos:hl7:msh-10", "value": "M2-R2"}],
    ]
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
    assert [o["identifier"][0]["value"] for o in reports[1].observations] == ["M2-2", "M2-3", "M2-4"]  # type: ignore[index]
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
