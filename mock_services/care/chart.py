"""Shaping what the services answer into the chart's sections (pure functions).

The same shapes are stored in the downtime snapshot and served live, so a chart looks the
same whichever source it came from -- only its stamps differ (:mod:`.views`).

* ``demographics``: ``{id, name, family, given, birth_date, gender, identifiers}``;
* ``allergies``: ``[{display, code, criticality, category, status}]``;
* ``vitals``: the latest value of each vital sign (LOINC code), newest first:
  ``[{code, display, value, unit, effective}]`` (blood pressure as "120/80");
* ``medications``: active MedicationRequests ``[{id, display, dosage, authored, requester, status}]``;
* ``results``: the lab portal's result documents, newest first, at most :data:`MAX_RESULTS`;
* ``imaging``: QIDO-RS studies ``[{study_uid, date, time, description, modalities, accession}]``.
"""

from __future__ import annotations

from typing import Any

MAX_RESULTS = 10
VITAL_SIGNS = "vital-signs"


def _coding(concept: Any) -> tuple[str | None, str | None]:
    if not isinstance(concept, dict):
        return None, None
    codings = concept.get("coding") or [{}]
    first = codings[0] if isinstance(codings[0], dict) else {}
    return first.get("code"), first.get("display") or concept.get("text")


def demographics(patient: dict[str, Any]) -> dict[str, Any]:
    names = patient.get("name") or [{}]
    name = names[0] if isinstance(names[0], dict) else {}
    given = " ".join(name.get("given") or [])
    family = name.get("family") or ""
    return {
        "id": patient.get("id"),
        "name": " ".join(part for part in (family.upper(), given) if part) or name.get("text") or "",
        "family": family,
        "given": given,
        "birth_date": patient.get("birthDate"),
        "gender": patient.get("gender"),
        "identifiers": [
            {"system": i.get("system"), "value": i.get("value")}
            for i in patient.get("identifier") or []
            if isinstance(i, dict)
        ],
    }


def allergies(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shaped = []
    for resource in resources:
        code, display = _coding(resource.get("code"))
        status, _ = _coding(resource.get("clinicalStatus"))
        shaped.append({
            "display": display or "(allergie non codée)",
            "code": code,
            "criticality": resource.get("criticality"),
            "category": resource.get("category") or [],
            "status": status,
        })  # fmt: skip
    return shaped


def _value(observation: dict[str, Any]) -> tuple[Any, str | None]:
    quantity = observation.get("valueQuantity")
    if isinstance(quantity, dict):
        return quantity.get("value"), quantity.get("unit") or quantity.get("code")
    components = observation.get("component") or []
    if components:  # blood pressure: systolic/diastolic
        values = [((c.get("valueQuantity") or {}).get("value"), (c.get("valueQuantity") or {}).get("unit"))
                  for c in components if isinstance(c, dict)]  # fmt: skip
        return "/".join(str(v) for v, _ in values), next((u for _, u in values if u), None)
    return observation.get("valueString"), None


def latest_vitals(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest observation of each code (ISO 8601 UTC strings sort chronologically)."""
    latest: dict[str, dict[str, Any]] = {}
    for observation in observations:
        code, _ = _coding(observation.get("code"))
        when = observation.get("effectiveDateTime") or ""
        key = code or observation.get("id") or ""
        if key not in latest or when > (latest[key].get("effectiveDateTime") or ""):
            latest[key] = observation
    shaped = []
    for observation in latest.values():
        code, display = _coding(observation.get("code"))
        value, unit = _value(observation)
        shaped.append({"code": code, "display": display, "value": value, "unit": unit,
                       "effective": observation.get("effectiveDateTime")})  # fmt: skip
    shaped.sort(key=lambda v: v["effective"] or "", reverse=True)
    return shaped


def medications(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shaped = []
    for request in requests:
        if request.get("status") != "active":
            continue
        _, display = _coding(request.get("medicationCodeableConcept"))
        dosage = (request.get("dosageInstruction") or [{}])[0]
        shaped.append({
            "id": request.get("id"),
            "display": display or "(médicament non codé)",
            "dosage": dosage.get("text") if isinstance(dosage, dict) else None,
            "authored": request.get("authoredOn"),
            "requester": (request.get("requester") or {}).get("display"),
            "status": request.get("status"),
        })  # fmt: skip
    shaped.sort(key=lambda m: m["authored"] or "", reverse=True)
    return shaped


def results(documents: Any) -> list[dict[str, Any]]:
    if not isinstance(documents, list):
        return []
    kept = [d for d in documents if isinstance(d, dict)]
    kept.sort(key=lambda d: d.get("issued") or "", reverse=True)
    return kept[:MAX_RESULTS]


def _dicom(study: dict[str, Any], tag: str) -> Any:
    values = (study.get(tag) or {}).get("Value") or [None]
    return values if tag == "00080061" else values[0]


def imaging(studies: Any) -> list[dict[str, Any]]:
    """QIDO-RS DICOM JSON studies -> rows, newest first."""
    if not isinstance(studies, list):
        return []
    shaped = [
        {
            "study_uid": _dicom(s, "0020000D"),
            "date": _dicom(s, "00080020"),
            "time": _dicom(s, "00080030"),
            "description": _dicom(s, "00081030"),
            "modalities": [m for m in _dicom(s, "00080061") if m],
            "accession": _dicom(s, "00080050"),
        }
        for s in studies
        if isinstance(s, dict)
    ]
    shaped.sort(key=lambda s: (s["date"] or "", s["time"] or ""), reverse=True)
    return shaped


def ward_of(encounter: dict[str, Any]) -> str | None:
    """The ward of an encounter: ``serviceProvider.display`` (how the synthetic hospital names it)."""
    provider = encounter.get("serviceProvider")
    display = provider.get("display") if isinstance(provider, dict) else None
    return display if isinstance(display, str) and display else None
