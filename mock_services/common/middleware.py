"""The request middleware of every mock service: identity headers, body limit, last-resort errors, metrics.

:class:`RequestMiddleware` is a pure ASGI middleware (no ``BaseHTTPMiddleware``: it does not
buffer streamed responses nor run the app in another task). Around every HTTP request it:

* stamps ``X-Served-By: <name>`` and ``X-Datacenter: <datacenter>`` on the response --
  every response, errors included, since the harness attributes each answer to an instance
  by them -- followed by whatever ``extra_headers()`` returns at that moment (the EHR's
  ``X-Epoch``, read when the response starts, not when the request arrived);
* with ``max_body``, fails the request when the body read so far exceeds ``max_body`` bytes
  and answers ``error_response(413, "request body larger than <max_body> bytes")``;
* turns an unhandled exception into ``error_response(500, "internal error (logged by the
  server)")``, logged with its traceback on ``logger`` (message ``error_format % (method,
  path)``) -- Starlette would answer it in plain text, without our headers. If the response
  had already started, nothing sane can be sent: the exception propagates and the server
  drops the connection;
* calls ``observe(scope, status, seconds)`` once per request, after it ended (``status``
  500 when no response started; the scope's ``route`` is then set when a route matched).

Each service passes its own error shape (FHIR OperationOutcome, DICOM JSON, ``{"error",
"detail"}``...), metrics labels and logger; the mechanics are the same everywhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]
ErrorResponse = Callable[[int, str], ASGIApp]  # (status, detail) -> the response to send
Observe = Callable[[Scope, int, float], None]  # (scope, status, seconds) once a request ended

INTERNAL_ERROR = "internal error (logged by the server)"


def route_template(scope: Scope) -> str:
    """The path template of the route that served ``scope`` (``/Patient/{id}``), or
    ``unmatched``: one metrics series per route, not per id."""
    template = getattr(scope.get("route"), "path", None)
    return template if isinstance(template, str) and template else "unmatched"


class BodyTooLarge(Exception):
    """The request body went over the middleware's ``max_body`` (raised from ``receive``)."""


class RequestMiddleware:
    """Identity headers, body limit, last-resort error and metrics hook (module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        name: str,
        datacenter: str,
        error_response: ErrorResponse,
        logger: logging.Logger,
        observe: Observe | None = None,
        max_body: int | None = None,
        extra_headers: Callable[[], Headers] | None = None,
        error_format: str = "unhandled error in %s %s",
    ) -> None:
        self.app = app
        self.identity: Headers = [(b"x-served-by", name.encode()), (b"x-datacenter", datacenter.encode())]
        self.error_response = error_response
        self.logger = logger
        self.observe = observe
        self.max_body = max_body
        self.extra_headers = extra_headers
        self.error_format = error_format

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        status = 500
        started = False
        received = 0
        max_body = self.max_body

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if max_body is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise BodyTooLarge
            return message

        async def stamped_send(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                headers = [*message.get("headers", []), *self.identity]
                if self.extra_headers is not None:
                    headers += self.extra_headers()
                message = {**message, "headers": headers}
            await send(message)

        try:
            try:
                await self.app(scope, receive if max_body is None else limited_receive, stamped_send)
            except BodyTooLarge:
                if started:
                    raise
                await self.error_response(413, f"request body larger than {max_body} bytes")(
                    scope, receive, stamped_send
                )
            except Exception:
                self.logger.exception(self.error_format, scope.get("method"), scope.get("path"))
                if started:
                    raise
                await self.error_response(500, INTERNAL_ERROR)(scope, receive, stamped_send)
        finally:
            if self.observe is not None:
                self.observe(scope, status, time.perf_counter() - started_at)
