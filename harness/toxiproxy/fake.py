"""An in-memory Toxiproxy API, served through ``httpx.MockTransport``: the testing seam.

Usage::

    fake = FakeToxiproxy()
    with ToxiproxyClient("http://toxiproxy.test:8474", transport=fake.transport) as client:
        client.create_proxy(ProxySpec("ehr", "127.0.0.1:0", "127.0.0.1:5432"))

Contract: for every endpoint :class:`~harness.toxiproxy.client.ToxiproxyClient` uses, the
fake answers with the status codes, error texts and JSON shapes of toxiproxy-server 2.12.0,
and keeps the same state semantics (populate keep/replace, reset enabling everything, PATCH
merging, toxic ordering, defaults for built-in toxic attributes, ``listen`` port 0 replaced
by a port on enable, "address already in use" between its own proxies). The test suite runs
the same cases against this fake and the real server to hold it to that.

What it does not do: move bytes. Nothing listens on the addresses it reports, so tests
about traffic (latency, cuts, timeouts) need the real server.

Extras for tests: ``delay`` (seconds each request takes, to observe concurrency), ``down``
(when true every request fails with ``httpx.ConnectError``, like a dead server) and
``requests`` (the ``(method, path)`` of every request received, in order).
"""

from __future__ import annotations

import json
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

VERSION = "2.12.0"

# Built-in toxics of 2.12.0 -> (Go struct name, attribute defaults). Every attribute is an
# int64 on the server: fractions and strings are refused with a 400, unknown keys ignored.
_TOXIC_TYPES: dict[str, tuple[str, dict[str, int]]] = {
    "noop": ("NoopToxic", {}),
    "latency": ("LatencyToxic", {"latency": 0, "jitter": 0}),
    "bandwidth": ("BandwidthToxic", {"rate": 0}),
    "slow_close": ("SlowCloseToxic", {"delay": 0}),
    "timeout": ("TimeoutToxic", {"timeout": 0}),
    "reset_peer": ("ResetToxic", {"timeout": 0}),
    "slicer": ("SlicerToxic", {"average_size": 0, "size_variation": 0, "delay": 0}),
    "limit_data": ("LimitDataToxic", {"bytes": 0}),
}
_STREAMS = ("upstream", "downstream")  # direction index order: upstream toxics list first


class _ApiError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


_PROXY_NOT_FOUND = ("proxy not found", 404)
_PROXY_EXISTS = ("proxy already exists", 409)
_TOXIC_NOT_FOUND = ("toxic not found", 404)
_TOXIC_EXISTS = ("toxic already exists", 409)


@dataclass
class _Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"attributes": dict(self.attributes), "name": self.name, "type": self.type,
                "stream": self.stream, "toxicity": self.toxicity}


@dataclass
class _Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool = False
    toxics: list[_Toxic] = field(default_factory=list)

    def ordered_toxics(self) -> list[_Toxic]:
        return [t for s in _STREAMS for t in self.toxics if t.stream == s]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled, "toxics": [t.to_json() for t in self.ordered_toxics()]}


class FakeToxiproxy:
    """One fake Toxiproxy server. Thread-safe: requests may arrive from several threads."""

    def __init__(self, *, version: str = VERSION, delay: float = 0.0) -> None:
        self.version = version
        self.delay = delay
        self.down = False
        self.requests: list[tuple[str, str]] = []
        self._proxies: dict[str, _Proxy] = {}
        self._next_port = 40000
        self._lock = threading.Lock()
        self.transport = httpx.MockTransport(self.handle)
        # The server's routes ("*" is a path parameter) and the methods each accepts.
        self._routes: dict[tuple[str, ...], dict[str, Any]] = {
            ("version",): {"GET": self._version},
            ("reset",): {"POST": self._reset},
            ("populate",): {"POST": self._populate},
            ("proxies",): {"GET": self._proxy_index, "POST": self._proxy_create},
            ("proxies", "*"): {"GET": self._proxy_show, "POST": self._proxy_update,
                               "PATCH": self._proxy_update, "DELETE": self._proxy_delete},
            ("proxies", "*", "toxics"): {"GET": self._toxic_index, "POST": self._toxic_create},
            ("proxies", "*", "toxics", "*"): {"GET": self._toxic_show, "POST": self._toxic_update,
                                              "PATCH": self._toxic_update,
                                              "DELETE": self._toxic_delete},
        }

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as toxiproxy-server 2.12.0 would."""
        path = request.url.path
        with self._lock:
            self.requests.append((request.method, path))
        if self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused (fake server is down)",
                                     request=request)
        if self.delay:
            time.sleep(self.delay)  # outside the lock: concurrent requests overlap
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            return httpx.Response(403, text="User agent not allowed\n")
        route = self._route(request.method, [p for p in path.split("/") if p])
        if route is None:
            return httpx.Response(404, text="404 page not found\n")
        if route == "method not allowed":
            return httpx.Response(405)
        handler, args = route
        with self._lock:
            try:
                status, body = handler(request, *args)
            except _PopulateError as err:
                # /populate reports its error in a normal JSON answer, with what it did.
                done = [p.to_json() for p in err.done] or None
                return httpx.Response(err.status, json={"error": err.message,
                                                        "status": err.status, "proxies": done})
            except _ApiError as err:
                # Like the real server: JSON text, but served as text/plain by http.Error.
                text = json.dumps({"error": err.message, "status": err.status}) + "\n"
                return httpx.Response(err.status, text=text)
        if body is None:
            return httpx.Response(status)
        return httpx.Response(status, json=body)

    def _route(self, method: str, parts: list[str]) -> Any:
        table = self._routes
        for pattern, methods in table.items():
            if len(pattern) != len(parts) or any(p not in ("*", q) for p, q in zip(pattern, parts,
                                                                                    strict=True)):
                continue
            if method not in methods:
                return "method not allowed"
            return methods[method], [q for p, q in zip(pattern, parts, strict=True) if p == "*"]
        return None

    # -- endpoints (called with the lock held) -----------------------------------------------

    def _version(self, request: httpx.Request) -> tuple[int, Any]:
        return 200, {"version": self.version}

    def _reset(self, request: httpx.Request) -> tuple[int, Any]:
        for proxy in list(self._proxies.values()):
            if not proxy.enabled:
                self._start(proxy)
            proxy.toxics.clear()
        return 204, None

    def _proxy_index(self, request: httpx.Request) -> tuple[int, Any]:
        return 200, {name: p.to_json() for name, p in self._proxies.items()}

    def _proxy_create(self, request: httpx.Request) -> tuple[int, Any]:
        body = _proxy_fields(_body(request, object))
        if not body.get("name"):
            raise _ApiError("missing required field: name", 400)
        if not body.get("upstream"):
            raise _ApiError("missing required field: upstream", 400)
        if body["name"] in self._proxies:
            raise _ApiError(*_PROXY_EXISTS)
        proxy = _Proxy(body["name"], body.get("listen", ""), body["upstream"])
        if body.get("enabled", True):
            self._start(proxy)  # a failure here creates nothing, as on the server
        self._proxies[proxy.name] = proxy
        return 201, proxy.to_json()

    def _populate(self, request: httpx.Request) -> tuple[int, Any]:
        items = _body(request, list)
        specs = [_proxy_fields(item) for item in items]
        # The server checks every entry before creating any.
        for i, spec in enumerate(specs, start=1):
            if not spec.get("name"):
                raise _populate_error(f"missing required field: name at proxy {i}", 400, [])
            if not spec.get("upstream"):
                raise _populate_error(f"missing required field: upstream at proxy {i}", 400, [])
        done: list[_Proxy] = []
        for spec in specs:
            new = _Proxy(spec["name"], spec.get("listen", ""), spec["upstream"])
            existing = self._proxies.get(new.name)
            if existing is not None:
                if not _differs(existing, new):
                    done.append(existing)  # kept as is: enabled flag and toxics untouched
                    continue
                self._stop(existing)
            try:
                if spec.get("enabled", True):
                    self._start(new)
            except _ApiError as err:
                raise _populate_error(err.message, err.status, done) from None
            self._proxies[new.name] = new
            done.append(new)
        return 201, {"proxies": [p.to_json() for p in done] or None}

    def _proxy_show(self, request: httpx.Request, name: str) -> tuple[int, Any]:
        return 200, self._get(name).to_json()

    def _proxy_update(self, request: httpx.Request, name: str) -> tuple[int, Any]:
        proxy = self._get(name)
        body = _proxy_fields(_body(request, object))
        new = _Proxy(name, body.get("listen", proxy.listen), body.get("upstream", proxy.upstream))
        enabled = body.get("enabled", proxy.enabled)
        # Same order as the server: restart on a new address, then apply `enabled`. A failed
        # start leaves the new address stored and the proxy disabled -- as the server does.
        if _differs(proxy, new):
            self._stop(proxy)
            proxy.listen, proxy.upstream = new.listen, new.upstream
        if enabled != proxy.enabled:
            if enabled:
                self._start(proxy)
            else:
                self._stop(proxy)
        return 200, proxy.to_json()

    def _proxy_delete(self, request: httpx.Request, name: str) -> tuple[int, Any]:
        self._stop(self._get(name))
        del self._proxies[name]
        return 204, None

    def _toxic_index(self, request: httpx.Request, name: str) -> tuple[int, Any]:
        return 200, [t.to_json() for t in self._get(name).ordered_toxics()]

    def _toxic_show(self, request: httpx.Request, name: str, toxic: str) -> tuple[int, Any]:
        return 200, self._get_toxic(self._get(name), toxic).to_json()

    def _toxic_create(self, request: httpx.Request, name: str) -> tuple[int, Any]:
        proxy = self._get(name)
        body = _body(request, object)
        for key, gotype in (("name", "string"), ("type", "string"), ("stream", "string")):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise _unmarshal(body[key], f"ToxicWrapper.{key}", gotype)
        # Checks in the server's order: stream, default name, type, name clash, attributes.
        stream = body.get("stream") or "downstream"
        if stream not in _STREAMS:
            raise _ApiError("stream was invalid, can be either upstream or downstream", 400)
        toxic_type = body.get("type") or ""
        toxic_name = body.get("name") or f"{toxic_type}_{stream}"
        toxicity = _toxicity(body.get("toxicity"), 1.0)
        if toxic_type not in _TOXIC_TYPES:
            raise _ApiError("invalid toxic type", 400)
        if any(t.name == toxic_name for t in proxy.toxics):
            raise _ApiError(*_TOXIC_EXISTS)
        attributes = dict(_TOXIC_TYPES[toxic_type][1])
        _merge_attributes(toxic_type, attributes, body.get("attributes"))
        toxic = _Toxic(toxic_name, toxic_type, stream, toxicity, attributes)
        proxy.toxics.append(toxic)
        return 200, toxic.to_json()

    def _toxic_update(self, request: httpx.Request, name: str, toxic: str) -> tuple[int, Any]:
        found = self._get_toxic(self._get(name), toxic)
        body = _body(request, object)
        # Validate fully before changing anything, so a 400 leaves the toxic as it was.
        attributes = dict(found.attributes)
        _merge_attributes(found.type, attributes, body.get("attributes"))
        toxicity = _toxicity(body.get("toxicity"), found.toxicity)
        found.attributes, found.toxicity = attributes, toxicity  # name/type/stream: ignored
        return 200, found.to_json()

    def _toxic_delete(self, request: httpx.Request, name: str, toxic: str) -> tuple[int, Any]:
        proxy = self._get(name)
        proxy.toxics.remove(self._get_toxic(proxy, toxic))
        return 204, None

    # -- state helpers -----------------------------------------------------------------------

    def _get(self, name: str) -> _Proxy:
        try:
            return self._proxies[name]
        except KeyError:
            raise _ApiError(*_PROXY_NOT_FOUND) from None

    @staticmethod
    def _get_toxic(proxy: _Proxy, name: str) -> _Toxic:
        for toxic in proxy.toxics:
            if toxic.name == name:
                return toxic
        raise _ApiError(*_TOXIC_NOT_FOUND)

    def _start(self, proxy: _Proxy) -> None:
        host, _, port = proxy.listen.rpartition(":")
        host = _bound_host(host)
        if port == "0":
            port = str(self._free_port())
        address = f"{host}:{port}"
        if any(p.enabled and p.listen == address for p in self._proxies.values()):
            raise _ApiError(f"listen tcp {proxy.listen}: bind: address already in use", 500)
        proxy.listen, proxy.enabled = address, True

    @staticmethod
    def _stop(proxy: _Proxy) -> None:
        proxy.enabled = False

    def _free_port(self) -> int:
        taken = {p.listen.rpartition(":")[2] for p in self._proxies.values() if p.enabled}
        while str(self._next_port) in taken:
            self._next_port += 1
        self._next_port += 1
        return self._next_port - 1


def _bound_host(host: str) -> str:
    # What net.Listener.Addr() reports for the host part of a listen address.
    if host == "localhost":
        return "127.0.0.1"
    if host in ("", "0.0.0.0", "[::]"):
        return "[::]"
    return host


def _differs(existing: _Proxy, new: _Proxy) -> bool:
    # The server resolves the new listen address (not the old one) before comparing.
    host, _, port = new.listen.rpartition(":")
    resolved = f"{'127.0.0.1' if host == 'localhost' else host}:{port}"
    return existing.listen != resolved or existing.upstream != new.upstream


def _body(request: httpx.Request, kind: type) -> Any:
    raw = request.content
    if not raw.strip():
        raise _ApiError("bad request body: EOF", 400)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise _ApiError(f"bad request body: {exc}", 400) from None
    if kind is list and not isinstance(data, list):
        raise _unmarshal(data, "", "[]struct { toxiproxy.Proxy; Enabled *bool }")
    if kind is object and not isinstance(data, dict):
        raise _ApiError(f"bad request body: json: cannot unmarshal {_go_kind(data)} into Go "
                        "value of type toxiproxy.Proxy", 400)
    return data


def _proxy_fields(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _unmarshal(data, "", "toxiproxy.Proxy")
    fields: dict[str, Any] = {}
    for key, gotype in (("name", str), ("listen", str), ("upstream", str), ("enabled", bool)):
        value = data.get(key)
        if value is None:
            continue  # absent or null: Go leaves the field at its default
        if not isinstance(value, gotype):
            raise _unmarshal(value, f"Proxy.{key}", "bool" if gotype is bool else "string")
        fields[key] = value
    return fields


def _toxicity(value: object, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _unmarshal(value, "ToxicWrapper.toxicity", "float32")
    return _float32(float(value))


def _float32(value: float) -> float:
    # The server keeps toxicity as a float32 and prints its shortest float32 form.
    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{single:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            return float(text)
    return float(single)


def _merge_attributes(toxic_type: str, target: dict[str, int], raw: object) -> None:
    if raw is None:
        return
    struct_name = _TOXIC_TYPES[toxic_type][0]
    if not isinstance(raw, dict):
        raise _unmarshal(raw, f"{struct_name}.attributes", f"toxics.{struct_name}")
    for key, value in raw.items():
        if key not in target or value is None:
            continue  # unknown keys are ignored by Go's decoder, null leaves the value
        if isinstance(value, bool) or not isinstance(value, int):
            raise _unmarshal(value, f"{struct_name}.attributes.{key}", "int64")
        target[key] = value


def _go_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _unmarshal(value: object, go_field: str, go_type: str) -> _ApiError:
    where = f"Go struct field {go_field}" if go_field else "Go value"
    return _ApiError(f"bad request body: json: cannot unmarshal {_go_kind(value)} into {where} "
                     f"of type {go_type}", 400)


class _PopulateError(_ApiError):
    def __init__(self, message: str, status: int, done: list[_Proxy]) -> None:
        super().__init__(message, status)
        self.done = done


def _populate_error(message: str, status: int, done: list[_Proxy]) -> _ApiError:
    return _PopulateError(message, status, done)
