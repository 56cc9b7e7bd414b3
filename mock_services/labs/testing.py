"""Test seam: a tiny fake FHIR EHR over synthetic data.

:class:`FakeEhr` serves just what the portal reads -- ``GET /Patient/{id}``, ``GET
/DiagnosticReport?patient=&category=`` and ``GET /Observation?patient=&category=`` as
searchset Bundles paged by ``_count`` (default ``page_size``) with absolute ``next`` links --
from :mod:`mock_services.synthetic`. Its ``mode`` simulates outages: ``"ok"``, ``"error"``
(every request answers 500 OperationOutcome), ``"slow"`` (answers after ``delay`` seconds),
``"not-fhir"`` (200 with a JSON list instead of a resource),
``"down"`` (through :meth:`FakeEhr.transport`, every request fails to connect). Unknown
search parameters get 400, as in FHIR. ``requests`` records each path+query served.

To serve it (or the portal) on a real port: :func:`mock_services.common.testing.running`.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_services.synthetic import SyntheticData

FHIR_JSON = "application/fhir+json"
_SEARCH_CATEGORY = {"DiagnosticReport": "LAB", "Observation": "laboratory"}


def _outcome(status: int, text: str) -> Response:
    issue = {"severity": "error", "code": "processing", "diagnostics": text}
    body = {"resourceType": "OperationOutcome", "issue": [issue]}
    return Response(json.dumps(body), status_code=status, media_type=FHIR_JSON)


class FakeEhr:
    """See the module docstring. Loads the whole (small) data set into memory."""

    def __init__(self, data: SyntheticData, page_size: int = 5) -> None:
        self.page_size = page_size
        self.mode = "ok"
        self.delay = 5.0
        self.requests: list[str] = []
        self.patients = {p["id"]: p for p in data.patients()}
        self.by_patient: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for resource in data.clinical():
            owner = (resource.get("subject") or resource["patient"])["reference"].removeprefix("Patient/")
            self.by_patient[resource["resourceType"], owner].append(resource)
        self.app = Starlette(
            routes=[
                Route("/Patient/{id}", self._read, methods=["GET"]),
                Route("/{type:str}", self._search, methods=["GET"]),
            ]
        )

    async def _failure(self, request: Request) -> Response | None:
        self.requests.append(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if self.mode == "error":
            return _outcome(500, "fake EHR: internal error (test)")
        if self.mode == "not-fhir":
            return Response("[1, 2]", media_type=FHIR_JSON)
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        return None

    async def _read(self, request: Request) -> Response:
        failure = await self._failure(request)
        if failure is not None:
            return failure
        patient = self.patients.get(request.path_params["id"])
        if patient is None:
            return _outcome(404, "not found")
        return Response(json.dumps(patient), media_type=FHIR_JSON)

    async def _search(self, request: Request) -> Response:
        failure = await self._failure(request)
        if failure is not None:
            return failure
        kind = request.path_params["type"]
        if kind not in _SEARCH_CATEGORY:
            return _outcome(404, f"unknown resource type {kind}")
        params = request.query_params
        unknown = set(params) - {"patient", "category", "_count", "_offset"}
        if unknown:
            return _outcome(400, f"unknown search parameter {sorted(unknown)[0]}")
        matches = [
            r
            for r in self.by_patient.get((kind, params.get("patient", "").removeprefix("Patient/")), [])
            if "category" not in params
            or any(c["coding"][0]["code"] == params["category"] for c in r.get("category", []))
        ]
        count, offset = int(params.get("_count", self.page_size)), int(params.get("_offset", 0))
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [{"fullUrl": f"{request.base_url}{kind}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                      for r in matches[offset : offset + count]],
        }  # fmt: skip
        if offset + count < len(matches):
            query = httpx.QueryParams({**params, "_count": str(count), "_offset": str(offset + count)})
            bundle["link"].append({"relation": "next", "url": f"{request.base_url}{kind}?{query}"})
        return Response(json.dumps(bundle), media_type=FHIR_JSON)

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process transport to this EHR that fails to connect while ``mode == "down"``."""
        return _Switchable(self)


class _Switchable(httpx.AsyncBaseTransport):
    def __init__(self, fake: FakeEhr) -> None:
        self.fake = fake
        self.inner = httpx.ASGITransport(app=fake.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fake.mode == "down":
            raise httpx.ConnectError("connection refused (fake EHR down)", request=request)
        return await self.inner.handle_async_request(request)
