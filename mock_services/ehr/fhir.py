"""The FHIR R4 REST surface: CapabilityStatement and Patient create / read / vread / search.

Contract (what clients and the harness's probes may rely on):

* ``POST /Patient`` -- body ``application/fhir+json`` or ``application/json`` (or no
  Content-Type), a Patient. 201 with the stored resource: a server-assigned ``id`` (uuid4
  hex; a client-supplied id is ignored), ``meta.versionId`` "1", ``meta.lastUpdated`` (UTC,
  microseconds, ``Z``), headers ``Location: <base>/Patient/<id>/_history/1`` and
  ``ETag: W/"1"``. 201 means committed locally and acknowledged per the replication mode.
  Errors: 400 (not JSON, not an object, resourceType not Patient, malformed identifier),
  415 (other content type), 503 ``transient`` (not the primary; or, in sync-strict mode, the
  standby did not confirm in time -- then the write IS committed locally, outcome
  indeterminate; or the instance stepped down mid-write).
* ``GET /Patient/{id}`` and ``GET /Patient/{id}/_history/{vid}`` -- 200 + ``ETag`` or 404
  ``not-found``. Served by every role (the standby is a read replica).
* ``GET /Patient?identifier=[system|]value[,...]&_id=&_count=`` -- 200 searchset Bundle with
  ``total`` (all matches) and at most ``_count`` entries (default 50, max 1000) in write
  order. FHIR token rules: ``value`` matches any system, ``system|value`` both, ``|value``
  identifiers without a system, ``system|`` any value in that system; commas OR, repeated
  parameters AND; ``\\`` escapes ``,`` ``|`` ``$`` ``\\``. Any other parameter: 400 naming it.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_services.ehr.outcome import FHIR_JSON, dumps, fhir_response, operation_outcome
from mock_services.ehr.protocol import Role
from mock_services.ehr.replication import Node, NotPrimary, WriteOutcome
from mock_services.ehr.store import TokenMatch

SEARCH_PARAMETERS = ("identifier", "_id", "_count")
DEFAULT_COUNT = 50
MAX_COUNT = 1000
ACCEPTED_CONTENT_TYPES = (FHIR_JSON, "application/json")
SOFTWARE_VERSION = "0.1.0"


class InvalidRequest(Exception):
    """A client error; the message is the OperationOutcome's diagnostics."""


def now_instant() -> str:
    """A FHIR ``instant`` for now, in UTC with microseconds (orders writes within a second)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _split_unescaped(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    """Split on ``separator`` not preceded by a backslash; escapes are kept for _unescape."""
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == separator and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_token_list(raw: str) -> list[TokenMatch]:
    """One ``identifier=`` value -> the tokens it ORs together (see the module docstring)."""
    tokens: list[TokenMatch] = []
    for part in _split_unescaped(raw, ","):
        pieces = _split_unescaped(part, "|", maxsplit=1)
        if len(pieces) == 1:
            if not pieces[0]:
                raise InvalidRequest("empty token in search parameter 'identifier'")
            tokens.append(TokenMatch(system=None, value=_unescape(pieces[0])))
        else:
            system, value = (_unescape(piece) for piece in pieces)
            tokens.append(TokenMatch(system=system, value=value or None))
    return tokens


def _validate_patient(payload: object) -> dict[str, object]:
    if not isinstance(payload, dict):
        raise InvalidRequest(f"request body must be a JSON object (a FHIR resource), got {type(payload).__name__}")
    resource_type = payload.get("resourceType")
    if resource_type != "Patient":
        found = "no resourceType" if resource_type is None else f"resourceType {resource_type!r}"
        raise InvalidRequest(f"expected resourceType 'Patient', got {found}")
    if "meta" in payload and not isinstance(payload["meta"], dict):
        raise InvalidRequest("'meta' must be a JSON object")
    identifiers = payload.get("identifier", [])
    if not isinstance(identifiers, list):
        raise InvalidRequest("'identifier' must be a list")
    for index, item in enumerate(identifiers):
        if not isinstance(item, dict):
            raise InvalidRequest(f"identifier[{index}] must be a JSON object")
        for key in ("system", "value"):
            if key in item and not isinstance(item[key], str):
                raise InvalidRequest(f"identifier[{index}].{key} must be a string")
    return payload


def capability_statement(base_url: str, name: str, datacenter: str) -> dict[str, object]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now_instant()[:10],
        "kind": "instance",
        "software": {"name": "mock-ehr", "version": SOFTWARE_VERSION},
        "implementation": {"description": f"mock EHR {name} in {datacenter}", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {
                        "type": "Patient",
                        "versioning": "versioned",
                        "interaction": [{"code": code} for code in ("create", "read", "vread", "search-type")],
                        "searchParam": [
                            {"name": "identifier", "type": "token"},
                            {"name": "_id", "type": "token"},
                        ],
                    }
                ],
            }
        ],
    }


class PatientApi:
    """The request handlers, bound to one :class:`Node`."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def routes(self) -> list[Route]:
        return [
            Route("/metadata", self.metadata, methods=["GET"]),
            Route("/Patient", self.create, methods=["POST"]),
            Route("/Patient", self.search, methods=["GET"]),
            Route("/Patient/{id}", self.read, methods=["GET"]),
            Route("/Patient/{id}/_history/{vid}", self.vread, methods=["GET"]),
        ]

    async def metadata(self, request: Request) -> Response:
        config = self.node.config
        return fhir_response(capability_statement(_base(request), config.name, config.datacenter))

    async def create(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type not in ACCEPTED_CONTENT_TYPES:
            return operation_outcome(415, f"unsupported Content-Type {content_type!r}; use {FHIR_JSON}")
        if self.node.role is not Role.PRIMARY:
            return self._not_primary(str(NotPrimary(self.node.role, self.node.epoch)))
        try:
            payload = _validate_patient(json.loads(await request.body()))
        except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
            return operation_outcome(400, f"request body is not valid JSON: {error}")
        except InvalidRequest as error:
            return operation_outcome(400, str(error))
        resource_id = uuid.uuid4().hex
        last_updated = now_instant()
        client_meta = payload.get("meta")
        meta = {
            **(client_meta if isinstance(client_meta, dict) else {}),
            "versionId": "1",
            "lastUpdated": last_updated,
        }
        rest = {key: value for key, value in payload.items() if key not in ("resourceType", "id", "meta")}
        body = dumps({"resourceType": "Patient", "id": resource_id, "meta": meta, **rest}).decode()
        try:
            entry = self.node.write("Patient", resource_id, "1", last_updated, body)
        except NotPrimary as error:  # the role changed while we read the body
            return self._not_primary(str(error))
        outcome = await self.node.replicate(entry.lsn)
        if outcome is WriteOutcome.STEPPED_DOWN:
            return self._not_primary(
                f"Patient/{resource_id} was committed locally at lsn {entry.lsn}, then this instance stepped "
                "down before the standby confirmed it: not acknowledged, and it will be discarded by resync"
            )
        if outcome is WriteOutcome.NOT_CONFIRMED:
            return self._not_primary(
                f"Patient/{resource_id} is committed locally at lsn {entry.lsn} but the standby did not "
                f"confirm it within {self.node.config.peer_timeout} s (sync-strict): outcome indeterminate"
            )
        base = _base(request)
        headers = {"Location": f"{base}/Patient/{resource_id}/_history/1", "ETag": 'W/"1"'}
        return fhir_response(body, 201, headers)

    async def read(self, request: Request) -> Response:
        resource_id = request.path_params["id"]
        entry = self.node.store.read("Patient", resource_id)
        if entry is None:
            return operation_outcome(404, f"Patient/{resource_id} not found")
        return fhir_response(entry.body, headers={"ETag": f'W/"{entry.version_id}"'})

    async def vread(self, request: Request) -> Response:
        resource_id, version_id = request.path_params["id"], request.path_params["vid"]
        entry = self.node.store.read("Patient", resource_id, version_id)
        if entry is None:
            return operation_outcome(404, f"Patient/{resource_id}/_history/{version_id} not found")
        return fhir_response(entry.body, headers={"ETag": f'W/"{entry.version_id}"'})

    async def search(self, request: Request) -> Response:
        try:
            identifier_all_of, ids, count = _parse_search(request)
        except InvalidRequest as error:
            return operation_outcome(400, str(error))
        total, entries = self.node.store.search("Patient", identifier_all_of=identifier_all_of, ids=ids, limit=count)
        base = _base(request)
        bundle = {
            "resourceType": "Bundle",
            "id": uuid.uuid4().hex,
            "meta": {"lastUpdated": now_instant()},
            "type": "searchset",
            "total": total,
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [
                {
                    "fullUrl": f"{base}/Patient/{e.resource_id}",
                    "resource": json.loads(e.body),
                    "search": {"mode": "match"},
                }
                for e in entries
            ],
        }
        return fhir_response(bundle)

    def _not_primary(self, diagnostics: str) -> Response:
        config = self.node.config
        return operation_outcome(
            503,
            f"{config.name} ({config.datacenter}): {diagnostics}",
            code="transient",
            headers={"Retry-After": "1"},
        )


def _parse_search(request: Request) -> tuple[list[list[TokenMatch]], list[str] | None, int]:
    identifier_all_of: list[list[TokenMatch]] = []
    ids: list[str] | None = None
    count = DEFAULT_COUNT
    for key, value in request.query_params.multi_items():
        if key == "identifier":
            identifier_all_of.append(parse_token_list(value))
        elif key == "_id":
            wanted = [_unescape(part) for part in _split_unescaped(value, ",") if part]
            ids = wanted if ids is None else [i for i in ids if i in wanted]
        elif key == "_count":
            if not value.isdigit() or int(value) > MAX_COUNT:
                raise InvalidRequest(f"_count must be an integer 0..{MAX_COUNT}, got {value!r}")
            count = int(value)
        else:
            supported = ", ".join(SEARCH_PARAMETERS)
            raise InvalidRequest(f"unknown search parameter {key!r} for Patient (supported: {supported})")
    return identifier_all_of, ids, count


def _base(request: Request) -> str:
    """The service base URL as the client addressed it (through HAProxy: the front door's)."""
    return str(request.base_url).rstrip("/")
