"""The shared request middleware (mock_services.common.middleware): its contract on a tiny app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Scope

from mock_services.common.middleware import RequestMiddleware, route_template

pytestmark = pytest.mark.anyio
LOGGER = logging.getLogger("tests.common_middleware")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _app(observed: list[tuple[str, int]], epoch: list[int], max_body: int | None = 16) -> Starlette:
    async def item(request: Request) -> Response:
        epoch[0] += 1  # the extra header must show the value when the response starts
        return JSONResponse({"id": request.path_params["id"]})

    async def upload(request: Request) -> Response:
        return JSONResponse({"bytes": len(await request.body())})

    async def boom(request: Request) -> Response:
        raise RuntimeError("kaboom")

    async def late_boom(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"partial"
            raise RuntimeError("after the start")

        return StreamingResponse(chunks())

    def observe(scope: Scope, status: int, seconds: float) -> None:
        assert seconds >= 0
        observed.append((route_template(scope), status))

    def error(status: int, detail: str) -> Response:
        return JSONResponse({"status": status, "detail": detail}, status)

    routes = [
        Route("/items/{id}", item),
        Route("/upload", upload, methods=["POST"]),
        Route("/boom", boom),
        Route("/late", late_boom),
    ]
    middleware = Middleware(
        RequestMiddleware, name="svc-a", datacenter="dc-a", error_response=error, logger=LOGGER, observe=observe,
        max_body=max_body, extra_headers=lambda: [(b"x-epoch", str(epoch[0]).encode())],
    )  # fmt: skip
    return Starlette(routes=routes, middleware=[middleware])


async def test_identity_extra_headers_and_metrics_on_every_answer() -> None:
    observed: list[tuple[str, int]] = []
    epoch = [0]
    transport = httpx.ASGITransport(app=_app(observed, epoch))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
        ok = await client.get("/items/42")
        missing = await client.get("/nowhere")
    assert ok.status_code == 200 and ok.json() == {"id": "42"}
    assert (ok.headers["x-served-by"], ok.headers["x-datacenter"], ok.headers["x-epoch"]) == ("svc-a", "dc-a", "1")
    assert missing.status_code == 404 and missing.headers["x-served-by"] == "svc-a"
    assert observed == [("/items/{id}", 200), ("unmatched", 404)]


async def test_body_over_the_limit_is_a_413_in_the_services_shape() -> None:
    observed: list[tuple[str, int]] = []
    transport = httpx.ASGITransport(app=_app(observed, [0]))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
        small = await client.post("/upload", content=b"x" * 16)
        big = await client.post("/upload", content=b"x" * 17)
    assert small.json() == {"bytes": 16}
    assert big.status_code == 413
    assert big.json() == {"status": 413, "detail": "request body larger than 16 bytes"}
    assert big.headers["x-served-by"] == "svc-a"
    assert observed == [("/upload", 200), ("/upload", 413)]


async def test_no_limit_without_max_body() -> None:
    transport = httpx.ASGITransport(app=_app([], [0], max_body=None))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
        response = await client.post("/upload", content=b"x" * 100_000)
    assert response.json() == {"bytes": 100_000}


async def test_unhandled_error_is_a_logged_500_with_the_headers(caplog: pytest.LogCaptureFixture) -> None:
    observed: list[tuple[str, int]] = []
    transport = httpx.ASGITransport(app=_app(observed, [0]))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
        with caplog.at_level(logging.ERROR, logger=LOGGER.name):
            response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"status": 500, "detail": "internal error (logged by the server)"}
    assert response.headers["x-served-by"] == "svc-a"
    assert [r.getMessage() for r in caplog.records] == ["unhandled error in GET /boom"]
    assert caplog.records[0].exc_info is not None  # with the traceback
    assert observed == [("/boom", 500)]


async def test_an_error_after_the_response_started_propagates() -> None:
    observed: list[tuple[str, int]] = []
    transport = httpx.ASGITransport(app=_app(observed, [0]))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
        with pytest.raises(RuntimeError, match="after the start"):
            await client.get("/late")
    assert observed == [("/late", 200)]  # the status that was sent
