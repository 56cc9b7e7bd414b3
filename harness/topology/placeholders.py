"""Placeholders in a user service's ``command`` and ``env``: ``{port}``, ``{url.ehr}``, ...

They let a command know its own address and its dependencies' addresses *through their
links* (so that its traffic crosses Toxiproxy) without the user knowing which ports a run
picks. This module only knows the names; the backend supplies the values
(:mod:`harness.backends.local.user_services`).

Names: ``{host}``, ``{port}`` (the first port), ``{port.<port name>}``, ``{name}``, ``{site}``,
``{role}``, ``{data}`` (a directory of the instance's own), and for a service ``S`` it depends
on, ``{url.S}`` (``http://host:port``), ``{host.S}``, ``{port.S}``, ``{address.S}``
(``host:port``). ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Final

PLACEHOLDER: Final = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
OWN: Final = ("host", "port", "name", "site", "role", "data")
DEPENDENCY_KINDS: Final = ("url", "host", "port", "address")


def names_in(text: str) -> list[str]:
    """The placeholder names used in ``text`` (literal braces excluded)."""
    return [m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(1) is not None]


def problem_with(name: str, ports: Collection[str], dependencies: Collection[str]) -> str | None:
    """Why ``{name}`` cannot be filled in for a service with these ports and dependencies, or None."""
    if name in OWN:
        return None
    kind, dot, rest = name.partition(".")
    if dot and kind == "port" and rest in ports:
        return None
    if dot and kind in DEPENDENCY_KINDS:
        if rest in dependencies:
            return None
        listed = ", ".join(dependencies) or "none"
        return (f"{{{name}}}: {rest!r} is not one of this service's dependencies (depends_on: {listed}); "
                "its address is only known through a link, which depends_on creates")
    known = [*OWN, *(f"port.{p}" for p in ports), *(f"{k}.{d}" for d in dependencies for k in DEPENDENCY_KINDS)]
    return f"unknown placeholder {{{name}}}; known here: {', '.join('{' + k + '}' for k in known)}"


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every placeholder replaced (names checked before: a missing one is a bug)."""
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "{{":
            return "{"
        if match.group(0) == "}}":
            return "}"
        return values[match.group(1)]
    return PLACEHOLDER.sub(replace, text)
