"""What the HTTP probers (FHIR, plain HTTP, DICOMweb) share: the client, who answered, error kinds."""

from __future__ import annotations

import httpx

IDENTITY_HEADERS = ("x-served-by", "x-datacenter")
"""The headers our services answer with (``mock_services.common.service``): the instance and its
data center. A third-party server usually sends neither: then both stay ``None``."""


def http_client(base_url: str, timeout: float, workers: int, accept: str) -> httpx.Client:
    """A client for ``workers`` concurrent requests to ``base_url``, every request bounded by ``timeout``."""
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    return httpx.Client(base_url=base_url, timeout=timeout, limits=limits, headers={"Accept": accept})


def identity(response: httpx.Response) -> tuple[str | None, str | None]:
    """``(served_by, datacenter)`` from the response's headers, ``None`` where absent."""
    return response.headers.get(IDENTITY_HEADERS[0]), response.headers.get(IDENTITY_HEADERS[1])


def error_kind(error: Exception) -> str:
    """The short ``error`` of a request that got no usable answer: ``timeout`` (connect, read or
    write), ``connect`` (refused, unreachable), ``disconnected`` (closed mid-answer), else the
    exception's type name (a malformed answer: ``JSONDecodeError``, ``DecodingError``, ...)."""
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.ConnectError):
        return "connect"
    if isinstance(error, httpx.RemoteProtocolError):
        return "disconnected"
    return type(error).__name__
