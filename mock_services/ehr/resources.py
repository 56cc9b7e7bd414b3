"""The FHIR resource types this EHR serves: what each must contain and how it is searched.

One :class:`ResourceType` per type, in :data:`RESOURCE_TYPES`. Each lists

* ``elements``: the elements it validates (name, required, check) -- the required elements of
  the R4 spec plus those the search indexes read; everything else passes through unchecked;
* ``indexes``: the values extracted into the SQLite index tables (:mod:`.index`) at write
  time, one :class:`IndexSpec` per indexed element;
* ``params``: the search parameters (US Core's mandatory ones and a few more), each reading
  one index. ``patient`` and ``subject`` share one index: ``patient`` only matches
  references to a Patient.

Everything here is data plus pure functions, so the CapabilityStatement and the OpenAPI
description (:mod:`.capability`) are generated from the same table the server runs on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from mock_services.ehr import extract
from mock_services.ehr.extract import Extractor, Resource
from mock_services.ehr.fhirtypes import (
    ID_PATTERN,
    InvalidResource,
    Validator,
    code_of,
    codeable_concept,
    coding,
    date,
    date_time,
    expect_object,
    expect_string,
    human_name,
    identifier,
    list_of,
    period,
    reference,
)

__all__ = ["RESOURCE_TYPES", "Extractor", "IndexSpec", "Kind", "Resource", "ResourceType", "SearchParam"]


def compact_json(document: object) -> str:
    """The one JSON encoding of stored resources: compact, non-ASCII kept (names are French)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


class Kind(StrEnum):
    """A search parameter type (FHIR's names) and so the index table it lives in."""

    TOKEN = "token"
    STRING = "string"
    DATE = "date"
    REFERENCE = "reference"


@dataclass(frozen=True)
class IndexSpec:
    """Values of one element, extracted for search. ``key`` names the rows in the index table.

    ``extract`` returns, per kind: TOKEN (system, code) pairs; STRING normalized strings;
    DATE (start, end) ranges; REFERENCE ``Type/id`` strings.
    """

    key: str
    kind: Kind
    extract: Extractor


@dataclass(frozen=True)
class SearchParam:
    name: str
    index: IndexSpec
    expression: str  # FHIRPath, for the CapabilityStatement and people
    targets: tuple[str, ...] = ()  # reference params: target types a bare id may mean

    @property
    def kind(self) -> Kind:
        return self.index.kind


@dataclass(frozen=True)
class Element:
    name: str
    required: bool
    check: Validator


@dataclass(frozen=True)
class ResourceType:
    name: str
    elements: tuple[Element, ...]
    params: Mapping[str, SearchParam]
    one_of: tuple[tuple[str, ...], ...] = ()  # choice elements: exactly one of these is required
    indexes: tuple[IndexSpec, ...] = field(init=False)

    def __post_init__(self) -> None:
        unique = {param.index.key: param.index for param in self.params.values()}
        object.__setattr__(self, "indexes", tuple(unique.values()))

    def validate(self, resource: Resource) -> None:
        """Raise :class:`InvalidResource` naming the first element that is missing or malformed."""
        for element in self.elements:
            path = f"{self.name}.{element.name}"
            value = resource.get(element.name)
            if value is None or value == [] or value == "":
                if element.required:
                    raise InvalidResource(f"{path}: missing required element")
                if element.name in resource and value is not None:
                    raise InvalidResource(f"{path}: must not be empty (omit the element instead)")
                continue
            element.check(value, path)
        for choices in self.one_of:
            present = [name for name in choices if name in resource]
            if len(present) != 1:
                found = "none" if not present else " and ".join(present)
                raise InvalidResource(f"{self.name}: exactly one of {', '.join(choices)} is required, found {found}")


def _subject_params(type_name: str, element: str = "subject") -> dict[str, SearchParam]:
    index = IndexSpec(f"{type_name}.{element}", Kind.REFERENCE, extract.references(element))
    expression = f"{type_name}.{element}.where(resolve() is Patient)"
    params = {"patient": SearchParam("patient", index, expression, ("Patient",))}
    if element == "subject":
        params["subject"] = SearchParam("subject", index, f"{type_name}.subject", ("Patient", "Group"))
    return params


def _param(type_name: str, name: str, kind: Kind, expression: str, extract: Extractor) -> SearchParam:
    return SearchParam(name, IndexSpec(f"{type_name}.{name}", kind, extract), expression)


def _identifier_param(type_name: str) -> SearchParam:
    """``identifier`` (token): every type has one; clients use it for conditional creates."""
    return _param(type_name, "identifier", Kind.TOKEN, f"{type_name}.identifier", extract.tokens("identifier"))


# -- the types -------------------------------------------------------------------------------

_OBSERVATION_STATUS = code_of(
    "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"
)

PATIENT = ResourceType(
    "Patient",
    elements=(
        Element("identifier", False, list_of(identifier)),
        Element("name", False, list_of(human_name)),
        Element("gender", False, code_of("male", "female", "other", "unknown")),
        Element("birthDate", False, date),
    ),
    params={
        "identifier": _param("Patient", "identifier", Kind.TOKEN, "Patient.identifier", extract.tokens("identifier")),
        "name": _param("Patient", "name", Kind.STRING, "Patient.name", extract.names()),
        "family": _param("Patient", "family", Kind.STRING, "Patient.name.family", extract.names("family")),
        "given": _param("Patient", "given", Kind.STRING, "Patient.name.given", extract.names("given")),
        "birthdate": _param("Patient", "birthdate", Kind.DATE, "Patient.birthDate", extract.dates("birthDate")),
        "gender": _param("Patient", "gender", Kind.TOKEN, "Patient.gender", extract.tokens("gender")),
    },
)

ENCOUNTER = ResourceType(
    "Encounter",
    elements=(
        Element("identifier", False, list_of(identifier)),
        Element(
            "status",
            True,
            code_of(
                "planned",
                "arrived",
                "triaged",
                "in-progress",
                "onleave",
                "finished",
                "cancelled",
                "entered-in-error",
                "unknown",
            ),
        ),
        Element("class", True, coding),
        Element("subject", False, reference),
        Element("period", False, period),
    ),
    params={
        "identifier": _identifier_param("Encounter"),
        **_subject_params("Encounter"),
        "date": _param("Encounter", "date", Kind.DATE, "Encounter.period.start", extract.dates("period.start")),
        "status": _param("Encounter", "status", Kind.TOKEN, "Encounter.status", extract.tokens("status")),
        "class": _param("Encounter", "class", Kind.TOKEN, "Encounter.class", extract.tokens("class")),
    },
)

OBSERVATION = ResourceType(
    "Observation",
    elements=(
        Element("identifier", False, list_of(identifier)),
        Element("status", True, _OBSERVATION_STATUS),
        Element("category", False, list_of(codeable_concept)),
        Element("code", True, codeable_concept),
        Element("subject", False, reference),
        Element("effectiveDateTime", False, date_time),
        Element("effectivePeriod", False, period),
    ),
    params={
        "identifier": _identifier_param("Observation"),
        **_subject_params("Observation"),
        "category": _param("Observation", "category", Kind.TOKEN, "Observation.category", extract.tokens("category")),
        "code": _param("Observation", "code", Kind.TOKEN, "Observation.code", extract.tokens("code")),
        "date": _param("Observation", "date", Kind.DATE, "Observation.effective", extract.effective),
    },
)

MEDICATION_REQUEST = ResourceType(
    "MedicationRequest",
    elements=(
        Element("identifier", False, list_of(identifier)),
        Element(
            "status",
            True,
            code_of("active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"),
        ),
        Element(
            "intent",
            True,
            code_of(
                "proposal",
                "plan",
                "order",
                "original-order",
                "reflex-order",
                "filler-order",
                "instance-order",
                "option",
            ),
        ),
        Element("subject", True, reference),
        Element("medicationCodeableConcept", False, codeable_concept),
        Element("medicationReference", False, reference),
        Element("authoredOn", False, date_time),
    ),
    one_of=(("medicationCodeableConcept", "medicationReference"),),
    params={
        "identifier": _identifier_param("MedicationRequest"),
        **_subject_params("MedicationRequest"),
        "intent": _param(
            "MedicationRequest", "intent", Kind.TOKEN, "MedicationRequest.intent", extract.tokens("intent")
        ),
        "status": _param(
            "MedicationRequest", "status", Kind.TOKEN, "MedicationRequest.status", extract.tokens("status")
        ),
        "authoredon": _param(
            "MedicationRequest", "authoredon", Kind.DATE, "MedicationRequest.authoredOn", extract.dates("authoredOn")
        ),
    },
)

DIAGNOSTIC_REPORT = ResourceType(
    "DiagnosticReport",
    elements=(
        Element("identifier", False, list_of(identifier)),
        Element(
            "status",
            True,
            code_of(
                "registered",
                "partial",
                "preliminary",
                "final",
                "amended",
                "corrected",
                "appended",
                "cancelled",
                "entered-in-error",
                "unknown",
            ),
        ),
        Element("category", False, list_of(codeable_concept)),
        Element("code", True, codeable_concept),
        Element("subject", False, reference),
        Element("effectiveDateTime", False, date_time),
        Element("effectivePeriod", False, period),
    ),
    params={
        "identifier": _identifier_param("DiagnosticReport"),
        **_subject_params("DiagnosticReport"),
        "category": _param(
            "DiagnosticReport", "category", Kind.TOKEN, "DiagnosticReport.category", extract.tokens("category")
        ),
        "code": _param("DiagnosticReport", "code", Kind.TOKEN, "DiagnosticReport.code", extract.tokens("code")),
        "date": _param("DiagnosticReport", "date", Kind.DATE, "DiagnosticReport.effective", extract.effective),
    },
)

ALLERGY_INTOLERANCE = ResourceType(
    "AllergyIntolerance",
    elements=(
        Element("identifier", False, list_of(identifier)),
        Element("clinicalStatus", False, codeable_concept),
        Element("type", False, code_of("allergy", "intolerance")),
        Element("category", False, list_of(code_of("food", "medication", "environment", "biologic"))),
        Element("criticality", False, code_of("low", "high", "unable-to-assess")),
        Element("code", False, codeable_concept),
        Element("patient", True, reference),
    ),
    params={
        "identifier": _identifier_param("AllergyIntolerance"),
        **_subject_params("AllergyIntolerance", "patient"),
        "clinical-status": _param(
            "AllergyIntolerance",
            "clinical-status",
            Kind.TOKEN,
            "AllergyIntolerance.clinicalStatus",
            extract.tokens("clinicalStatus"),
        ),
    },
)

# The nurse's record of a dose given (the load's medication administration task). R4 has the
# choices medication[x] and effective[x]; this EHR takes the CodeableConcept and the dateTime
# forms, the ones bedside barcode-scanning systems send, and requires them.
MEDICATION_ADMINISTRATION = ResourceType(
    "MedicationAdministration",
    elements=(
        Element("identifier", False, list_of(identifier)),
        Element(
            "status",
            True,
            code_of("in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped", "unknown"),
        ),
        Element("medicationCodeableConcept", True, codeable_concept),
        Element("subject", True, reference),
        Element("effectiveDateTime", True, date_time),
        Element("request", False, reference),
    ),
    params={
        "identifier": _identifier_param("MedicationAdministration"),
        **_subject_params("MedicationAdministration"),
        "status": _param(
            "MedicationAdministration",
            "status",
            Kind.TOKEN,
            "MedicationAdministration.status",
            extract.tokens("status"),
        ),
    },
)

# A lab or imaging order (the care application's lab / imaging orders). R4 requires status,
# intent and subject; code (what is asked for) and category are optional there and here, but
# checked when present and searched by (US Core's patient+category, patient+code, authored).
SERVICE_REQUEST = ResourceType(
    "ServiceRequest",
    elements=(
        Element("identifier", False, list_of(identifier)),
        Element("requisition", False, identifier),
        Element(
            "status",
            True,
            code_of("draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"),
        ),
        Element(
            "intent",
            True,
            code_of(
                "proposal",
                "plan",
                "directive",
                "order",
                "original-order",
                "reflex-order",
                "filler-order",
                "instance-order",
                "option",
            ),
        ),
        Element("category", False, list_of(codeable_concept)),
        Element("priority", False, code_of("routine", "urgent", "asap", "stat")),
        Element("code", False, codeable_concept),
        Element("subject", True, reference),
        Element("encounter", False, reference),
        Element("occurrenceDateTime", False, date_time),
        Element("occurrencePeriod", False, period),
        Element("authoredOn", False, date_time),
        Element("requester", False, reference),
    ),
    params={
        "identifier": _identifier_param("ServiceRequest"),
        **_subject_params("ServiceRequest"),
        "status": _param("ServiceRequest", "status", Kind.TOKEN, "ServiceRequest.status", extract.tokens("status")),
        "intent": _param("ServiceRequest", "intent", Kind.TOKEN, "ServiceRequest.intent", extract.tokens("intent")),
        "category": _param(
            "ServiceRequest", "category", Kind.TOKEN, "ServiceRequest.category", extract.tokens("category")
        ),
        "code": _param("ServiceRequest", "code", Kind.TOKEN, "ServiceRequest.code", extract.tokens("code")),
        "authored": _param(
            "ServiceRequest", "authored", Kind.DATE, "ServiceRequest.authoredOn", extract.dates("authoredOn")
        ),
    },
)

RESOURCE_TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        PATIENT,
        ENCOUNTER,
        OBSERVATION,
        MEDICATION_REQUEST,
        DIAGNOSTIC_REPORT,
        ALLERGY_INTOLERANCE,
        MEDICATION_ADMINISTRATION,
        SERVICE_REQUEST,
    )
}


def validate_resource(payload: object, expected_type: str) -> Resource:
    """Check a client's resource for ``POST/PUT /<expected_type>``; return it as a dict.

    Raises :class:`InvalidResource`: not an object, wrong or missing ``resourceType``, an
    unsupported type, a malformed ``id`` or ``meta``, or an element check of the type failed.
    """
    if not isinstance(payload, dict):
        kind = "a list" if isinstance(payload, list) else type(payload).__name__
        raise InvalidResource(f"request body must be a JSON object (a FHIR resource), got {kind}")
    resource_type = payload.get("resourceType")
    if resource_type != expected_type:
        if isinstance(resource_type, str) and resource_type not in RESOURCE_TYPES:
            raise InvalidResource(f"resourceType {resource_type!r} is not supported (expected {expected_type!r})")
        found = "no resourceType" if resource_type is None else f"resourceType {resource_type!r}"
        raise InvalidResource(f"expected resourceType {expected_type!r}, got {found}")
    resource_id = payload.get("id")
    if resource_id is not None and (not isinstance(resource_id, str) or not ID_PATTERN.fullmatch(resource_id)):
        raise InvalidResource(f"{expected_type}.id: {resource_id!r} is not a FHIR id ([A-Za-z0-9-.]{{1,64}})")
    if "meta" in payload:
        meta = expect_object(payload["meta"], f"{expected_type}.meta")
        for key in ("versionId", "lastUpdated", "source"):
            if key in meta:
                expect_string(meta[key], f"{expected_type}.meta.{key}")
    RESOURCE_TYPES[expected_type].validate(payload)
    return payload
