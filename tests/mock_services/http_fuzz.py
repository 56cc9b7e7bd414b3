"""The schema-driven HTTP fuzz campaign's shared part: a service process, its schema, the checks.

Each ``test_http_fuzz_<service>.py`` builds the service's OpenAPI document from an in-process
app at import (:func:`document_of`: schemathesis makes one pytest test per operation at
collection time, before any process runs), starts the real service process (``python -m
mock_services.<service>``, with its dependencies) in a module fixture, checks that the process
serves that same document, and runs schemathesis's phases -- the document's examples, its
coverage cases (boundary values, missing and wrong-typed parameters, methods the path does not
allow) and Hypothesis fuzzing, schema-valid and schema-invalid -- against the process. Every
case must:

* not be a 5xx, unless the service's ``allowed_5xx`` says this answer is a documented degradation
  the campaign itself can cause (a printer failure it injected);
* conform to the document: a documented status, content type and body schema; a 405 for a
  method the path does not allow, with ``Allow``;
* leave the process running and answering ``/health``.

Sizes come from :mod:`tests.campaigns`: a few deterministic examples per operation in the
suite, many random ones under ``make fuzz`` (the seed is printed: replay with
``HCHAOS_CAMPAIGN_SEED``). :data:`CASES` counts what each campaign sent.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import requests
import schemathesis
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.types import ASGIApp

from mock_services.common.testing import ServiceProcess, free_port, wait_until
from tests.campaigns import LONG, budget, rng

CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    unsupported_method,  # an undocumented method: 405 with Allow
    allow_header_conformance,  # and that Allow names exactly the path's documented methods
]
CASES: Counter[str] = Counter()  # cases sent, by campaign (printed at the end of each)
STATUSES: dict[str, Counter[int]] = {}  # by campaign: how many answers of each status
TIMEOUT = 10.0  # seconds for one answer: a service that takes longer has hung, which is a finding too


@dataclass
class Service:
    """One service process under fuzz (its dependencies, if any, in ``others``)."""

    name: str
    process: ServiceProcess
    others: list[ServiceProcess] = field(default_factory=list)
    allowed_5xx: Callable[[requests.Response], bool] = lambda response: False
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return self.process.url

    def assert_alive(self, after: str) -> None:
        for process in (self.process, *self.others):
            assert process.popen is not None and process.popen.poll() is None, (
                f"{process.name} exited (status {process.popen.returncode if process.popen else '?'}) after {after}"
            )
        health = self.session.get(f"{self.url}/health", timeout=TIMEOUT)
        assert health.status_code == 200, f"{self.name} /health answered {health.status_code} after {after}"

    def tracebacks(self) -> list[str]:
        """Log lines of unhandled errors (every 500 logs one; so would a crashed background task)."""
        lines = []
        for process in (self.process, *self.others):
            text = process.log.read_text(errors="replace") if process.log.exists() else ""
            lines += [f"{process.name}: {line}" for line in text.splitlines() if "Traceback" in line]
        return lines


def spawn(directory: Path, name: str, module: str, *args: str) -> ServiceProcess:
    """``python -m module args --host 127.0.0.1 --port <free>``, log in ``directory/name.log``."""
    port = free_port()
    process = ServiceProcess(name, module, [*args, "--host", "127.0.0.1", "--port", str(port)], port,
                             directory / f"{name}.log")  # fmt: skip
    process.start()
    return process


def wait_healthy(*processes: ServiceProcess, timeout: float = 30.0) -> None:
    for process in processes:

        def healthy(process: ServiceProcess = process) -> bool:
            assert process.popen is not None and process.popen.poll() is None, (
                f"{process.name} exited during start-up:\n{process.log.read_text(errors='replace')[-4000:]}"
            )
            return requests.get(f"{process.url}/health", timeout=2).status_code == 200

        wait_until(healthy, timeout, f"{process.name} /health")


@contextmanager
def running(name: str, processes: list[ServiceProcess], **service: Any) -> Iterator[Service]:
    """The campaign's :class:`Service` over ``processes`` (the one under fuzz last); kills them all
    on exit and prints their logs (shown when a test fails)."""
    try:
        wait_healthy(*processes)
        yield Service(name, processes[-1], processes[:-1], **service)
    finally:
        for process in processes:
            process.kill()
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(STATUSES.get(name, Counter()).items()))
        print(f"fuzz {name}: {CASES[name]} cases ({statuses})")
        for process in processes:
            if process.log.exists():
                print(f"----- {process.name} log -----\n{process.log.read_text(errors='replace')[-20000:]}")


def document_of(app: ASGIApp) -> dict[str, Any]:
    """``GET /openapi.json`` of an in-process app (no lifespan: the document needs none)."""

    async def fetch() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as client:
            response = await client.get("/openapi.json")
        response.raise_for_status()
        document: dict[str, Any] = json.loads(response.content)
        return document

    return anyio.run(fetch)


def campaign_schema(
    name: str, document: dict[str, Any], *, ci: int, long: int, examples: dict[str, Any] | None = None
) -> OpenApiSchema:
    """``document`` as a schemathesis schema with the campaign's budget: ``ci`` / ``long``
    Hypothesis examples per operation (:func:`tests.campaigns.budget`), a fixed seed in the suite.

    ``examples``: per parameter name, an OpenAPI ``example`` to add where the document has none
    (an id that exists, so the cases reach past the 404)."""
    document = copy.deepcopy(document)
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in (examples or {}) and "example" not in parameter:
                    parameter["example"] = (examples or {})[parameter["name"]]
    schema = schemathesis.openapi.from_dict(document)
    schema.config.generation.update(max_examples=budget(ci=ci, long=long), database="none", deterministic=not LONG)
    schema.config.seed = rng(f"http-fuzz-{name}").randrange(2**32)
    return schema


def assert_serves(service: Service, document: dict[str, Any]) -> None:
    """The process serves the document the cases were generated from (servers aside)."""
    served = service.session.get(f"{service.url}/openapi.json", timeout=TIMEOUT).json()
    for key in ("paths", "components"):
        assert served[key] == document[key], f"{service.name} serves another OpenAPI {key!r} than its app builds"


def exercise(case: Case, service: Service) -> None:
    """Send ``case`` to the real process and hold the answer to the campaign's rules (module docstring)."""
    CASES[service.name] += 1
    response = case.call(base_url=service.url, session=service.session, timeout=TIMEOUT)
    STATUSES.setdefault(service.name, Counter())[response.status_code] += 1
    what = case.as_curl_command()
    if response.status_code >= 500 and not service.allowed_5xx(response):
        raise AssertionError(f"{response.status_code} from {what}\n{_body(response)}")
    case.validate_response(response, checks=CHECKS)
    service.assert_alive(after=what)


def _body(response: requests.Response) -> str:
    try:
        return json.dumps(response.json(), ensure_ascii=False)[:2000]
    except ValueError:
        return response.text[:2000]


def json_error_word(response: requests.Response) -> str | None:
    """The ``error`` code word of a JSON error answer, if it is one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


__all__ = ["CASES", "Service", "assert_serves", "campaign_schema", "document_of", "exercise", "json_error_word",
           "running", "spawn"]
