"""Every service's OpenAPI document: every route is in it, everything in it is routed, it loads.

Also the shared builder (:mod:`mock_services.common.openapi`): one route per path, so a 405
names every method of the path.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.core.result import Ok
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from mock_services.care.app import create_app as create_care
from mock_services.care.config import Config as CareConfig
from mock_services.common import openapi
from mock_services.common.openapi import Operation, documented_operations, route_table
from mock_services.imaging.app import create_app as create_imaging
from mock_services.imaging.config import Config as ImagingConfig
from mock_services.imaging.config import Role as ImagingRole
from mock_services.labs.app import create_app as create_labs
from mock_services.labs.config import Config as LabsConfig
from mock_services.notify.app import create_app as create_notify
from mock_services.notify.config import Config as NotifyConfig
from mock_services.scheduling.app import create_app as create_scheduling
from mock_services.scheduling.config import Config as SchedulingConfig
from mock_services.witness.app import create_app as create_witness
from mock_services.witness.leases import LeaseTable

pytestmark = pytest.mark.anyio

APPS: dict[str, Callable[[Path], Starlette]] = {
    "labs": lambda d: create_labs(LabsConfig(name="labs-a", datacenter="dc-a", ehr_url="http://ehr.test")),
    "scheduling": lambda d: create_scheduling(
        SchedulingConfig(name="sched-a", datacenter="dc-a", db_path=d / "s.sqlite", patients=0)
    ),
    "care": lambda d: create_care(CareConfig(name="care-1", state_dir=d / "care")),
    "notify": lambda d: create_notify(NotifyConfig(name="notify", datacenter="witness")),
    "witness": lambda d: create_witness("witness", "witness", LeaseTable()),
    "imaging": lambda d: create_imaging(ImagingConfig(name="pacs-a", datacenter="dc-a", role=ImagingRole.ARCHIVE,
                                                      storage=d / "dicom", patients=0)),
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _document(app: Starlette) -> dict[str, Any]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as client:
            response = await client.get("/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = json.loads(response.content)
    return document


@pytest.mark.parametrize("service", list(APPS))
async def test_every_route_is_documented_and_every_documented_operation_routed(tmp_path: Path, service: str) -> None:
    app = APPS[service](tmp_path)
    document = await _document(app)

    assert route_table(app.routes) == documented_operations(document)
    assert ("GET", "/openapi.json") in documented_operations(document)


@pytest.mark.parametrize("service", list(APPS))
async def test_every_document_loads_as_openapi_with_every_operation_valid(tmp_path: Path, service: str) -> None:
    document = await _document(APPS[service](tmp_path))
    schema = schemathesis.openapi.from_dict(document)
    operations = list(schema.get_all_operations())

    assert operations and all(isinstance(result, Ok) for result in operations), [
        result.err() for result in operations if not isinstance(result, Ok)
    ]
    for result in operations:
        operation = result.ok()
        assert operation.definition.raw.get("responses"), f"{operation.label} declares no response"


def _text(body: str) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(body)

    return endpoint


@pytest.fixture
async def tiny() -> AsyncIterator[httpx.AsyncClient]:
    description = openapi.ApiDescription(title="tiny", version="1")
    answered = {200: openapi.response("text", {"type": "string"}, media_types=("text/plain",))}
    operations = [
        Operation("GET", "/things", _text("listed"), "list", answered),
        Operation("POST", "/things", _text("created"), "create", answered),
        Operation("GET", "/things/{id}", _text("one"), "read", answered,
                  [openapi.path_param("id", {"type": "string"})]),
    ]
    app = Starlette(routes=description.routes(operations))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tiny.test") as client:
        yield client


async def test_one_route_per_path_serves_each_method_and_a_405_allows_them_all(tiny: httpx.AsyncClient) -> None:
    assert (await tiny.get("/things")).text == "listed"
    assert (await tiny.post("/things")).text == "created"
    assert (await tiny.head("/things")).status_code == 200  # HEAD comes with GET
    assert (await tiny.get("/things/7")).text == "one"
    refused = await tiny.delete("/things")
    assert refused.status_code == 405
    assert {word.strip() for word in refused.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}
    document = (await tiny.get("/openapi.json")).json()
    assert documented_operations(document) == {
        ("GET", "/things"), ("POST", "/things"), ("GET", "/things/{id}"), ("GET", "/openapi.json"),
    }  # fmt: skip
    assert document["paths"]["/things"]["post"]["operationId"] == "postThings"


def test_a_method_listed_twice_on_a_path_is_refused() -> None:
    twice = [Operation("GET", "/x", _text("a"), "a", {}), Operation("GET", "/x", _text("b"), "b", {})]
    with pytest.raises(ValueError, match="GET /x is listed twice"):
        openapi.ApiDescription(title="t", version="1").routes(twice)
