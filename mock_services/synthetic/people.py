"""Patients: the demographic profile of patient i and its FHIR R4 Patient resource.

The profile comes from its own random stream (``"patient"``), so the clinical and imaging
generators can recompute a patient's name, sex and birth date without generating anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from mock_services.synthetic import vocab
from mock_services.synthetic.model import BASE_DATE, MRN_SYSTEM, patient_id, rng


@dataclass(frozen=True)
class PatientProfile:
    """Who patient ``index`` is: names, sex, birth date, address (``address`` None for ~10%)."""

    index: int
    id: str
    mrn: str
    family: str
    given: str
    gender: str  # FHIR: "male" | "female"
    birth_date: date
    address: tuple[str, str, str] | None  # (line, city, postal code)

    @property
    def dicom_sex(self) -> str:
        return "M" if self.gender == "male" else "F"

    @property
    def dicom_name(self) -> str:
        """``FAMILY^GIVEN`` as DICOM's PN value."""
        return f"{self.family}^{self.given}"


def profile(seed: int, index: int) -> PatientProfile:
    """The profile of patient ``index`` (1-based). Ages run from 0 to 95 on BASE_DATE, skewed old
    (hospital populations are)."""
    r = rng(seed, "patient", index)
    gender = "female" if r.random() < 0.52 else "male"
    given = r.choice(vocab.FEMALE_GIVEN if gender == "female" else vocab.MALE_GIVEN)
    family = r.choice(vocab.FAMILY_NAMES)
    age_days = int(min(95.0, r.triangular(0, 95, 70)) * 365.25)
    birth = BASE_DATE - timedelta(days=age_days + 1)
    address = None
    if r.random() < 0.9:
        city, postal_code = r.choice(vocab.CITIES)
        address = (f"{r.randint(1, 180)} {r.choice(vocab.STREETS)}", city, postal_code)
    return PatientProfile(
        index=index,
        id=patient_id(index),
        mrn=f"MRN{index:08d}",
        family=family,
        given=given,
        gender=gender,
        birth_date=birth,
        address=address,
    )


def patient_resource(p: PatientProfile) -> dict[str, Any]:
    """The FHIR R4 Patient for a profile: MRN identifier, official name, gender, birthDate, address."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": p.id,
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}],
                    "text": "MRN",
                },
                "system": MRN_SYSTEM,
                "value": p.mrn,
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": p.family, "given": [p.given]}],
        "gender": p.gender,
        "birthDate": p.birth_date.isoformat(),
    }
    if p.address is not None:
        line, city, postal_code = p.address
        resource["address"] = [
            {"use": "home", "line": [line], "city": city, "postalCode": postal_code, "country": "FR"}
        ]
    return resource
