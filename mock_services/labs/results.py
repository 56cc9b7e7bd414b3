"""Shaping FHIR DiagnosticReports and Observations into the portal's lab result documents.

A result document (one per LAB DiagnosticReport, newest ``issued`` first)::

    {"id": "dr-p000001-01", "code": "58410-2", "display": "CBC panel - Blood by Automated count",
     "status": "final", "issued": "2024-...Z", "effective": "2024-...Z",
     "encounter": "Encounter/enc-p000001-01" | null,
     "observations": [{"id", "code", "display", "value", "unit",
                       "reference_range": {"low", "high", "text"} | null,
                       "flag": "H" | "L" | "N" | null, "status", "missing": false}, ...]}

``observations`` follow the report's ``result`` order. A referenced Observation the EHR did
not return is listed as ``{"id", "missing": true}`` (the rest of its fields null), so a gap in
the EHR's data shows instead of silently shrinking the report. ``flag`` is the Observation's
interpretation (H/HH/HU -> H, L/LL/LU -> L, N -> N) when present, else computed from the
value and the reference range, else null.
"""

from __future__ import annotations

from typing import Any

from mock_services.labs.ehr_client import PatientLabData

_FLAGS = {"H": "H", "HH": "H", "HU": "H", "L": "L", "LL": "L", "LU": "L", "N": "N"}


def _first_coding(concept: Any) -> tuple[str | None, str | None]:
    """(code, display) of a CodeableConcept's first coding, display falling back to ``text``."""
    if not isinstance(concept, dict):
        return None, None
    codings = concept.get("coding") or [{}]
    coding = codings[0] if isinstance(codings[0], dict) else {}
    return coding.get("code"), coding.get("display") or concept.get("text")


def _flag(observation: dict[str, Any], value: Any, low: Any, high: Any) -> str | None:
    for concept in observation.get("interpretation") or []:
        code, _ = _first_coding(concept)
        if code in _FLAGS:
            return _FLAGS[code]
    if not isinstance(value, int | float):
        return None
    if isinstance(low, int | float) and value < low:
        return "L"
    if isinstance(high, int | float) and value > high:
        return "H"
    return "N" if low is not None or high is not None else None


def observation_result(observation: dict[str, Any]) -> dict[str, Any]:
    """One Observation as a row of a result document."""
    code, display = _first_coding(observation.get("code"))
    quantity = observation.get("valueQuantity") or {}
    value = quantity.get("value", observation.get("valueString"))
    unit = quantity.get("unit") or quantity.get("code")
    reference_range = None
    ranges = observation.get("referenceRange") or []
    if ranges and isinstance(ranges[0], dict):
        low = (ranges[0].get("low") or {}).get("value")
        high = (ranges[0].get("high") or {}).get("value")
        reference_range = {"low": low, "high": high, "text": ranges[0].get("text")}
    else:
        low = high = None
    return {
        "id": observation.get("id"),
        "code": code,
        "display": display,
        "value": value,
        "unit": unit,
        "reference_range": reference_range,
        "flag": _flag(observation, value, low, high),
        "status": observation.get("status"),
        "missing": False,
    }


def _missing(observation_id: str) -> dict[str, Any]:
    empty = dict.fromkeys(("code", "display", "value", "unit", "reference_range", "flag", "status"))
    return {"id": observation_id, **empty, "missing": True}


def lab_results(data: PatientLabData) -> list[dict[str, Any]]:
    """The patient's result documents, newest first (see the module docstring)."""
    observations = {o.get("id"): o for o in data.observations}
    results = []
    for report in data.reports:
        code, display = _first_coding(report.get("code"))
        rows = []
        for reference in report.get("result") or []:
            target = (reference or {}).get("reference", "") if isinstance(reference, dict) else ""
            observation_id = target.rsplit("/", 1)[-1]
            found = observations.get(observation_id)
            rows.append(observation_result(found) if found is not None else _missing(observation_id))
        results.append(
            {
                "id": report.get("id"),
                "code": code,
                "display": display,
                "status": report.get("status"),
                "issued": report.get("issued"),
                "effective": report.get("effectiveDateTime"),
                "encounter": (report.get("encounter") or {}).get("reference"),
                "observations": rows,
            }
        )
    # ISO-8601 UTC strings sort chronologically; reports without ``issued`` go last.
    results.sort(key=lambda r: r["issued"] or "", reverse=True)
    return results


def patient_summary(patient: dict[str, Any]) -> dict[str, Any]:
    """Name, birth date and sex of a FHIR Patient, for page headers."""
    names = patient.get("name") or [{}]
    name = names[0] if isinstance(names[0], dict) else {}
    given = " ".join(name.get("given") or [])
    return {
        "id": patient.get("id"),
        "name": " ".join(part for part in (name.get("family"), given) if part) or name.get("text") or "",
        "birth_date": patient.get("birthDate"),
        "gender": patient.get("gender"),
    }
