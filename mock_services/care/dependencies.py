"""Calls to the services the care application depends on, each through its own circuit breaker.

One :class:`Dependency` per configured service (``ehr``, ``labs``, ``imaging``,
``scheduling``): a keep-alive httpx client to its base URL and a :class:`~.breaker.CircuitBreaker`.
Every call is bounded by the dependency timeout as a whole (``asyncio.timeout``: a server that
trickles bytes, or an in-process transport, has no network timeout of its own).

Failures are typed, so a screen never mistakes an outage for "no data":

* :class:`Unavailable` -- refused by the open breaker (:class:`BreakerOpen`), no connection,
  no complete answer in time, or a 5xx. These, and only these, count as breaker failures.
* :class:`NotFound` -- 404/410 on a read.
* :class:`Rejected` -- another 4xx (the service is up and said no; ``status`` and its words).
* :class:`BadAnswer` -- a 2xx that is not what the protocol says (not JSON, not a Bundle...).

Breaker transitions are handed to ``on_transition`` as they happen (the downtime controller).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import httpx

from mock_services.care.breaker import CircuitBreaker, Transition
from mock_services.common.httpclient import async_client

MAX_PAGES = 50
FHIR_JSON = "application/fhir+json"


class DependencyError(Exception):
    """Base class. ``dependency``: which service; the message is the clinician-facing detail."""

    def __init__(self, dependency: str, detail: str) -> None:
        super().__init__(detail)
        self.dependency = dependency


class Unavailable(DependencyError):
    pass


class BreakerOpen(Unavailable):
    pass


class NotFound(DependencyError):
    pass


class BadAnswer(DependencyError):
    pass


class Rejected(DependencyError):
    def __init__(self, dependency: str, detail: str, status: int) -> None:
        super().__init__(dependency, detail)
        self.status = status


def _diagnostics(response: httpx.Response) -> str:
    """The words of an error answer: OperationOutcome diagnostics, our ``detail``, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        issues = body.get("issue")
        if isinstance(issues, list) and issues and isinstance(issues[0], dict):
            return str(issues[0].get("diagnostics") or issues[0].get("code") or "")
        if "detail" in body:
            return str(body["detail"])
    return response.text[:200]


class Dependency:
    """See the module docstring. ``transport``: for tests (e.g. ``httpx.ASGITransport``)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        timeout: float,
        breaker: CircuitBreaker,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.name = name
        self.base = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.breaker = breaker
        self.on_transition = on_transition
        # Cancelled calls must not cost pooled connections (see mock_services.common.httpclient).
        self.http = async_client(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self.http.aclose()

    def _record(self, transition: Transition | None) -> None:
        if transition is not None and self.on_transition is not None:
            self.on_transition(transition)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call through the breaker; raises :class:`Unavailable` (and records a failure) or returns the answer."""
        if not self.breaker.allow():
            raise BreakerOpen(self.name, f"{self.name} is unavailable (circuit breaker {self.breaker.state.value}: "
                                         f"{self.breaker.last_failure or 'recent failures'})")  # fmt: skip
        url = path if path.startswith(("http://", "https://")) else urljoin(self.base, path)
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.http.request(method, url, params=params, json=json, headers=headers)
        except TimeoutError:
            reason = f"{self.name} did not answer within {self.timeout:g} s"
        except httpx.TransportError as error:
            reason = f"{self.name} unreachable ({type(error).__name__}: {error})"
        except BaseException:
            self.breaker.release()  # cancelled: no outcome
            raise
        else:
            if response.status_code < 500:
                self._record(self.breaker.record_success())
                return response
            reason = f"{self.name} answered {response.status_code}: {_diagnostics(response)}"
        self._record(self.breaker.record_failure(reason))
        raise Unavailable(self.name, reason)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise BadAnswer(self.name, f"{self.name} answered non-JSON for {response.request.url.path}") from None

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code in (404, 410):
            raise NotFound(self.name, f"{what}: {self.name} answered {response.status_code}: {_diagnostics(response)}")
        if response.status_code >= 400:
            raise Rejected(self.name, f"{what}: {self.name} answered {response.status_code}: "
                                      f"{_diagnostics(response)}", response.status_code)  # fmt: skip
        if response.status_code >= 300:
            raise BadAnswer(self.name, f"{what}: {self.name} answered {response.status_code}")

    async def get_json(self, path: str, params: dict[str, str] | None = None, accept: str = "application/json") -> Any:
        """GET a JSON document (204 -> None); raises :class:`DependencyError`."""
        response = await self.request("GET", path, params=params, headers={"Accept": accept})
        self._check(response, f"GET {path}")
        return None if response.status_code == 204 else self._json(response)

    async def fhir_read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        response = await self.request("GET", f"{resource_type}/{resource_id}", headers={"Accept": FHIR_JSON})
        self._check(response, f"{resource_type}/{resource_id}")
        body = self._json(response)
        if not isinstance(body, dict) or body.get("resourceType") != resource_type:
            raise BadAnswer(self.name, f"{self.name} answered something else than a {resource_type}")
        return body

    async def fhir_search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every matching resource, ``next`` links followed for at most MAX_PAGES pages."""
        url: str = resource_type
        query: dict[str, str] | None = params
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            response = await self.request("GET", url, params=query, headers={"Accept": FHIR_JSON})
            self._check(response, f"{resource_type} search")
            bundle = self._json(response)
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
                raise BadAnswer(self.name, f"{self.name} answered a non-Bundle to a {resource_type} search")
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict) and resource.get("resourceType") == resource_type:
                    found.append(resource)
            links = bundle.get("link") or []
            next_url = next((link.get("url") for link in links if link.get("relation") == "next"), None)
            if not next_url:
                return found
            url, query = urljoin(self.base, next_url), None
        raise BadAnswer(self.name, f"{resource_type} search still had a next page after {MAX_PAGES} pages")

    async def fhir_create(
        self, resource: dict[str, Any], if_none_exist: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST a resource (conditional when ``if_none_exist``).

        Returns (201 created | 200 it existed, the stored resource)."""
        headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
        if if_none_exist is not None:
            headers["If-None-Exist"] = if_none_exist
        resource_type = resource["resourceType"]
        response = await self.request("POST", resource_type, json=resource, headers=headers)
        self._check(response, f"create {resource_type}")
        body = self._json(response)
        if response.status_code not in (200, 201) or not isinstance(body, dict) or not body.get("id"):
            raise BadAnswer(self.name, f"{self.name} answered {response.status_code} without the stored resource")
        return response.status_code, body
