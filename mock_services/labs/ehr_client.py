"""Reading a patient's lab data from the EHR over standard FHIR R4 REST.

Per patient, three requests run concurrently: ``GET Patient/{id}``, ``GET
DiagnosticReport?patient={id}&category=LAB`` and ``GET
Observation?patient={id}&category=laboratory``; each search follows the Bundle's
``link[relation=next]`` (absolute, or relative to the EHR base) for at most ``MAX_PAGES`` pages.

Failures are typed so the portal never mistakes an outage for "no results":

* :class:`PatientNotFound` -- the EHR answered 404 or 410 for the Patient.
* :class:`EhrUnavailable` -- connection refused/reset, no complete answer within the timeout
  (per call), or any 5xx (the front door's
  503 when no back end is up included).
* :class:`EhrBadAnswer` -- anything else unexpected (a 4xx on a search, a body that is not a
  Bundle, too many pages): the EHR is up but did not answer as FHIR says it should.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from mock_services.common.httpclient import async_client

MAX_PAGES = 100


class EhrError(Exception):
    """Base class; the message says what happened, for the ``detail`` of the error response."""


class PatientNotFound(EhrError):
    pass


class EhrUnavailable(EhrError):
    pass


class EhrBadAnswer(EhrError):
    pass


@dataclass(frozen=True)
class PatientLabData:
    """The raw FHIR resources of one patient's lab results."""

    patient: dict[str, Any]
    reports: list[dict[str, Any]]
    observations: list[dict[str, Any]]


class EhrClient:
    """A keep-alive client to one EHR base URL. ``transport``: for tests (e.g. an ASGI app)."""

    def __init__(self, base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base = base_url.rstrip("/") + "/"
        self.timeout = timeout
        # The whole call is bounded by asyncio.timeout below: a cancelled call must not cost a
        # pooled connection (see mock_services.common.httpclient).
        self.http = async_client(timeout=timeout, transport=transport, headers={"Accept": "application/fhir+json"})

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _get(self, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            # httpx's timeout bounds each network operation; this bounds the whole call (a server
            # trickling bytes, or an in-process transport, which has no network timeouts at all).
            async with asyncio.timeout(self.timeout):
                response = await self.http.get(url, params=params)
        except TimeoutError as error:
            raise EhrUnavailable(f"EHR did not answer within {self.timeout} s") from error
        except httpx.TimeoutException as error:
            raise EhrUnavailable(f"EHR did not answer in time ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise EhrUnavailable(f"EHR unreachable ({type(error).__name__}: {error})") from error
        if response.status_code >= 500:
            raise EhrUnavailable(f"EHR answered {response.status_code} for {response.request.url.path}")
        return response

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as error:
            raise EhrBadAnswer(f"EHR answered non-JSON for {response.request.url.path}") from error
        if not isinstance(body, dict):
            raise EhrBadAnswer(f"EHR answered a JSON {type(body).__name__} for {response.request.url.path}")
        return body

    async def patient(self, patient_id: str) -> dict[str, Any]:
        response = await self._get(self.base + f"Patient/{patient_id}")
        if response.status_code in (404, 410):
            raise PatientNotFound(f"no patient {patient_id!r} in the EHR")
        if response.status_code != 200:
            raise EhrBadAnswer(f"EHR answered {response.status_code} reading Patient/{patient_id}")
        return self._json(response)

    async def search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every entry resource of a searchset, all pages followed."""
        url: str | None = self.base + resource_type
        query: dict[str, str] | None = params
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            assert url is not None
            response = await self._get(url, query)
            if response.status_code != 200:
                raise EhrBadAnswer(f"EHR answered {response.status_code} to a {resource_type} search")
            bundle = self._json(response)
            if bundle.get("resourceType") != "Bundle":
                raise EhrBadAnswer(f"EHR answered a {bundle.get('resourceType')!r} to a {resource_type} search")
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict) and resource.get("resourceType") == resource_type:
                    found.append(resource)  # skips OperationOutcome entries (search mode "outcome")
            url = next(
                (link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"), None
            )
            if not url:
                return found
            url, query = urljoin(self.base, url), None  # the next link carries its own query
        raise EhrBadAnswer(f"{resource_type} search still had a next page after {MAX_PAGES} pages")

    async def lab_data(self, patient_id: str) -> PatientLabData:
        """The patient, its LAB DiagnosticReports and laboratory Observations (raises :class:`EhrError`)."""
        patient, reports, observations = await asyncio.gather(
            self.patient(patient_id),
            self.search("DiagnosticReport", {"patient": patient_id, "category": "LAB"}),
            self.search("Observation", {"patient": patient_id, "category": "laboratory"}),
            return_exceptions=True,
        )
        outcomes = (patient, reports, observations)
        # An outage anywhere wins over "not found": a half-answering EHR must not turn into a 404.
        for kind in (EhrUnavailable, PatientNotFound, BaseException):
            for outcome in outcomes:
                if isinstance(outcome, kind):
                    raise outcome
        assert isinstance(patient, dict) and isinstance(reports, list) and isinstance(observations, list)
        return PatientLabData(patient, reports, observations)
