"""A thin, typed, thread-safe client for one Toxiproxy server's HTTP API (v2.12.0).

Why not ``toxiproxy-python``: it keeps host and port as class-level globals (one server per
process), sets no timeouts (Toxiproxy's API can hang; upstream issue #558) and cannot update
a toxic. This client holds its server in the instance, bounds every call with explicit
timeouts, and covers the whole API: proxies, toxics (including PATCH updates), ``/populate``
and ``/reset``.

Server semantics worth knowing (verified against toxiproxy-server 2.12.0):

* Updating a toxic (PATCH) merges: attributes left out keep their value, toxicity left out
  keeps its value; ``name``, ``type`` and ``stream`` cannot be changed (the server silently
  ignores them), so delete and re-add instead.
* Changing a proxy's ``listen`` or ``upstream`` restarts it and drops its connections.
  Disabling a proxy closes its listener *and* every open connection through it.
* ``/reset`` enables **every** proxy -- including ones created disabled on purpose -- and
  removes every toxic.
* ``/populate`` leaves an existing proxy alone when its listen/upstream match (its
  ``enabled`` flag and toxics are *not* changed, even if the spec says ``enabled=False``);
  when they differ the proxy is replaced (toxics dropped). A spec with port 0 never matches
  an enabled proxy (the server compares against the bound port), so it is always replaced.
* Removing a ``timeout`` toxic closes the connections that were open while it was active;
  only new connections carry traffic again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from harness.errors import InvalidInput
from harness.toxiproxy.errors import (
    ToxiproxyConflict,
    ToxiproxyError,
    ToxiproxyNotFound,
    ToxiproxyUnreachable,
)
from harness.toxiproxy.models import (
    AttributeValue,
    Proxy,
    ProxySpec,
    Toxic,
    ToxicSpec,
    check_attributes,
    check_toxicity,
)

DEFAULT_TIMEOUT = 2.0
"""Seconds for each phase of a call (connect, write, read, waiting for a pooled connection).
The API answers local calls in well under 10 ms; 2 s only trips on a wedged server."""

_USER_AGENT = "hchaos-toxiproxy-client"

_T = TypeVar("_T")


class ToxiproxyClient:
    """Client for the Toxiproxy server at ``base_url`` (e.g. ``"http://127.0.0.1:8474"``).

    Contract:

    * Every call either returns the server's answer as typed values or raises a
      :class:`ToxiproxyError`: ``ToxiproxyNotFound`` (404), ``ToxiproxyConflict`` (409),
      ``ToxiproxyUnreachable`` (no answer within ``timeout`` / connection failed), the base
      class for any other status or a malformed answer.
    * No call waits longer than about ``timeout`` seconds per phase.
    * Thread-safe: one instance may be used from several threads at once. Connections are
      kept alive and pooled (up to 32), so concurrent calls do not queue behind each other.
    * ``transport`` replaces the network, e.g. ``FakeToxiproxy().transport`` (see
      :mod:`harness.toxiproxy.fake`) in unit tests; timeouts, connection limits and the
      ``trust_env=False`` guard then only apply as far as that transport honours them.
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._base_url = _normalise_url(base_url)
        if not timeout > 0:
            raise InvalidInput(f"Toxiproxy client timeout must be > 0 seconds, got {timeout!r}")
        self._timeout = float(timeout)
        self._http = httpx.Client(
            base_url=self._base_url,
            timeout=httpx.Timeout(connect=timeout, read=timeout, write=timeout, pool=timeout),
            # Enough connections for a fleet to fire a whole data-center cut at one server
            # at once. keepalive_expiry stays below the server's 60 s idle timeout so we never
            # reuse a connection the server is about to close under us.
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32,
                                keepalive_expiry=30.0),
            transport=transport,
            # HTTP(S)_PROXY from the environment must never reroute calls meant for a local
            # Toxiproxy through a corporate proxy.
            trust_env=False,
            # The server rejects any User-Agent starting with "Mozilla/" (anti-CSRF).
            headers={"User-Agent": _USER_AGENT},
        )

    @property
    def base_url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return self._base_url

    @property
    def timeout(self) -> float:
        """Seconds allowed for each phase of a call."""
        return self._timeout

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self._base_url!r}, timeout={self._timeout:g})"

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close pooled connections. Idempotent; the client is unusable afterwards."""
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- server ------------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version, e.g. ``"2.12.0"``."""
        response = self._call("GET", "/version")
        # 2.7.0+ answers {"version": "..."}; older servers answered with the bare string.
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()
        if isinstance(body, dict) and isinstance(body.get("version"), str):
            return str(body["version"])
        return response.text.strip()

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (``POST /reset``).

        Proxies created disabled on purpose are enabled too. Fails (500) if a proxy cannot
        listen again, e.g. because its port was taken meanwhile; proxies handled before that
        one are already reset.
        """
        self._call("POST", "/reset", expect=(204,))

    # -- proxies -----------------------------------------------------------------------------

    def proxies(self) -> dict[str, Proxy]:
        """Every proxy on the server, by name, with its toxics."""
        response = self._call("GET", "/proxies")
        body = self._json(response, "GET", "/proxies")
        if not isinstance(body, dict):
            raise self._malformed("GET", "/proxies", "expected a JSON object of proxies")
        return {name: self._parse(Proxy.from_json, data, "GET", "/proxies")
                for name, data in body.items()}

    def proxy(self, name: str) -> Proxy:
        """The proxy called ``name``; ``ToxiproxyNotFound`` if there is none."""
        path = _proxy_path(name)
        return self._parse(Proxy.from_json, self._json(self._call("GET", path), "GET", path),
                           "GET", path)

    def create_proxy(self, spec: ProxySpec) -> Proxy:
        """Create a proxy; ``ToxiproxyConflict`` if the name is taken.

        If ``spec.enabled``, the proxy is listening when this returns and the result's
        ``listen`` holds the bound address. A listen address already in use fails with a 500
        ("bind: address already in use") and creates nothing.
        """
        return self._proxy_call("POST", "/proxies", spec.to_json(), expect=(201,))

    def update_proxy(self, name: str, *, enabled: bool | None = None, listen: str | None = None,
                     upstream: str | None = None) -> Proxy:
        """Change the given fields of proxy ``name`` (``PATCH``); fields left ``None`` keep
        their value. A new ``listen`` or ``upstream`` restarts the proxy (connections drop).

        Note: if enabling fails on the server (address in use -> 500), the server has
        already stored the new ``listen``/``upstream`` and leaves the proxy disabled.
        """
        body: dict[str, object] = {}
        if enabled is not None:
            body["enabled"] = enabled
        if listen is not None:
            body["listen"] = listen
        if upstream is not None:
            body["upstream"] = upstream
        return self._proxy_call("PATCH", _proxy_path(name), body)

    def enable(self, name: str) -> Proxy:
        """Start listening again (no-op if already enabled)."""
        return self.update_proxy(name, enabled=True)

    def disable(self, name: str) -> Proxy:
        """Stop listening and close every connection through the proxy (no-op if disabled).
        New connections are refused until :meth:`enable`."""
        return self.update_proxy(name, enabled=False)

    def delete_proxy(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete proxy ``name`` and close its connections.

        With ``missing_ok``, a proxy that does not exist is not an error (idempotent heal).
        """
        try:
            self._call("DELETE", _proxy_path(name), expect=(204,))
        except ToxiproxyNotFound:
            if not missing_ok:
                raise

    def populate(self, specs: Iterable[ProxySpec]) -> list[Proxy]:
        """Create or replace several proxies in one call (``POST /populate``).

        Returns the proxies in spec order. See the module docstring for when an existing
        proxy is kept or replaced. The server validates every spec before touching any; if
        creating one then fails (e.g. address in use), the earlier ones stay created and
        the error's ``detail`` says which failed.
        """
        body = [spec.to_json() for spec in specs]
        response = self._call("POST", "/populate", json=body, expect=(201,))
        data = self._json(response, "POST", "/populate")
        if not isinstance(data, dict):
            raise self._malformed("POST", "/populate", "expected a JSON object")
        # An empty list comes back as {"proxies": null} (a nil Go slice).
        raw = data.get("proxies") or []
        if not isinstance(raw, list):
            raise self._malformed("POST", "/populate", "'proxies' should be a list")
        return [self._parse(Proxy.from_json, item, "POST", "/populate") for item in raw]

    # -- toxics ------------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[Toxic]:
        """The toxics on ``proxy``: upstream ones first, then downstream, each in the order
        they were added. ``ToxiproxyNotFound`` if the proxy does not exist."""
        path = f"{_proxy_path(proxy)}/toxics"
        body = self._json(self._call("GET", path), "GET", path)
        if not isinstance(body, list):
            raise self._malformed("GET", path, "expected a JSON list of toxics")
        return [self._parse(Toxic.from_json, item, "GET", path) for item in body]

    def toxic(self, proxy: str, name: str) -> Toxic:
        """One toxic; ``ToxiproxyNotFound`` if the proxy or the toxic does not exist."""
        path = _toxic_path(proxy, name)
        return self._parse(Toxic.from_json, self._json(self._call("GET", path), "GET", path),
                           "GET", path)

    def add_toxic(self, proxy: str, spec: ToxicSpec) -> Toxic:
        """Add a toxic; it applies to open connections too, not only new ones.

        ``ToxiproxyConflict`` if a toxic with that name exists on the proxy (with no name,
        the server uses ``"<type>_<stream>"``); a 400 ``ToxiproxyError`` for an unknown type
        or an attribute of the wrong type (e.g. a fraction where the toxic wants ms).
        """
        path = f"{_proxy_path(proxy)}/toxics"
        response = self._call("POST", path, json=spec.to_json())
        return self._parse(Toxic.from_json, self._json(response, "POST", path), "POST", path)

    def update_toxic(self, proxy: str, toxic_name: str, *,
                     attributes: Mapping[str, AttributeValue] | None = None,
                     toxicity: float | None = None) -> Toxic:
        """Change a toxic in place (``PATCH``), without dropping connections.

        Only the attributes given change; the others keep their value, as does toxicity
        when ``None``. Returns the toxic as the server now has it.
        """
        body: dict[str, object] = {}
        if attributes is not None:
            # Validate like a spec does, so a typo fails here and not as a server 400.
            check_attributes(attributes)
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            check_toxicity(toxicity)
            body["toxicity"] = toxicity
        path = _toxic_path(proxy, toxic_name)
        response = self._call("PATCH", path, json=body)
        return self._parse(Toxic.from_json, self._json(response, "PATCH", path), "PATCH", path)

    def remove_toxic(self, proxy: str, toxic_name: str, *, missing_ok: bool = False) -> bool:
        """Remove a toxic; True if it was there. With ``missing_ok``, a missing toxic *or
        proxy* is not an error (False), so a heal can run any number of times."""
        try:
            self._call("DELETE", _toxic_path(proxy, toxic_name), expect=(204,))
        except ToxiproxyNotFound:
            if not missing_ok:
                raise
            return False
        return True

    # -- plumbing ----------------------------------------------------------------------------

    def _proxy_call(self, method: str, path: str, body: object,
                    expect: tuple[int, ...] = (200,)) -> Proxy:
        response = self._call(method, path, json=body, expect=expect)
        return self._parse(Proxy.from_json, self._json(response, method, path), method, path)

    def _call(self, method: str, path: str, *, json: object = None,
              expect: tuple[int, ...] = (200,)) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            phase = _TIMEOUT_PHASES.get(type(exc), "timeout")
            raise ToxiproxyUnreachable(
                self._base_url, method, path,
                f"no answer within {self._timeout:g} s ({phase})", timeout=self._timeout,
            ) from exc
        except httpx.TransportError as exc:
            raise ToxiproxyUnreachable(
                self._base_url, method, path,
                f"connection failed: {exc or type(exc).__name__}", timeout=self._timeout,
            ) from exc
        if response.status_code in expect:
            return response
        raise self._status_error(method, path, response)

    def _status_error(self, method: str, path: str, response: httpx.Response) -> ToxiproxyError:
        detail = _error_text(response)
        status = response.status_code
        cls: type[ToxiproxyError] = ToxiproxyError
        if status == 404:
            cls = ToxiproxyNotFound
        elif status == 409:
            cls = ToxiproxyConflict
        return cls(self._base_url, method, path, status, detail)

    def _json(self, response: httpx.Response, method: str, path: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise self._malformed(method, path, f"response is not JSON ({exc})") from exc

    def _parse(self, build: Callable[[object], _T], data: object, method: str, path: str) -> _T:
        try:
            return build(data)
        except ValueError as exc:
            raise self._malformed(method, path, str(exc)) from exc

    def _malformed(self, method: str, path: str, what: str) -> ToxiproxyError:
        return ToxiproxyError(self._base_url, method, path, None, f"unexpected answer: {what}",
                              hint="is this URL a Toxiproxy 2.x API server?")


_TIMEOUT_PHASES: Mapping[type[httpx.TimeoutException], str] = {
    httpx.ConnectTimeout: "connect timeout",
    httpx.ReadTimeout: "read timeout",
    httpx.WriteTimeout: "write timeout",
    httpx.PoolTimeout: "timed out waiting for a free connection in the pool",
}


def _error_text(response: httpx.Response) -> str:
    # Toxiproxy answers errors with {"error": "...", "status": N} (served as text/plain);
    # the router's own 404/405 are plain text or empty.
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    text = response.text.strip()
    return text or response.reason_phrase or "(empty response)"


def _proxy_path(name: str) -> str:
    if not name:
        raise InvalidInput("a Toxiproxy proxy name must not be empty")
    return f"/proxies/{quote(name, safe='')}"


def _toxic_path(proxy: str, toxic: str) -> str:
    if not toxic:
        raise InvalidInput("a Toxiproxy toxic name must not be empty")
    return f"{_proxy_path(proxy)}/toxics/{quote(toxic, safe='')}"


def _normalise_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidInput(
            f"Toxiproxy URL {base_url!r} should look like 'http://host:port'",
            hint="Toxiproxy's API listens on port 8474 by default",
        )
    return base_url.rstrip("/")
