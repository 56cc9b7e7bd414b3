"""Typed values exchanged with a Toxiproxy server (API of Toxiproxy v2.12.0).

Two kinds of value live here:

* what the server reports -- :class:`Proxy` and :class:`Toxic`, built from its JSON with
  :meth:`Proxy.from_json` / :meth:`Toxic.from_json`, which raise :class:`ValueError` when the
  JSON does not have the documented shape (the client turns that into a ``ToxiproxyError``);
* what we ask for -- :class:`ProxySpec` and :class:`ToxicSpec`, validated on construction
  (``InvalidInput``) so a mistake surfaces where it was made rather than as a 400 later.

Every value is a frozen dataclass; mappings inside them are read-only views, so a value
handed to several threads (the fleet does that) cannot change under anyone's feet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, cast

from harness.errors import InvalidInput

Stream: TypeAlias = Literal["upstream", "downstream"]
"""Which direction a toxic affects: ``upstream`` is client -> server, ``downstream`` is
server -> client (Toxiproxy's own terms)."""

AttributeValue: TypeAlias = int | float
"""Toxic attributes are numbers; every built-in toxic of v2.12.0 takes integers (ms, KB/s,
bytes), the server rejects fractions for them with a 400."""

STREAMS: tuple[Stream, ...] = ("upstream", "downstream")


def _frozen_attributes(raw: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
    # Copy, then wrap: the caller's dict may be mutated later; the value must not follow.
    return MappingProxyType(dict(raw))


@dataclass(frozen=True)
class Toxic:
    """A toxic as the server reports it (attributes include the server's defaults)."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: Mapping[str, AttributeValue]

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", _frozen_attributes(self.attributes))

    def __hash__(self) -> int:
        # The generated hash would fail on the mapping; hash its items instead.
        return hash((self.name, self.type, self.stream, self.toxicity,
                     frozenset(self.attributes.items())))

    @classmethod
    def from_json(cls, data: object) -> Toxic:
        """Build from one element of ``GET /proxies/{proxy}/toxics``.

        Raises ``ValueError`` naming the offending field when the shape is wrong.
        """
        obj = _object(data, "toxic")
        attributes = obj.get("attributes")
        if attributes is None:
            attributes = {}  # a toxic without attributes (noop) may come back as null
        if not isinstance(attributes, dict):
            raise ValueError(f"toxic field 'attributes' should be an object, got {attributes!r}")
        for key, value in attributes.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"toxic attribute {key!r} should be a number, got {value!r}")
        stream = _str(obj, "stream", "toxic")
        if stream not in STREAMS:
            raise ValueError(f"toxic field 'stream' should be one of {STREAMS}, got {stream!r}")
        return cls(
            name=_str(obj, "name", "toxic"),
            type=_str(obj, "type", "toxic"),
            stream=stream,
            toxicity=_number(obj, "toxicity", "toxic"),
            attributes=cast(dict[str, AttributeValue], attributes),
        )


@dataclass(frozen=True)
class Proxy:
    """A proxy as the server reports it.

    ``listen`` is the address the server actually bound: when a proxy was created with port
    0 and is enabled, it holds the port the kernel picked. A disabled proxy keeps whatever
    address it was last given (still ``...:0`` if it was never enabled).
    """

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = ()

    @property
    def listen_host_port(self) -> tuple[str, int]:
        """``listen`` split into host and port (IPv6 brackets removed)."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    def toxic(self, name: str) -> Toxic | None:
        """The toxic called ``name`` on this proxy, or ``None``."""
        return next((t for t in self.toxics if t.name == name), None)

    @classmethod
    def from_json(cls, data: object) -> Proxy:
        """Build from the body of ``GET /proxies/{proxy}`` (or an entry of ``GET /proxies``).

        Raises ``ValueError`` naming the offending field when the shape is wrong.
        """
        obj = _object(data, "proxy")
        enabled = obj.get("enabled")
        if not isinstance(enabled, bool):
            raise ValueError(f"proxy field 'enabled' should be a boolean, got {enabled!r}")
        # Older servers omit "toxics" on some endpoints; treat absence as "none".
        raw_toxics = obj.get("toxics")
        if raw_toxics is None:
            raw_toxics = []
        if not isinstance(raw_toxics, list):
            raise ValueError(f"proxy field 'toxics' should be a list, got {raw_toxics!r}")
        return cls(
            name=_str(obj, "name", "proxy"),
            listen=_str(obj, "listen", "proxy"),
            upstream=_str(obj, "upstream", "proxy"),
            enabled=enabled,
            toxics=tuple(Toxic.from_json(t) for t in raw_toxics),
        )


@dataclass(frozen=True)
class ProxySpec:
    """What to create: a proxy called ``name`` listening on ``listen`` ("host:port", port 0
    lets the server pick one) and forwarding to ``upstream`` ("host:port").

    Toxiproxy does not check ``upstream`` until a client connects (then the client's
    connection is closed), so a typo there shows up as refused traffic, not as an error.
    """

    name: str
    listen: str
    upstream: str
    enabled: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidInput("a Toxiproxy proxy needs a non-empty name")
        if "/" in self.name:
            # The name is a URL path segment in every later call; the server's router
            # decodes %2F before matching, so such a proxy could never be addressed again.
            raise InvalidInput(f"Toxiproxy proxy name {self.name!r} must not contain '/'")
        for label, address in (("listen", self.listen), ("upstream", self.upstream)):
            _check_address(self.name, label, address)

    def to_json(self) -> dict[str, object]:
        """The request body for ``POST /proxies`` and one element of ``POST /populate``."""
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled}


@dataclass(frozen=True)
class ToxicSpec:
    """What to add: a toxic of ``type`` (``latency``, ``bandwidth``, ``timeout``,
    ``reset_peer``, ``slow_close``, ``slicer``, ``limit_data``, ``noop``).

    ``name`` defaults, on the server, to ``"<type>_<stream>"``; give explicit names when one
    proxy may carry two toxics of the same type and stream. ``toxicity`` is the probability
    (0..1) that a *connection* gets the toxic; it is drawn once per connection when the
    toxic is added or the connection opens. Attributes left out take the server's default
    (0 for every built-in toxic).
    """

    type: str
    name: str | None = None
    stream: Stream = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.type:
            raise InvalidInput("a Toxiproxy toxic needs a type (e.g. 'latency')")
        if self.name is not None and (not self.name or "/" in self.name):
            raise InvalidInput(f"toxic name {self.name!r} must be non-empty and contain no '/'")
        if self.stream not in STREAMS:
            raise InvalidInput(f"toxic stream must be one of {STREAMS}, got {self.stream!r}")
        check_toxicity(self.toxicity)
        check_attributes(self.attributes)
        object.__setattr__(self, "attributes", _frozen_attributes(self.attributes))

    def __hash__(self) -> int:
        return hash((self.type, self.name, self.stream, self.toxicity,
                     frozenset(self.attributes.items())))

    def to_json(self) -> dict[str, object]:
        """The request body for ``POST /proxies/{proxy}/toxics``."""
        body: dict[str, object] = {"type": self.type, "stream": self.stream,
                                   "toxicity": self.toxicity, "attributes": dict(self.attributes)}
        if self.name is not None:
            body["name"] = self.name
        return body


def check_toxicity(toxicity: float) -> None:
    """``InvalidInput`` unless ``toxicity`` is a probability (0..1)."""
    # The server accepts any float (even 2 or -1) and silently treats it as a probability;
    # refusing out-of-range values here catches unit mistakes such as 50 for 50 %.
    if isinstance(toxicity, bool) or not isinstance(toxicity, int | float) \
            or math.isnan(toxicity) or not 0.0 <= toxicity <= 1.0:
        raise InvalidInput(f"toxicity must be a number between 0 and 1, got {toxicity!r}")


def check_attributes(attributes: Mapping[str, AttributeValue]) -> None:
    """``InvalidInput`` unless every attribute is a named number."""
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"toxic attribute names must be non-empty strings, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"toxic attribute {key!r} must be a number, got {value!r}")


def _check_address(proxy: str, label: str, address: str) -> None:
    # An empty host (":8080") is allowed: the server reads it as "all interfaces".
    _host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidInput(
            f"proxy {proxy!r}: {label} address {address!r} is not 'host:port'",
            hint="e.g. '127.0.0.1:0' to let Toxiproxy pick a port",
        )


def _object(data: object, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"a {what} should be a JSON object, got {data!r}")
    return cast(dict[str, Any], data)


def _str(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{what} field {key!r} should be a string, got {value!r}")
    return value


def _number(obj: Mapping[str, Any], key: str, what: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} field {key!r} should be a number, got {value!r}")
    return float(value)
