"""Every resource type the generator makes parses with fhir.resources' R4B models (an independent check)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from mock_services.synthetic import SyntheticConfig, generate

EXPECTED = {"Patient", "Encounter", "Observation", "DiagnosticReport", "MedicationRequest", "AllergyIntolerance"}


def test_samples_of_each_type_parse_as_r4b() -> None:
    data = generate(SyntheticConfig(seed=11, patients=25))
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource in [*data.patients(), *data.clinical()]:
        by_type[resource["resourceType"]].append(resource)
    assert set(by_type) == EXPECTED
    for kind, resources in by_type.items():
        model = get_fhir_model_class(kind)
        for resource in resources[:: max(1, len(resources) // 40)]:  # up to ~40 of each
            parsed = model.model_validate(resource)
            assert parsed.id == resource["id"]
    vitals = [r for r in by_type["Observation"] if r["code"]["coding"][0]["code"] == "85354-9"]
    bp = get_fhir_model_class("Observation").model_validate(vitals[0])
    assert [c.code.coding[0].code for c in bp.component] == ["8480-6", "8462-4"]


def test_patient_round_trips_through_r4b() -> None:
    patient = generate(SyntheticConfig(seed=11, patients=3)).patient(2)
    parsed = get_fhir_model_class("Patient").model_validate(patient)
    again = parsed.model_dump(mode="json", exclude_none=True)
    assert again["identifier"] == patient["identifier"]
    assert again["name"] == patient["name"] and again["birthDate"] == patient["birthDate"]
