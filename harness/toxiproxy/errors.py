"""Errors raised by the Toxiproxy client and fleet.

All of them are :class:`~harness.errors.InfrastructureError` (exit code 3): Toxiproxy is
infrastructure the harness drives, and a failure to drive it means the experiment could not
be run as written -- never that the system under test failed.

Every message names the server, the request and what the server said, e.g.::

    toxiproxy at http://127.0.0.1:8474: POST /proxies/ehr/toxics -> 409: toxic already exists
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.errors import InfrastructureError


class ToxiproxyError(InfrastructureError):
    """A Toxiproxy API call failed.

    Attributes: ``server`` (base URL), ``method``, ``path``, ``status`` (HTTP status, or
    ``None`` when no response arrived) and ``detail`` (Toxiproxy's own error text, or a
    description of the transport failure).
    """

    def __init__(self, server: str, method: str, path: str, status: int | None, detail: str,
                 *, hint: str | None = None) -> None:
        outcome = f"{status}: {detail}" if status is not None else detail
        super().__init__(f"toxiproxy at {server}: {method} {path} -> {outcome}", hint=hint)
        self.server = server
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail


class ToxiproxyNotFound(ToxiproxyError):
    """404: the proxy or toxic does not exist (``detail`` says which)."""


class ToxiproxyConflict(ToxiproxyError):
    """409: a proxy or toxic with that name already exists."""


class ToxiproxyUnreachable(ToxiproxyError):
    """No HTTP response: connection refused/reset, or no answer within the timeout.

    ``status`` is ``None``; ``timeout`` is the client's timeout in seconds. The request may
    or may not have been applied by the server (a timeout can happen after it acted).
    """

    def __init__(self, server: str, method: str, path: str, detail: str, *, timeout: float) -> None:
        super().__init__(
            server, method, path, None, detail,
            hint=f"is toxiproxy-server running and listening at {server}? "
                 f"(client timeout: {timeout:g} s)",
        )
        self.timeout = timeout


class ToxiproxyBatchError(InfrastructureError):
    """Some calls of :meth:`ToxiproxyFleet.run_concurrently` failed.

    Every call ran to completion before this was raised. ``results`` has one entry per call,
    in call order: the call's return value, or ``None`` where it failed. ``failures`` lists
    ``(index, exception)`` for each failed call, in call order; ``__cause__`` is the first.
    """

    def __init__(self, results: Sequence[object], failures: Sequence[tuple[int, BaseException]]) -> None:
        lines = [f"{len(failures)} of {len(results)} concurrent Toxiproxy calls failed:"]
        lines += [f"  call {index}: {_one_line(exc)}" for index, exc in failures]
        super().__init__("\n".join(lines))
        self.results: list[object] = list(results)
        self.failures: list[tuple[int, BaseException]] = list(failures)


def _one_line(exc: BaseException) -> str:
    # A hint is useful once at the end of a report, not once per failed call.
    text = exc.message if isinstance(exc, InfrastructureError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())
