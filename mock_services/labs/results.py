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

The EHR checks only the elements it indexes and keeps the others as sent, so any element read
here may be of another shape than FHIR says (a ``result`` that is a number, an ``issued`` that
is ``true``...). Such an element is shown as absent (null) -- a ``result`` entry that is no
reference as a missing row -- never an error: a results page that fails shows nothing at all.
"""

from __future__ import annotations

from typing import Any

from mock_services.labs.ehr_client import PatientLabData

_FLAGS = {"H": "H", "HH": "H", "HU": "H", "L": "L", "LL": "L", "LU": "L", "N": "N"}


def _text(value: Any) -> str | None:
    """A string element, or None when it is absent or of another type."""
    return value if isinstance(value, str) else None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _first_coding(concept: Any) -> tuple[str | None, str | None]:
    """(code, display) of a CodeableConcept's first coding, display falling back to ``text``."""
    concept = _object(concept)
    coding = _object((_list(concept.get("coding")) or [{}])[0])
    return _text(coding.get("code")), _text(coding.get("display")) or _text(concept.get("text"))


def _flag(observation: dict[str, Any], value: Any, low: Any, high: Any) -> str | None:
    for concept in _list(observation.get("interpretation")):
        code, _ = _first_coding(concept)
        if code in _FLAGS:
            return _FLAGS[code]
    value, low, high = _number(value), _number(low), _number(high)
    if value is None:
        return None
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return "N" if low is not None or high is not None else None


def observation_result(observation: dict[str, Any]) -> dict[str, Any]:
    """One Observation as a row of a result document."""
    code, display = _first_coding(observation.get("code"))
    quantity = _object(observation.get("valueQuantity"))
    value = quantity.get("value", observation.get("valueString"))
    unit = _text(quantity.get("unit")) or _text(quantity.get("code"))
    reference_range = None
    low = high = None
    ranges = _list(observation.get("referenceRange"))
    if ranges and isinstance(ranges[0], dict):
        low = _object(ranges[0].get("low")).get("value")
        high = _object(ranges[0].get("high")).get("value")
        reference_range = {"low": low, "high": high, "text": ranges[0].get("text")}
    return {
        "id": _text(observation.get("id")),
        "code": code,
        "display": display,
        "value": value,
        "unit": unit,
        "reference_range": reference_range,
        "flag": _flag(observation, value, low, high),
        "status": _text(observation.get("status")),
        "missing": False,
    }


def _missing(observation_id: str | None) -> dict[str, Any]:
    empty = dict.fromkeys(("code", "display", "value", "unit", "reference_range", "flag", "status"))
    return {"id": observation_id, **empty, "missing": True}


def lab_results(data: PatientLabData) -> list[dict[str, Any]]:
    """The patient's result documents, newest first (see the module docstring)."""
    observations = {o.get("id"): o for o in data.observations if isinstance(o.get("id"), str)}
    results = []
    for report in data.reports:
        code, display = _first_coding(report.get("code"))
        rows = []
        for reference in _list(report.get("result")):
            target = _text(_object(reference).get("reference"))
            observation_id = target.rsplit("/", 1)[-1] if target else None
            found = observations.get(observation_id) if observation_id else None
            rows.append(observation_result(found) if found is not None else _missing(observation_id))
        results.append(
            {
                "id": _text(report.get("id")),
                "code": code,
                "display": display,
                "status": _text(report.get("status")),
                "issued": _text(report.get("issued")),
                "effective": _text(report.get("effectiveDateTime")),
                "encounter": _text(_object(report.get("encounter")).get("reference")),
                "observations": rows,
            }
        )
    # ISO-8601 UTC strings sort chronologically; reports without ``issued`` go last.
    results.sort(key=lambda r: r["issued"] or "", reverse=True)
    return results


def patient_summary(patient: dict[str, Any]) -> dict[str, Any]:
    """Name, birth date and sex of a FHIR Patient, for page headers."""
    name = _object((_list(patient.get("name")) or [{}])[0])
    given = " ".join(part for part in _list(name.get("given")) if isinstance(part, str))
    return {
        "id": _text(patient.get("id")),
        "name": " ".join(part for part in (_text(name.get("family")), given) if part) or _text(name.get("text")) or "",
        "birth_date": _text(patient.get("birthDate")),
        "gender": _text(patient.get("gender")),
    }
