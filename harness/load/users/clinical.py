"""What the personas write: FHIR R4 resources for the EHR and ORU^R01 messages for the HL7
engines, plausible enough that the services validate, index and forward them like real ones.

Pure Python (no Locust). Every builder takes the values that vary (patient, identifier,
time, a seeded ``random.Random``) and returns a fresh document. Every resource the load
creates carries an identifier in :data:`LOAD_SYSTEM` (``<run>-<user>-<n>``), so checkers can
find the load's writes again, e.g. after a failover, without knowing the server's ids.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from mock_services.messaging.samples import LabResult, oru
from mock_services.synthetic.model import MRN_SYSTEM, patient_id

LOAD_SYSTEM = "urn:hchaos:load"
"""Identifier system of every resource the load writes."""

WARD_PATIENT_SYSTEM = "urn:hchaos:load:patient"
"""Identifier system of the patients users register for themselves (plans with no synthetic patients)."""

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

Resource = dict[str, Any]

# (LOINC code, display, unit, low, high, decimals): what a nurse measures at the bedside.
_VITALS = (
    ("8867-4", "Heart rate", "/min", 55, 110, 0),
    ("9279-1", "Respiratory rate", "/min", 12, 24, 0),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 91, 100, 0),
    ("8310-5", "Body temperature", "Cel", 36.0, 38.8, 1),
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 95, 165, 0),
    ("8462-4", "Diastolic blood pressure", "mm[Hg]", 55, 100, 0),
)

# (ATC code, display, text): common ward drugs, French names as in the synthetic data.
_DRUGS = (
    ("N02BE01", "paracetamol", "Paracétamol 1 g per os"),
    ("J01CA04", "amoxicillin", "Amoxicilline 1 g IV"),
    ("B01AB05", "enoxaparin", "Enoxaparine 4000 UI SC"),
    ("C03CA01", "furosemide", "Furosémide 40 mg per os"),
    ("A02BC02", "pantoprazole", "Pantoprazole 40 mg IV"),
)

_NOTES = (
    "Patient vu ce matin, état stable, apyrétique. Poursuite du traitement en cours.",
    "Douleur mieux contrôlée sous antalgiques de palier 1. Reprise de l'alimentation.",
    "Bilan biologique à contrôler demain. Surveillance de la diurèse.",
    "Mobilisation au fauteuil ce jour. Pas d'événement nocturne signalé.",
)

# (LOINC code, display, unit, low, high, normal low, normal high): a basic metabolic panel.
_LAB_TESTS = (
    ("2345-7", "Glucose [Moles/volume] in Serum or Plasma", "mmol/L", 3.0, 12.0, 3.9, 6.1),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.0, 6.2, 3.5, 5.1),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 128.0, 150.0, 135.0, 145.0),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "umol/L", 45.0, 180.0, 45.0, 104.0),
)


def fhir_now(moment: datetime | None = None) -> str:
    """A FHIR dateTime in UTC with seconds (``2024-08-03T07:00:00Z``); now by default."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def synthetic_patient(index: int) -> str:
    """The FHIR id of synthetic patient ``index`` (1-based), as every service loaded it."""
    return patient_id(index)


def synthetic_mrn(index: int) -> str:
    """The MRN (identifier value in :data:`MRN_SYSTEM`) of synthetic patient ``index``."""
    return f"MRN{index:08d}"


def write_key(resource: Resource) -> str | None:
    """How to find ``resource`` again by its client identifier, whatever the create's outcome:
    ``Type?identifier=system|value`` (the timeline's ``write_key``)."""
    identifiers = resource.get("identifier") or []
    if not identifiers or not isinstance(identifiers[0], dict):
        return None
    first = identifiers[0]
    return f"{resource['resourceType']}?identifier={first.get('system')}|{first.get('value')}"


def load_identifier(value: str) -> list[dict[str, str]]:
    return [{"system": LOAD_SYSTEM, "value": value}]


def _subject(patient: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient}"}


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBSERVATION_CATEGORY, "code": code, "display": display}]}]


def ward_patient(identifier_value: str, rng: random.Random) -> Resource:
    """The Patient a user registers for itself, found again by :data:`WARD_PATIENT_SYSTEM`."""
    gender = rng.choice(("female", "male"))
    return {
        "resourceType": "Patient",
        "identifier": [{"system": WARD_PATIENT_SYSTEM, "value": identifier_value}],
        "name": [{"use": "official", "family": "CHARGE", "given": [f"Patient {identifier_value}"]}],
        "gender": gender,
        "birthDate": f"{rng.randint(1935, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }


def vital_signs(patient: str, identifier_value: str, rng: random.Random, when: str | None = None) -> Resource:
    """A vital-signs panel (LOINC 85353-1) with one component per measurement."""
    components = []
    for code, display, unit, low, high, decimals in _VITALS:
        value = round(rng.uniform(low, high), decimals) if decimals else rng.randint(int(low), int(high))
        components.append({
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        })
    return {
        "resourceType": "Observation",
        "identifier": load_identifier(identifier_value),
        "status": "final",
        "category": _category("vital-signs", "Vital Signs"),
        "code": {"coding": [{"system": LOINC, "code": "85353-1", "display": "Vital signs panel"}],
                 "text": "Constantes"},
        "subject": _subject(patient),
        "effectiveDateTime": when or fhir_now(),
        "component": components,
    }


def progress_note(patient: str, identifier_value: str, rng: random.Random, when: str | None = None) -> Resource:
    """A physician's progress note as an Observation (LOINC 11506-3) with the text as value."""
    return {
        "resourceType": "Observation",
        "identifier": load_identifier(identifier_value),
        "status": "final",
        "category": _category("exam", "Exam"),
        "code": {"coding": [{"system": LOINC, "code": "11506-3", "display": "Progress note"}],
                 "text": "Observation médicale"},
        "subject": _subject(patient),
        "effectiveDateTime": when or fhir_now(),
        "valueString": rng.choice(_NOTES),
    }


def _drug(rng: random.Random) -> dict[str, Any]:
    code, display, text = rng.choice(_DRUGS)
    return {"coding": [{"system": ATC, "code": code, "display": display}], "text": text}


def medication_request(patient: str, identifier_value: str, rng: random.Random,
                       when: str | None = None) -> Resource:
    """An active medication order."""
    return {
        "resourceType": "MedicationRequest",
        "identifier": load_identifier(identifier_value),
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": _drug(rng),
        "subject": _subject(patient),
        "authoredOn": when or fhir_now(),
    }


def medication_administration(patient: str, identifier_value: str, rng: random.Random,
                              order: Resource | None = None, when: str | None = None) -> Resource:
    """A dose given: of ``order`` (an active MedicationRequest the nurse read) if there is one,
    else of a drug given without an order in the EHR (a protocol dose)."""
    administration: Resource = {
        "resourceType": "MedicationAdministration",
        "identifier": load_identifier(identifier_value),
        "status": "completed",
        "medicationCodeableConcept": _drug(rng),
        "subject": _subject(patient),
        "effectiveDateTime": when or fhir_now(),
    }
    if order is not None and isinstance(order.get("id"), str):
        concept = order.get("medicationCodeableConcept")
        if isinstance(concept, dict):
            administration["medicationCodeableConcept"] = concept
        administration["request"] = {"reference": f"MedicationRequest/{order['id']}"}
    return administration


def lab_results(rng: random.Random) -> list[LabResult]:
    """A basic metabolic panel with plausible values and their H/L/N flags."""
    results = []
    for code, display, unit, low, high, normal_low, normal_high in _LAB_TESTS:
        value = round(rng.uniform(low, high), 1)
        flag = "H" if value > normal_high else "L" if value < normal_low else "N"
        results.append(LabResult(code, display, f"{value}", unit, f"{normal_low}-{normal_high}", flag))
    return results


def oru_r01(control_id: str, mrn: str, rng: random.Random, when: datetime | None = None) -> str:
    """An ORU^R01 (results of a basic metabolic panel) for the patient with ``mrn``, MSH-10
    ``control_id``; original acknowledgment mode (the engine answers AA/AE/AR)."""
    timestamp = (when or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return oru(control_id, mrn, lab_results(rng), panel="51990-0^Basic metabolic panel - Blood^LN",
               timestamp=timestamp)


__all__ = [
    "LOAD_SYSTEM",
    "MRN_SYSTEM",
    "WARD_PATIENT_SYSTEM",
    "fhir_now",
    "lab_results",
    "load_identifier",
    "medication_administration",
    "medication_request",
    "oru_r01",
    "progress_note",
    "synthetic_mrn",
    "synthetic_patient",
    "vital_signs",
    "ward_patient",
]
