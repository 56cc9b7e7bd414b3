"""OpenAPI 3.0 documents built from the same table as the routes they describe.

A service lists its endpoints once, as :class:`Operation` s (method, path, handler, and what
its OpenAPI document says about them), and gets both its routes and its document from that
list, so the two cannot drift:

* :meth:`ApiDescription.routes` -- Starlette routes, ONE per path whatever the number of
  methods, plus ``GET /openapi.json``. (Starlette answers a wrong method from the first route
  whose path matches, with *that* route's methods in ``Allow``: two routes for one path made
  a 405 on ``GET``-and-``POST`` ``/notifications`` say ``Allow: POST``.)
* :meth:`ApiDescription.document` -- the OpenAPI document ``GET /openapi.json`` serves. The
  shared error shape ``{"error", "detail"}`` (:func:`mock_services.common.service.json_error`)
  is the component ``Error``; :func:`error` refers to it.

:func:`route_table` reads ``(METHOD, path)`` pairs back from an app's routes and
:func:`documented_operations` from a document, for the test that every route is documented
and every documented operation is routed. The small builders (:func:`query`, :func:`path_param`,
:func:`header`, :func:`json_body`, :func:`response`, :func:`error`) return plain OpenAPI
objects; a service may write any other OpenAPI by hand where they do not fit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

Json = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response]]

ERROR_SCHEMA: Json = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "a code word (invalid-json, not-found...)"},
        "detail": {"type": "string", "description": "what was wrong, for a person"},
    },
}
PROMETHEUS_TEXT = "text/plain"
_CONVERTOR = re.compile(r"{(\w+):[^}]+}")


@dataclass(frozen=True)
class Operation:
    """One method on one path: its handler and its OpenAPI operation object's parts.

    ``responses`` maps a status to an OpenAPI response object (:func:`response`, :func:`error`);
    ``parameters`` are OpenAPI parameter objects; ``body`` an OpenAPI request body object."""

    method: str
    path: str
    endpoint: Endpoint
    summary: str
    responses: Mapping[int, Json]
    parameters: Sequence[Json] = ()
    body: Json | None = None
    tags: tuple[str, ...] = ()
    description: str = ""

    def openapi(self) -> Json:
        operation: Json = {
            "summary": self.summary,
            "operationId": _operation_id(self.method, self.path),
            "responses": {str(status): answer for status, answer in sorted(self.responses.items())},
        }
        if self.description:
            operation["description"] = self.description
        if self.tags:
            operation["tags"] = list(self.tags)
        if self.parameters:
            operation["parameters"] = list(self.parameters)
        if self.body is not None:
            operation["requestBody"] = self.body
        return operation


def _operation_id(method: str, path: str) -> str:
    words = [word for word in re.split(r"[^A-Za-z0-9]+", openapi_path(path)) if word]
    return method.lower() + "".join(word[:1].upper() + word[1:] for word in words)


def openapi_path(path: str) -> str:
    """A Starlette path template as OpenAPI writes it: ``{id:path}`` -> ``{id}``."""
    return _CONVERTOR.sub(r"{\1}", path)


def _route(path: str, handlers: dict[str, Endpoint]) -> Route:
    if len(handlers) == 1:
        ((method, endpoint),) = handlers.items()
        return Route(path, endpoint, methods=[method])

    async def by_method(request: Request) -> Response:
        # HEAD is served by GET (Starlette adds HEAD wherever GET is allowed).
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    by_method.__name__ = f"methods_of_{_operation_id('', path) or 'root'}"
    return Route(path, by_method, methods=list(handlers))


@dataclass
class ApiDescription:
    """A service's API: its title, version, description and reusable schemas (components)."""

    title: str
    version: str
    description: str = ""
    schemas: Mapping[str, Json] = field(default_factory=dict)

    def document(self, operations: Iterable[Operation]) -> Json:
        """The OpenAPI 3.0 document of ``operations`` plus ``GET /openapi.json`` itself."""
        paths: Json = {}
        for operation in [*operations, self._self_operation()]:
            paths.setdefault(openapi_path(operation.path), {})[operation.method.lower()] = operation.openapi()
        info: Json = {"title": self.title, "version": self.version}
        if self.description:
            info["description"] = self.description
        return {
            "openapi": "3.0.3",
            "info": info,
            "paths": paths,
            "components": {"schemas": {"Error": ERROR_SCHEMA, **self.schemas}},
        }

    def routes(self, operations: Sequence[Operation]) -> list[Route]:
        """One route per path (in order of first appearance), then ``GET /openapi.json``.

        Raises ValueError for a method listed twice on one path (a table error)."""
        by_path: dict[str, dict[str, Endpoint]] = {}
        for operation in operations:
            handlers = by_path.setdefault(operation.path, {})
            method = operation.method.upper()
            if method in handlers:
                raise ValueError(f"{method} {operation.path} is listed twice")
            handlers[method] = operation.endpoint
        body = json.dumps(self.document(operations), ensure_ascii=False).encode()

        async def openapi(request: Request) -> Response:
            return Response(body, media_type="application/json")

        return [*(_route(path, handlers) for path, handlers in by_path.items()), Route("/openapi.json", openapi)]

    def _self_operation(self) -> Operation:
        async def unused(request: Request) -> Response:  # routes() serves the document itself
            raise NotImplementedError

        document = response("this document (OpenAPI 3.0)", {"type": "object", "required": ["openapi", "paths"]})
        return Operation("GET", "/openapi.json", unused, "the OpenAPI description of this service", {200: document})


# -- builders ---------------------------------------------------------------------------------


def _parameter(where: str, name: str, schema: Json, description: str, required: bool, example: object) -> Json:
    parameter: Json = {"name": name, "in": where, "required": required, "schema": schema}
    if description:
        parameter["description"] = description
    if example is not None:
        parameter["example"] = example
    return parameter


def query(name: str, schema: Json, description: str = "", *, required: bool = False, example: object = None) -> Json:
    return _parameter("query", name, schema, description, required, example)


def path_param(name: str, schema: Json, description: str = "", *, example: object = None) -> Json:
    return _parameter("path", name, schema, description, True, example)


def header(name: str, schema: Json, description: str = "", *, required: bool = False, example: object = None) -> Json:
    return _parameter("header", name, schema, description, required, example)


def content(schema: Json, media_types: Sequence[str] = ("application/json",)) -> Json:
    return {media_type: {"schema": schema} for media_type in media_types}


def json_body(schema: Json, description: str = "", *, media_types: Sequence[str] = ("application/json",)) -> Json:
    """A required request body of ``schema`` in each of ``media_types``."""
    body: Json = {"required": True, "content": content(schema, media_types)}
    if description:
        body["description"] = description
    return body


def response(
    description: str,
    schema: Json | None = None,
    *,
    media_types: Sequence[str] = ("application/json",),
    headers: Mapping[str, Json] | None = None,
) -> Json:
    """A response object; without ``schema`` it declares no body (a 304, a redirect)."""
    answer: Json = {"description": description}
    if schema is not None:
        answer["content"] = content(schema, media_types)
    if headers:
        answer["headers"] = {name: {"schema": value} for name, value in headers.items()}
    return answer


def error(description: str, schema: Json | None = None) -> Json:
    """An error response in the shared ``{"error", "detail"}`` shape (or ``schema``)."""
    return response(description, schema or {"$ref": "#/components/schemas/Error"})


def prometheus_metrics() -> Json:
    return response("Prometheus text exposition", {"type": "string"}, media_types=(PROMETHEUS_TEXT,))


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


# -- reading back -----------------------------------------------------------------------------


def route_table(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    """``(METHOD, OpenAPI path)`` for every method of every route (HEAD, implied by GET, left out)."""
    table: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Route):
            table |= {(method, openapi_path(route.path)) for method in route.methods or () if method != "HEAD"}
    return table


def documented_operations(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    """``(METHOD, path)`` for every operation of an OpenAPI document."""
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in methods
    }
