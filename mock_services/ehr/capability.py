"""What the server says about itself: the FHIR CapabilityStatement and an OpenAPI 3 document.

Both are generated from :data:`~.resources.RESOURCE_TYPES` and :mod:`.search`, the tables the
server runs on, so they cannot drift from what it does. ``GET /metadata`` and
``GET /openapi.json`` serve them (:mod:`.app`). The OpenAPI document lists every route
(FHIR, /health, /primary, /metrics, /metadata, the replication protocol); a test checks it
against the app's route table. Resource bodies are described by their envelope
(``resourceType``, ``id``, ``meta``, the required elements): the element rules are the
server's (:mod:`.resources`), and a body that breaks one is a 400 naming the element.
"""

from __future__ import annotations

from typing import Any

from mock_services.common.openapi import header, json_body, path_param, prometheus_metrics, query, ref, response
from mock_services.ehr.fhirtypes import ID_PATTERN
from mock_services.ehr.outcome import FHIR_JSON
from mock_services.ehr.protocol import Role
from mock_services.ehr.replication_api import DEFAULT_PAGE, MAX_OFFSET, MAX_PAGE
from mock_services.ehr.resources import RESOURCE_TYPES, ResourceType
from mock_services.ehr.search import DATE_PREFIXES, DEFAULT_COUNT, MAX_COUNT, MAX_CURSOR

Json = dict[str, Any]  # a JSON document under construction
SOFTWARE_VERSION = "0.2.0"
MAX_BODY_BYTES = 16 * 1024 * 1024  # a replication batch can be a few MB; nothing legit is bigger
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

_OUTCOME: Json = ref("OperationOutcome")
_FHIR_TYPES = (FHIR_JSON, "application/json")


def _fhir(description: str, schema: Json = _OUTCOME) -> Json:
    return response(description, schema, media_types=(FHIR_JSON,))


def _json(description: str, schema: Json) -> Json:
    return response(description, schema)


def _errors(*codes: int) -> dict[int, Json]:
    text = {
        400: "invalid request or resource (OperationOutcome naming the element or parameter)",
        404: "not found (or no such route: an id with a '/')",
        409: "refused by the replication protocol (reason: not-standby, stale-epoch, resyncing, gap, diverged)",
        412: "precondition failed (If-Match / If-None-Exist)",
        413: f"request body larger than {MAX_BODY_BYTES} bytes",
        415: "unsupported Content-Type",
        503: "not the primary, or the write could not be acknowledged",
    }
    return {code: _fhir(text[code]) for code in codes}


def _search_parameters(resource_type: ResourceType) -> list[Json]:
    params: list[Json] = [
        query("_id", {"type": "string"}, "comma-separated ids"),
        query("_count", {"type": "integer", "minimum": 0, "maximum": MAX_COUNT, "default": DEFAULT_COUNT}),
        query("_cursor", {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR}, "paging cursor (next link)"),
        query("_summary", {"type": "string", "enum": ["count", "false"]}, "count: the total only"),
    ]
    for param in resource_type.params.values():
        description = f"{param.kind.value} search on {param.expression}; an empty value is ignored"
        if param.kind.value == "date":
            description += f"; optional prefix {'|'.join(DATE_PREFIXES)}"
        params.append(query(param.name, {"type": "string"}, description))
    return params


def _resource_schema(resource_type: ResourceType) -> Json:
    """The envelope of a ``resource_type`` body; its elements are checked by the server (see the
    CapabilityStatement), and a wrong one is a 400 naming it."""
    required = ["resourceType", *(element.name for element in resource_type.elements if element.required)]
    return {
        "type": "object",
        "required": required,
        "properties": {
            "resourceType": {"type": "string", "enum": [resource_type.name]},
            "id": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"},
            "meta": {"type": "object"},
        },
        "additionalProperties": True,
    }


def _stored(name: str) -> Json:
    return {"allOf": [ref(name), {"required": ["id", "meta"]}]}


def _resource_paths(name: str, resource_type: ResourceType) -> Json:
    tag = [name]
    id_param = path_param("id", {"type": "string"}, "the resource id")
    body = json_body(ref(name), media_types=_FHIR_TYPES)
    return {
        f"/{name}": {
            "get": {
                "tags": tag,
                "summary": f"search {name}",
                "operationId": f"search{name}",
                "parameters": _search_parameters(resource_type),
                "responses": _numbered({200: _fhir("searchset Bundle", ref("Bundle")), **_errors(400)}),
            },
            "post": {
                "tags": tag,
                "summary": f"create {name} (conditional with If-None-Exist)",
                "operationId": f"create{name}",
                "parameters": [header("If-None-Exist", {"type": "string"}, "a search query with a criterion")],
                "requestBody": body,
                "responses": _numbered({
                    201: _fhir("created", _stored(name)),
                    200: _fhir("conditional create matched an existing resource", _stored(name)),
                    **_errors(400, 412, 413, 415, 503),
                }),
            },
        },
        f"/{name}/{{id}}": {
            "get": {
                "tags": tag,
                "summary": f"read {name}",
                "operationId": f"read{name}",
                "parameters": [id_param],
                "responses": _numbered({200: _fhir("current version", _stored(name)), **_errors(404)}),
            },
            "put": {
                "tags": tag,
                "summary": f"update {name} (update-as-create allowed)",
                "operationId": f"update{name}",
                "parameters": [id_param, header("If-Match", {"type": "string"}, 'W/"<version>" or *')],
                "requestBody": body,
                "responses": _numbered({
                    200: _fhir("updated", _stored(name)),
                    201: _fhir("created", _stored(name)),
                    **_errors(400, 404, 412, 413, 415, 503),
                }),
            },
        },
        f"/{name}/{{id}}/_history/{{vid}}": {
            "get": {
                "tags": tag,
                "summary": f"vread {name}",
                "operationId": f"vread{name}",
                "parameters": [id_param, path_param("vid", {"type": "string"}, "the version id")],
                "responses": _numbered({200: _fhir("that version", _stored(name)), **_errors(404)}),
            }
        },
    }


def _numbered(responses: dict[int, Json]) -> Json:
    return {str(status): answer for status, answer in sorted(responses.items())}


def _get(summary: str, responses: dict[int, Json], parameters: list[Json] | None = None) -> Json:
    operation: Json = {"summary": summary, "operationId": _operation_name(summary), "responses": _numbered(responses)}
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


def _post(summary: str, schema: Json, responses: dict[int, Json]) -> Json:
    operation = {
        "summary": summary,
        "operationId": _operation_name(summary),
        "requestBody": json_body(schema),
        "responses": _numbered(responses),
    }
    return {"post": operation}


def _operation_name(summary: str) -> str:
    words = [word for word in summary.replace("-", " ").split() if word.isalnum()]
    return words[0].lower() + "".join(word.capitalize() for word in words[1:])


def _page_parameters() -> list[Json]:
    return [
        query("after", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}, "skip up to this lsn / offset"),
        query("limit", {"type": "integer", "minimum": 0, "maximum": MAX_PAGE, "default": DEFAULT_PAGE}),
    ]


def _system_paths() -> Json:
    reply = {200: _json("accepted", ref("Reply")), 409: _json("refused (see reason)", ref("Reply"))}
    return {
        "/metadata": _get("CapabilityStatement", {200: _fhir("the statement", ref("CapabilityStatement"))}),
        "/health": _get("liveness and role", {200: _json("status, name, datacenter, role, epoch, lsn", ref("Health"))}),
        "/primary": _get(
            "primary check (HAProxy)", {200: _json("this instance is the primary", ref("Primary")), **_errors(503)}
        ),
        "/metrics": _get("Prometheus metrics", {200: prometheus_metrics()}),
        "/openapi.json": _get("this document", {200: _json("OpenAPI 3.0", {"type": "object"})}),
        "/_replication/status": _get("replication status", {200: _json("NodeStatus and diagnostics", ref("Status"))}),
        "/_replication/heartbeat": _post("replication heartbeat", ref("Heartbeat"), {**reply, **_errors(400, 413)}),
        "/_replication/append": _post("replication append", ref("AppendRequest"), {**reply, **_errors(400, 413)}),
        "/_replication/log": _get(
            "replication log page",
            {200: _json("entries after lsn", ref("LogPage")), **_errors(400)},
            _page_parameters(),
        ),
        "/_replication/discarded": _get(
            "discarded writes",
            {200: _json("writes resyncs discarded", ref("Discarded")), **_errors(400)},
            _page_parameters(),
        ),
    }


def openapi_document(base_url: str) -> Json:
    """An OpenAPI 3.0 description of every route: FHIR, health, primary check, metrics, replication."""
    paths: Json = _system_paths()
    for name, resource_type in RESOURCE_TYPES.items():
        paths.update(_resource_paths(name, resource_type))
    return {
        "openapi": "3.0.3",
        "info": {"title": "mock EHR (FHIR R4)", "version": SOFTWARE_VERSION},
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {"schemas": {**_SCHEMAS, **{n: _resource_schema(t) for n, t in RESOURCE_TYPES.items()}}},
    }


_INT: Json = {"type": "integer"}
_STR: Json = {"type": "string"}
_ROLE: Json = {"type": "string", "enum": [role.value for role in Role]}
_NODE_STATUS: Json = {
    "name": _STR,
    "datacenter": _STR,
    "role": _ROLE,
    "epoch": _INT,
    "lsn": _INT,
    "last_epoch": _INT,
    "resyncing": {"type": "boolean"},
    "base": _STR,
}
_LOG_ENTRY: Json = {
    "type": "object",
    "required": ["lsn", "epoch", "resource_type", "resource_id", "version_id", "last_updated", "body"],
    "properties": {
        "lsn": _INT,
        "epoch": _INT,
        "resource_type": _STR,
        "resource_id": _STR,
        "version_id": _STR,
        "last_updated": _STR,
        "body": {"type": "string", "description": "the resource's JSON text, stored verbatim"},
    },
}
_SCHEMAS: Json = {
    "Bundle": {
        "type": "object",
        "required": ["resourceType", "type", "total", "link", "entry"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["Bundle"]},
            "type": {"type": "string", "enum": ["searchset"]},
            "total": {"type": "integer", "minimum": 0},
            "link": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["relation", "url"],
                    "properties": {"relation": _STR, "url": _STR},
                },
            },
            "entry": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["fullUrl", "resource", "search"],
                    "properties": {"fullUrl": _STR, "resource": {"type": "object", "required": ["resourceType", "id"]}},
                },
            },
        },
    },
    "OperationOutcome": {
        "type": "object",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
            "issue": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["severity", "code", "diagnostics"],
                    "properties": {"severity": _STR, "code": _STR, "diagnostics": _STR},
                },
            },
        },
    },
    "CapabilityStatement": {
        "type": "object",
        "required": ["resourceType", "status", "kind", "fhirVersion", "format", "rest"],
        "properties": {
            "resourceType": {"type": "string", "enum": ["CapabilityStatement"]},
            "status": _STR,
            "kind": _STR,
            "fhirVersion": {"type": "string", "enum": ["4.0.1"]},
            "format": {"type": "array", "items": _STR},
            "rest": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["mode", "resource"]}},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "name", "datacenter", "role", "epoch", "lsn"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}, "name": _STR, "datacenter": _STR,
                       "role": _ROLE, "epoch": _INT, "lsn": _INT},
    },
    "Primary": {
        "type": "object",
        "required": ["role", "name", "datacenter", "epoch", "lsn"],
        "properties": {"role": {"type": "string", "enum": ["primary"]}, "name": _STR, "datacenter": _STR,
                       "epoch": _INT, "lsn": _INT},
    },
    "NodeStatus": {"type": "object", "required": list(_NODE_STATUS)[:-1], "properties": _NODE_STATUS},
    "Status": {
        "allOf": [
            ref("NodeStatus"),
            {"type": "object", "required": ["replication", "in_sync", "peer", "discarded"]},
        ]
    },
    "Reply": {
        "allOf": [
            ref("NodeStatus"),
            {"type": "object", "required": ["accepted", "reason"],
             "properties": {"accepted": {"type": "boolean"}, "reason": _STR}},
        ]
    },
    "Heartbeat": {
        "type": "object",
        "required": ["name", "epoch", "lsn"],
        "properties": {"name": _STR, "epoch": _INT, "lsn": _INT},
    },
    "LogEntry": _LOG_ENTRY,
    "AppendRequest": {
        "type": "object",
        "required": ["name", "epoch", "prev_lsn", "prev_epoch", "entries"],
        "properties": {"name": _STR, "epoch": _INT, "prev_lsn": _INT, "prev_epoch": _INT,
                       "entries": {"type": "array", "items": ref("LogEntry")}},
    },
    "LogPage": {
        "type": "object",
        "required": ["status", "entries"],
        "properties": {"status": ref("NodeStatus"), "entries": {"type": "array", "items": ref("LogEntry")}},
    },
    "Discarded": {
        "type": "object",
        "required": ["total", "entries"],
        "properties": {"total": _INT, "entries": {"type": "array", "items": {"type": "object"}}},
    },
}
