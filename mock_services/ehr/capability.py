"""What the server says about itself: the FHIR CapabilityStatement and an OpenAPI 3 document.

Both are generated from :data:`~.resources.RESOURCE_TYPES` and :mod:`.search`, the tables the
server runs on, so they cannot drift from what it does. ``GET /metadata`` and
``GET /openapi.json`` serve them (:mod:`.app`).
"""

from __future__ import annotations

from typing import Any

from mock_services.ehr.outcome import FHIR_JSON
from mock_services.ehr.resources import RESOURCE_TYPES, ResourceType
from mock_services.ehr.search import DATE_PREFIXES, DEFAULT_COUNT, MAX_COUNT

Json = dict[str, Any]  # a JSON document under construction
SOFTWARE_VERSION = "0.2.0"
INTERACTIONS = ("create", "read", "vread", "update", "search-type")


def capability_statement(base_url: str, name: str, datacenter: str, date: str) -> Json:
    resources = []
    for resource_type in RESOURCE_TYPES.values():
        params = [{"name": "_id", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id"}]
        params += [
            {"name": param.name, "type": param.kind.value, "documentation": param.expression}
            for param in resource_type.params.values()
        ]
        resources.append(
            {
                "type": resource_type.name,
                "versioning": "versioned",
                "readHistory": True,
                "updateCreate": True,
                "conditionalCreate": True,
                "interaction": [{"code": code} for code in INTERACTIONS],
                "searchParam": params,
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "mock-ehr", "version": SOFTWARE_VERSION},
        "implementation": {"description": f"mock EHR {name} in {datacenter}", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON, "json"],
        "rest": [{"mode": "server", "resource": resources}],
    }


# -- OpenAPI ----------------------------------------------------------------------------------

_OUTCOME: Json = {"$ref": "#/components/schemas/OperationOutcome"}


def _content(schema: Json) -> Json:
    return {FHIR_JSON: {"schema": schema}, "application/json": {"schema": schema}}


def _response(description: str, schema: Json = _OUTCOME) -> Json:
    return {"description": description, "content": _content(schema)}


def _errors(*codes: int) -> Json:
    text = {
        400: "invalid request or resource (OperationOutcome naming the element or parameter)",
        404: "not found, or resource type not supported",
        412: "precondition failed (If-Match / If-None-Exist)",
        415: "unsupported Content-Type",
        503: "not the primary, or the write could not be acknowledged",
    }
    return {str(code): _response(text[code]) for code in codes}


def _search_parameters(resource_type: ResourceType) -> list[Json]:
    params: list[Json] = [
        {"name": "_id", "in": "query", "schema": {"type": "string"}, "description": "comma-separated ids"},
        {
            "name": "_count",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_COUNT, "default": DEFAULT_COUNT},
        },
        {"name": "_cursor", "in": "query", "schema": {"type": "integer"}, "description": "paging cursor (next link)"},
    ]
    for param in resource_type.params.values():
        description = f"{param.kind.value} search on {param.expression}"
        if param.kind.value == "date":
            description += f"; optional prefix {'|'.join(DATE_PREFIXES)}"
        params.append({"name": param.name, "in": "query", "schema": {"type": "string"}, "description": description})
    return params


def openapi_document(base_url: str) -> Json:
    """An OpenAPI 3.0 description of the FHIR endpoints (plus health, primary check, metrics)."""
    resource_schema: Json = {"$ref": "#/components/schemas/Resource"}
    bundle_schema: Json = {"$ref": "#/components/schemas/Bundle"}
    id_param: Json = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    paths: Json = {
        "/metadata": {
            "get": {"summary": "CapabilityStatement", "responses": {"200": _response("the statement", resource_schema)}}
        },
        "/health": {
            "get": {
                "summary": "liveness and role",
                "responses": {"200": {"description": "status, name, datacenter, role, epoch, lsn"}},
            }
        },
        "/primary": {
            "get": {
                "summary": "primary check (HAProxy)",
                "responses": {"200": {"description": "this instance is the primary"}, **_errors(503)},
            }
        },
        "/metrics": {
            "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition"}}}
        },
    }
    for name, resource_type in RESOURCE_TYPES.items():
        tag = [name]
        paths[f"/{name}"] = {
            "get": {
                "tags": tag,
                "summary": f"search {name}",
                "operationId": f"search{name}",
                "parameters": _search_parameters(resource_type),
                "responses": {"200": _response("searchset Bundle", bundle_schema), **_errors(400)},
            },
            "post": {
                "tags": tag,
                "summary": f"create {name} (conditional with If-None-Exist)",
                "operationId": f"create{name}",
                "parameters": [{"name": "If-None-Exist", "in": "header", "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": _content(resource_schema)},
                "responses": {
                    "201": _response("created", resource_schema),
                    "200": _response("conditional create matched an existing resource", resource_schema),
                    **_errors(400, 412, 415, 503),
                },
            },
        }
        paths[f"/{name}/{{id}}"] = {
            "get": {
                "tags": tag,
                "summary": f"read {name}",
                "operationId": f"read{name}",
                "parameters": [id_param],
                "responses": {"200": _response("current version", resource_schema), **_errors(404)},
            },
            "put": {
                "tags": tag,
                "summary": f"update {name} (update-as-create allowed)",
                "operationId": f"update{name}",
                "parameters": [id_param, {"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": _content(resource_schema)},
                "responses": {
                    "200": _response("updated", resource_schema),
                    "201": _response("created", resource_schema),
                    **_errors(400, 412, 415, 503),
                },
            },
        }
        paths[f"/{name}/{{id}}/_history/{{vid}}"] = {
            "get": {
                "tags": tag,
                "summary": f"vread {name}",
                "operationId": f"vread{name}",
                "parameters": [id_param, {"name": "vid", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _response("that version", resource_schema), **_errors(404)},
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "mock EHR (FHIR R4)", "version": SOFTWARE_VERSION},
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "schemas": {
                "Resource": {
                    "type": "object",
                    "required": ["resourceType"],
                    "properties": {
                        "resourceType": {"type": "string", "enum": list(RESOURCE_TYPES)},
                        "id": {"type": "string"},
                    },
                    "additionalProperties": True,
                },
                "Bundle": {
                    "type": "object",
                    "properties": {
                        "resourceType": {"type": "string", "enum": ["Bundle"]},
                        "type": {"type": "string"},
                        "total": {"type": "integer"},
                        "link": {"type": "array", "items": {"type": "object"}},
                        "entry": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "OperationOutcome": {
                    "type": "object",
                    "properties": {
                        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
                        "issue": {"type": "array", "items": {"type": "object"}},
                    },
                },
            }
        },
    }
