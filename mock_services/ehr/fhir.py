"""The FHIR R4 REST surface: create (plain and conditional), read, vread, update, search.

Contract (what clients and the harness's probes may rely on), for every type ``T`` of
:data:`~.resources.RESOURCE_TYPES` (Patient, Encounter, Observation, MedicationRequest,
DiagnosticReport, AllergyIntolerance, MedicationAdministration, ServiceRequest):

* ``POST /T`` -- body ``application/fhir+json`` or ``application/json`` (or no Content-Type),
  a ``T``. 201 with the stored resource: a server-assigned ``id`` (uuid4 hex; a client id is
  ignored), ``meta.versionId`` "1", ``meta.lastUpdated`` (UTC, microseconds, ``Z``) and
  ``meta.source`` = ``"<instance>#<epoch>"`` (who accepted the write, in which term -- what a
  split-brain checker reads), headers ``Location: <base>/T/<id>/_history/1`` and ``ETag:
  W/"1"``. 201 means committed locally and acknowledged per the replication mode.
  *Conditional create*: with ``If-None-Exist: <search query>`` (e.g. ``identifier=sys|val``)
  -- no match: created as above; one match: 200 with the existing resource, nothing written;
  more: 412 OperationOutcome. Check and write are atomic on this instance. A query with no
  criterion (empty, blank, only empty values or result parameters such as ``_count=1``) is
  a 400: it would match *every* resource, and answering with one of them would hand the
  client another patient while its own write is never stored.
* ``PUT /T/{id}`` -- update: the body's ``id`` must equal ``{id}``; new version = current + 1
  (200), or version 1 if the resource does not exist (201: update-as-create with the
  client's id). ``If-Match: W/"n"``: 412 unless the current version is n; ``If-Match: *``:
  412 unless the resource exists (RFC 9110).
* ``GET /T/{id}`` and ``GET /T/{id}/_history/{vid}`` -- 200 + ``ETag`` + ``Last-Modified``,
  or 404 ``not-found``. Served by every role (the standby is a read replica).
* ``GET /T?params`` -- a ``searchset`` Bundle: ``total`` (every match), at most ``_count``
  entries (``search.mode`` ``match``) in creation order, ``link`` ``self`` and, when more
  remain, ``next`` (same query plus ``_cursor``). Parameters: :mod:`.search`.

Errors are OperationOutcomes: 400 ``invalid`` (body not JSON, not the resource the URL names,
a missing or malformed element -- the diagnostics name it, e.g. ``Observation.status:
missing required element`` -- or a bad search), 404 ``not-supported`` (unknown resource
type), 404 ``not-found``, 412 ``conflict`` (If-Match / If-None-Exist), 415 (other content
type), 503 ``transient`` (not the primary; or the write could not be acknowledged -- see the
diagnostics: then it may still be committed locally, outcome indeterminate).
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_services.common import jsonbody
from mock_services.ehr.fhirtypes import InvalidResource
from mock_services.ehr.outcome import FHIR_JSON, dumps, fhir_response, operation_outcome
from mock_services.ehr.replication import Node, NotPrimary, WriteOutcome
from mock_services.ehr.resources import RESOURCE_TYPES, ResourceType, compact_json, validate_resource
from mock_services.ehr.search import InvalidSearch, parse_search
from mock_services.ehr.store import LogEntry

ACCEPTED_CONTENT_TYPES = (FHIR_JSON, "application/json")
_ETAG = re.compile(r'^(?:W/)?"?([^"]+)"?$')


class _ResourceTypeConvertor(StringConvertor):
    """A path segment that looks like a FHIR resource type (``Patient``, also ``Foo``): it starts
    with an upper-case letter, so ``/health``, ``/metrics``, ``/_replication/..`` never match
    and the FHIR routes can be tried first (a read then costs 3 route matches, not 13)."""

    regex = "[A-Z][A-Za-z]*"


register_url_convertor("ehr_resource_type", _ResourceTypeConvertor())


def now_instant() -> str:
    """A FHIR ``instant`` for now, in UTC with microseconds (orders writes within a second)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# Every base resource has the same lastUpdated; each write has its own, so under load the
# cache fills to maxsize and stays there (~250 bytes an entry: ~1 MB, bounded).
@functools.lru_cache(maxsize=4096)
def _http_date(instant: str) -> str:
    """``Last-Modified`` (RFC 9110 date) from a FHIR instant."""
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _base(request: Request) -> str:
    """The service base URL as the client addressed it (through HAProxy: the front door's)."""
    return str(request.base_url).rstrip("/")


def _version_headers(entry: LogEntry, location: str | None = None) -> dict[str, str]:
    headers = {"ETag": f'W/"{entry.version_id}"', "Last-Modified": _http_date(entry.last_updated)}
    if location is not None:
        headers["Location"] = location
    return headers


class FhirApi:
    """The FHIR request handlers, bound to one :class:`Node`."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def routes(self) -> list[Route]:
        """Generic routes on upper-case first segments (so they never shadow ``/health`` & co).

        One route per path, whatever its methods: Starlette answers a wrong method from the
        first route whose path matches, with *that* route's methods in ``Allow``."""
        return [
            Route("/{resource_type:ehr_resource_type}/{id}", self._instance, methods=["GET", "PUT"]),
            Route("/{resource_type:ehr_resource_type}", self._type, methods=["GET", "POST"]),
            Route("/{resource_type:ehr_resource_type}/{id}/_history/{vid}", self.vread, methods=["GET"]),
        ]

    async def _instance(self, request: Request) -> Response:
        return await (self.update(request) if request.method == "PUT" else self.read(request))

    async def _type(self, request: Request) -> Response:
        return await (self.create(request) if request.method == "POST" else self.search(request))

    # -- reads -----------------------------------------------------------------------------

    async def read(self, request: Request) -> Response:
        resource_type = request.path_params["resource_type"]
        if resource_type not in RESOURCE_TYPES:
            return _unsupported(resource_type)
        resource_id = request.path_params["id"]
        entry = self.node.store.read(resource_type, resource_id)
        if entry is None:
            return operation_outcome(404, f"{resource_type}/{resource_id} not found")
        return fhir_response(entry.body, headers=_version_headers(entry))

    async def vread(self, request: Request) -> Response:
        resource_type = request.path_params["resource_type"]
        if resource_type not in RESOURCE_TYPES:
            return _unsupported(resource_type)
        resource_id, version_id = request.path_params["id"], request.path_params["vid"]
        entry = self.node.store.read(resource_type, resource_id, version_id)
        if entry is None:
            return operation_outcome(404, f"{resource_type}/{resource_id}/_history/{version_id} not found")
        return fhir_response(entry.body, headers=_version_headers(entry))

    async def search(self, request: Request) -> Response:
        resource_type = RESOURCE_TYPES.get(request.path_params["resource_type"])
        if resource_type is None:
            return _unsupported(request.path_params["resource_type"])
        items = request.query_params.multi_items()
        try:
            query = parse_search(resource_type, items)
        except InvalidSearch as error:
            return operation_outcome(400, str(error))
        page = self.node.store.search(resource_type.name, query.criteria, limit=query.page_size, after=query.after)
        base = _base(request)
        links = [{"relation": "self", "url": str(request.url)}]
        if page.next_after is not None:
            kept = [(key, value) for key, value in items if key != "_cursor"]
            query_string = urlencode([*kept, ("_cursor", str(page.next_after))])
            links.append({"relation": "next", "url": f"{base}/{resource_type.name}?{query_string}"})
        head = dumps(
            {
                "resourceType": "Bundle",
                "id": uuid.uuid4().hex,
                "meta": {"lastUpdated": now_instant()},
                "type": "searchset",
                "total": page.total,
                "link": links,
            }
        )
        # Stored bodies are JSON already: splice them in rather than parse and re-encode.
        entries = ",".join(
            f'{{"fullUrl":{json.dumps(f"{base}/{e.resource_type}/{e.resource_id}")},"resource":{e.body},'
            '"search":{"mode":"match"}}'
            for e in page.entries
        )
        return fhir_response(head[:-1] + b',"entry":[' + entries.encode() + b"]}")

    # -- writes ----------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        prepared = await self._prepare_write(request)
        if isinstance(prepared, Response):
            return prepared
        resource_type, payload = prepared
        condition = request.headers.get("if-none-exist")
        if condition is not None:
            try:
                query = parse_search(resource_type, parse_qsl(condition.strip().lstrip("?"), keep_blank_values=True))
            except InvalidSearch as error:
                return operation_outcome(400, f"If-None-Exist: {error}")
            if not query.selective:
                return operation_outcome(
                    400,
                    f"If-None-Exist {condition!r} has no search criteria (empty values and result parameters "
                    f"select nothing): it would match every {resource_type.name}; send e.g. identifier=system|value",
                )
            page = self.node.store.search(resource_type.name, query.criteria, limit=2)
            if page.total > 1:
                matches = f"matches {page.total} {resource_type.name} resources"
                return operation_outcome(412, f"If-None-Exist {condition!r} {matches}", code="duplicate")
            if page.total == 1:
                existing = page.entries[0]
                return fhir_response(existing.body, 200, _version_headers(existing))
        return await self._write(request, resource_type, payload, uuid.uuid4().hex, "1", created=True)

    async def update(self, request: Request) -> Response:
        prepared = await self._prepare_write(request)
        if isinstance(prepared, Response):
            return prepared
        resource_type, payload = prepared
        resource_id = request.path_params["id"]
        if payload.get("id") != resource_id:
            found = "no id" if "id" not in payload else f"id {payload.get('id')!r}"
            return operation_outcome(400, f"{resource_type.name}.id: the body has {found}, the URL {resource_id!r}")
        current = self.node.store.read(resource_type.name, resource_id)
        wanted = request.headers.get("if-match")
        if wanted is not None and not (wanted.strip() == "*" and current is not None):
            match = _ETAG.match(wanted.strip())
            if current is None or match is None or match.group(1) != current.version_id:
                have = f"version {current.version_id}" if current else "no resource"
                return operation_outcome(412, f"If-Match {wanted!r} does not match: there is {have}", code="conflict")
        version = str(int(current.version_id) + 1) if current and current.version_id.isdigit() else "1"
        return await self._write(request, resource_type, payload, resource_id, version, created=current is None)

    async def _prepare_write(self, request: Request) -> tuple[ResourceType, dict[str, object]] | Response:
        """Common checks of POST/PUT: type, content type, role, body. A Response = refuse."""
        resource_type = RESOURCE_TYPES.get(request.path_params["resource_type"])
        if resource_type is None:
            return _unsupported(request.path_params["resource_type"])
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type not in ACCEPTED_CONTENT_TYPES:
            return operation_outcome(415, f"unsupported Content-Type {content_type!r}; use {FHIR_JSON}")
        if not self.node.writable():
            return self._not_primary(str(NotPrimary(self.node.role, self.node.epoch)))
        try:
            payload = jsonbody.loads(await request.body())
        except jsonbody.InvalidJson as error:
            return operation_outcome(400, f"request body is not valid JSON: {error}")
        try:
            return resource_type, validate_resource(payload, resource_type.name)
        except InvalidResource as error:
            return operation_outcome(400, str(error))

    async def _write(
        self,
        request: Request,
        resource_type: ResourceType,
        payload: Mapping[str, object],
        resource_id: str,
        version_id: str,
        *,
        created: bool,
    ) -> Response:
        """Store a version and answer once it may be acknowledged (see the replication mode).

        Everything from building the body to the local commit is synchronous, so the epoch in
        ``meta.source`` is the epoch the entry is written in.
        """
        last_updated = now_instant()
        client_meta = payload.get("meta")
        meta = {
            **(client_meta if isinstance(client_meta, dict) else {}),
            "versionId": version_id,
            "lastUpdated": last_updated,
            "source": f"{self.node.config.name}#{self.node.epoch}",
        }
        rest = {key: value for key, value in payload.items() if key not in ("resourceType", "id", "meta")}
        body = compact_json({"resourceType": resource_type.name, "id": resource_id, "meta": meta, **rest})
        where = f"{resource_type.name}/{resource_id}"
        try:
            entry = self.node.write(resource_type.name, resource_id, version_id, last_updated, body)
        except NotPrimary as error:  # the role changed while we read the body
            return self._not_primary(str(error))
        outcome = await self.node.replicate(entry.lsn)
        if outcome is WriteOutcome.STEPPED_DOWN:
            return self._not_primary(
                f"{where} was committed locally at lsn {entry.lsn}, then this instance lost the primary role "
                "before the write could be acknowledged: not acknowledged, and it will be discarded by resync"
            )
        if outcome is WriteOutcome.NOT_CONFIRMED:
            return self._not_primary(
                f"{where} is committed locally at lsn {entry.lsn} but the standby did not "
                f"confirm it within {self.node.config.peer_timeout} s (sync-strict): outcome indeterminate"
            )
        location = f"{_base(request)}/{where}/_history/{version_id}"
        return fhir_response(body, 201 if created else 200, _version_headers(entry, location))

    def _not_primary(self, diagnostics: str) -> Response:
        config = self.node.config
        return operation_outcome(
            503,
            f"{config.name} ({config.datacenter}): {diagnostics}",
            code="transient",
            headers={"Retry-After": "1"},
        )


def _unsupported(resource_type: str) -> Response:
    supported = ", ".join(RESOURCE_TYPES)
    return operation_outcome(
        404, f"resource type {resource_type!r} is not supported (supported: {supported})", code="not-supported"
    )
