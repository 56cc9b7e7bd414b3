"""Clinical resources of one patient: Encounters, vitals and lab Observations, DiagnosticReports,
MedicationRequests, AllergyIntolerances (FHIR R4 JSON dicts).

Per patient (from the ``"clinical"`` random stream):

* 1-3 Encounters (45/35/20 %) in the two years before BASE_DATE (never before birth). Class
  EMER for "urgences", otherwise IMP (60 %, 1-10 days) or AMB (a few hours); an encounter
  still running on BASE_DATE is ``in-progress`` with no period end.
* Vitals: per encounter 1 set (IMP: one per day, at most 3) of 4 Observations -- heart rate
  8867-4, blood pressure panel 85354-9 (systolic 8480-6 / diastolic 8462-4 components),
  temperature 8310-5, SpO2 59408-5 -- effective within the encounter.
* Labs: per encounter a CBC (58410-2: 718-7, 6690-2, 777-3; 80 %) and a basic metabolic panel
  (51990-0: 2951-2, 2823-3, 2160-0, 2345-7; 60 %), each one DiagnosticReport (category LAB,
  status final, ``result`` referencing its Observations) issued 0.5-6 h after collection.
  Values: about 1 in 5 outside the reference range, flagged in ``interpretation`` (H/L/N).
* 1-4 MedicationRequests (intent order, ATC-coded, French display and dosage text; ``active``
  for the latest encounter half the time and always for one in progress, else ``completed``).
* 0-2 AllergyIntolerances (50/35/15 %).

That is about 30 resources per patient. Ids carry the patient id so they are unique across
patients and types: ``enc-p000001-01``, ``obs-p000001-0003``, ``dr-p000001-01``,
``medrq-p000001-01``, ``alg-p000001-01``. Order: Encounters, Observations, DiagnosticReports,
MedicationRequests, AllergyIntolerances -- anything referenced comes before what references it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from mock_services.synthetic import vocab
from mock_services.synthetic.model import BASE_INSTANT, fhir_instant, rng
from mock_services.synthetic.people import PatientProfile

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DIAG_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"

_CLASS_DISPLAY = {"IMP": "inpatient encounter", "AMB": "ambulatory", "EMER": "emergency"}
_FLAG_DISPLAY = {"H": "High", "L": "Low", "N": "Normal"}
_HISTORY = timedelta(days=730)
_ALLERGY_CS = "http://terminology.hl7.org/CodeSystem/allergyintolerance"


class _Encounter:
    """What later resources need to know about a generated encounter."""

    def __init__(self, rid: str, start: datetime, end: datetime, cls: str, ward: str) -> None:
        self.id, self.start, self.end, self.cls, self.ward = rid, start, end, cls, ward

    @property
    def in_progress(self) -> bool:
        return self.end > BASE_INSTANT

    def moment(self, r: random.Random) -> datetime:
        """A random minute within the encounter, not after BASE_INSTANT."""
        last = min(self.end, BASE_INSTANT)
        return _minute(self.start + (last - self.start) * r.random())


def clinical_resources(seed: int, p: PatientProfile) -> list[dict[str, Any]]:
    """Every clinical resource of patient ``p`` (a few dozen dicts; see the module docstring)."""
    r = rng(seed, "clinical", p.index)
    subject = {"reference": f"Patient/{p.id}"}
    encounters = _encounters(r, p)
    observations: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []

    def next_obs_id() -> str:
        return f"obs-{p.id}-{len(observations) + 1:04d}"

    for enc in encounters:
        ref = {"reference": f"Encounter/{enc.id}"}
        sets = min(3, max(1, (enc.end - enc.start).days + 1)) if enc.cls == "IMP" else 1
        for _ in range(sets):
            when = fhir_instant(enc.moment(r))
            for obs in _vitals(r, when):
                observations.append(
                    {"resourceType": "Observation", "id": next_obs_id(), **obs, "subject": subject, "encounter": ref}
                )
        for panel in vocab.PANELS:
            if r.random() >= panel.probability:
                continue
            collected = enc.moment(r)
            issued = fhir_instant(collected + timedelta(minutes=r.randint(30, 360)))
            ids = []
            for test in panel.tests:
                obs_id = next_obs_id()
                ids.append(obs_id)
                observations.append(
                    _lab(r, obs_id, test, p.gender, subject, ref, fhir_instant(collected), issued)
                )
            reports.append(
                {
                    "resourceType": "DiagnosticReport",
                    "id": f"dr-{p.id}-{len(reports) + 1:02d}",
                    "status": "final",
                    "category": [{"coding": [{"system": DIAG_SERVICE, "code": "LAB", "display": "Laboratory"}]}],
                    "code": _loinc(panel.code, panel.display),
                    "subject": subject,
                    "encounter": ref,
                    "effectiveDateTime": fhir_instant(collected),
                    "issued": issued,
                    "performer": [{"display": "Laboratoire de biologie médicale"}],
                    "result": [{"reference": f"Observation/{i}"} for i in ids],
                }
            )
    resources = [_encounter_resource(e, subject) for e in encounters]
    resources += observations + reports
    resources += _medications(r, p, encounters, subject)
    resources += _allergies(r, p, encounters, subject)
    return resources


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _encounters(r: random.Random, p: PatientProfile) -> list[_Encounter]:
    born = datetime(p.birth_date.year, p.birth_date.month, p.birth_date.day, tzinfo=UTC)
    first = max(BASE_INSTANT - _HISTORY, born + timedelta(hours=1))
    span = (BASE_INSTANT - first).total_seconds()
    count = r.choices((1, 2, 3), weights=(45, 35, 20))[0]
    starts = sorted(_minute(first + timedelta(seconds=span * r.random())) for _ in range(count))
    age = (BASE_INSTANT - born).days / 365.25
    result = []
    for n, start in enumerate(starts, 1):
        ward = r.choice(vocab.WARDS)
        if age < 16 and ward not in ("urgences", "orthopédie", "réanimation"):
            ward = "pédiatrie"
        elif ward == "pédiatrie" or (ward == "maternité" and (p.gender == "male" or not 16 <= age <= 48)):
            ward = "médecine interne"
        if ward == "urgences":
            cls, length = "EMER", timedelta(minutes=r.randint(120, 720))
        elif r.random() < 0.6:
            cls, length = "IMP", timedelta(hours=r.randint(20, 240))
        else:
            cls, length = "AMB", timedelta(minutes=r.randint(45, 240))
        result.append(_Encounter(f"enc-{p.id}-{n:02d}", start, start + length, cls, ward))
    return result


def _encounter_resource(enc: _Encounter, subject: dict[str, str]) -> dict[str, Any]:
    period = {"start": fhir_instant(enc.start)}
    if not enc.in_progress:
        period["end"] = fhir_instant(enc.end)
    return {
        "resourceType": "Encounter",
        "id": enc.id,
        "status": "in-progress" if enc.in_progress else "finished",
        "class": {"system": ACT_CODE, "code": enc.cls, "display": _CLASS_DISPLAY[enc.cls]},
        "subject": subject,
        "period": period,
        "serviceProvider": {"display": enc.ward},
    }


def _loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _draw(r: random.Random, low: float, high: float, decimals: int) -> float:
    value = r.triangular(low, high)
    return round(value, decimals) if decimals else round(value)


def _vitals(r: random.Random, when: str) -> list[dict[str, Any]]:
    category = [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}]

    def obs(code: str, display: str, **value: Any) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "category": category,
            "code": _loinc(code, display),
            "effectiveDateTime": when,
            **value,
        }

    def simple(v: vocab.Vital) -> dict[str, Any]:
        return obs(v.code, v.display, valueQuantity=_quantity(_draw(r, v.low, v.high, v.decimals), v.unit))

    bp = [
        {"code": _loinc(v.code, v.display), "valueQuantity": _quantity(_draw(r, v.low, v.high, v.decimals), v.unit)}
        for v in (vocab.SYSTOLIC, vocab.DIASTOLIC)
    ]
    return [
        simple(vocab.HEART_RATE),
        obs(*vocab.BP_PANEL, component=bp),
        simple(vocab.TEMPERATURE),
        simple(vocab.SPO2),
    ]


def _lab(
    r: random.Random,
    obs_id: str,
    test: vocab.LabTest,
    gender: str,
    subject: dict[str, str],
    encounter: dict[str, str],
    effective: str,
    issued: str,
) -> dict[str, Any]:
    low, high = test.low, test.high
    if test.code == "718-7":  # hemoglobin's reference range is sex-specific
        low, high = (12.0, 16.0) if gender == "female" else (13.0, 17.0)
    # A normal around the middle with sd = half-range / 1.3 puts ~19 % outside the range.
    raw = max(low * 0.3, r.gauss((low + high) / 2, (high - low) / 2.6))
    value = round(raw, test.decimals) if test.decimals else round(raw)
    flag = "L" if value < low else "H" if value > high else "N"
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory", "display": "Laboratory"}]}],
        "code": _loinc(test.code, test.display),
        "subject": subject,
        "encounter": encounter,
        "effectiveDateTime": effective,
        "issued": issued,
        "valueQuantity": _quantity(value, test.unit),
        "interpretation": [{"coding": [{"system": INTERPRETATION, "code": flag, "display": _FLAG_DISPLAY[flag]}]}],
        "referenceRange": [{"low": _quantity(low, test.unit), "high": _quantity(high, test.unit)}],
    }


def _medications(
    r: random.Random, p: PatientProfile, encounters: list[_Encounter], subject: dict[str, str]
) -> list[dict[str, Any]]:
    result = []
    for n, med in enumerate(r.sample(vocab.MEDICATIONS, r.randint(1, 4)), 1):
        enc = r.choice(encounters)
        latest = enc is encounters[-1]
        active = enc.in_progress or (latest and r.random() < 0.5)
        prescriber = f"Dr {r.choice(vocab.FAMILY_NAMES).title()}"
        result.append(
            {
                "resourceType": "MedicationRequest",
                "id": f"medrq-{p.id}-{n:02d}",
                "status": "active" if active else "completed",
                "intent": "order",
                "medicationCodeableConcept": {
                    "coding": [{"system": ATC, "code": med.atc, "display": med.display}],
                    "text": med.display,
                },
                "subject": subject,
                "encounter": {"reference": f"Encounter/{enc.id}"},
                "authoredOn": fhir_instant(enc.moment(r)),
                "requester": {"display": prescriber},
                "dosageInstruction": [{"text": med.dosage}],
            }
        )
    return result


def _allergies(
    r: random.Random, p: PatientProfile, encounters: list[_Encounter], subject: dict[str, str]
) -> list[dict[str, Any]]:
    count = r.choices((0, 1, 2), weights=(50, 35, 15))[0]
    result = []
    for n, (code, display, category) in enumerate(r.sample(vocab.ALLERGENS, count), 1):
        result.append(
            {
                "resourceType": "AllergyIntolerance",
                "id": f"alg-{p.id}-{n:02d}",
                "clinicalStatus": {"coding": [{"system": f"{_ALLERGY_CS}-clinical", "code": "active"}]},
                "verificationStatus": {"coding": [{"system": f"{_ALLERGY_CS}-verification", "code": "confirmed"}]},
                "type": "allergy",
                "category": [category],
                "criticality": r.choice(("low", "high")),
                "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
                "patient": subject,
                "recordedDate": fhir_instant(encounters[0].start),
            }
        )
    return result
