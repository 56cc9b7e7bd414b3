"""The allow-list: which hosts outside loopback a run may contact.

The rule (the project's network rule, and what a hospital's change board approves): a run
contacts loopback, the project's own containers of the same run, and nothing else unless the
experiment lists it under ``allow:`` -- a host name, an IP address, or a network in CIDR
notation (``10.20.0.0/16``). A host listed by name is allowed by that name. Any other name is
resolved by the system resolver and allowed only if *every* address it resolves to is loopback
or inside a listed network or address: the connection may go to any of them. A name that does
not resolve is refused, saying so.

Light on purpose (``ipaddress`` and ``socket`` only): Locust's worker processes check their
targets with it too.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

IpNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver: TypeAlias = Callable[[str], Sequence[str]]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$", re.IGNORECASE)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of loopback."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_entry(text: str) -> str | IpNetwork:
    """One allow-list entry: a network (an IP address is a /32 or /128) or a host name
    (lowercased). Raises ValueError saying what is wrong with it."""
    entry = text.strip()
    if not entry:
        raise ValueError("an empty entry")
    if "://" in entry or (entry.count(":") == 1 and "/" not in entry) or entry.startswith("/"):
        raise ValueError(f"{text!r} is not a host, an IP address or a network: write the host alone "
                         "(no scheme, port or path), e.g. ehr.staging.example.org or 10.20.0.0/16")
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        pass
    if "/" in entry:
        raise ValueError(f"{text!r} is not a network in CIDR notation (e.g. 10.20.0.0/16 or fd00::/64)")
    if not _HOST_NAME.match(entry):
        raise ValueError(f"{text!r} is not a valid host name")
    if entry.rstrip(".").rsplit(".", 1)[-1].isdigit():
        # '10.20' or '010.1.1.1' would be a "name" here but an address to the resolver
        raise ValueError(f"{text!r} is neither an IP address nor a host name (a name's last label has a letter): "
                         "write the whole address, or a network such as 10.20.0.0/16")
    return entry.lower().rstrip(".")


def system_resolver(host: str) -> list[str]:
    """Every address ``host`` resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class Decision:
    """Whether a host may be contacted, why, and the addresses it resolved to (if resolved)."""

    host: str
    allowed: bool
    reason: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class AllowList:
    """A parsed allow-list plus the run's own addresses (its containers), which are always
    allowed."""

    names: frozenset[str] = frozenset()
    networks: tuple[IpNetwork, ...] = ()
    own: frozenset[str] = frozenset()
    entries: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, entries: Iterable[str], own: Iterable[str] = ()) -> AllowList:
        """Raises ValueError naming the first bad entry."""
        names: set[str] = set()
        networks: list[IpNetwork] = []
        texts = tuple(entries)
        for text in texts:
            parsed = parse_entry(text)
            if isinstance(parsed, str):
                names.add(parsed)
            else:
                networks.append(parsed)
        return cls(frozenset(names), tuple(networks), frozenset(h.lower() for h in own), texts)

    def with_own(self, hosts: Iterable[str]) -> AllowList:
        return AllowList(self.names, self.networks, self.own | {h.lower() for h in hosts}, self.entries)

    def _address_allowed(self, address: str) -> str | None:
        """Why ``address`` (an IP) is allowed, or None."""
        if is_loopback(address):
            return "loopback"
        if address.lower() in self.own:
            return "the run's own container"
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return None
        for network in self.networks:
            if ip.version == network.version and ip in network:
                return f"in allow: {network}"
        return None

    def decide(self, host: str, resolver: Resolver = system_resolver) -> Decision:
        """May ``host`` (a name or an IP address) be contacted? See the module docstring."""
        clean = host.strip("[]").lower().rstrip(".")
        if is_loopback(clean):
            return Decision(host, True, "loopback")
        why = self._address_allowed(clean)
        if why is not None:
            return Decision(host, True, why)
        try:
            ipaddress.ip_address(clean)
            return Decision(host, False, "not loopback, not the run's own, not in allow:")
        except ValueError:
            pass
        if clean in self.own:
            return Decision(host, True, "the run's own container")
        if clean in self.names:
            return Decision(host, True, f"in allow: {clean}")
        addresses = tuple(resolver(clean))
        if not addresses:
            return Decision(host, False, "does not resolve, and is not listed by name in allow:")
        refused = [a for a in addresses if self._address_allowed(a) is None]
        if refused:
            return Decision(host, False, f"resolves to {', '.join(refused)}, not in allow:", addresses)
        return Decision(host, True, f"resolves to {', '.join(addresses)}, all allowed", addresses)

    def permits(self, host: str, resolver: Resolver = system_resolver) -> bool:
        return self.decide(host, resolver).allowed
