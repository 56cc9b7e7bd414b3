"""Client reconnection: after recovery starts, does every client succeed again in time?

A client is a load user (``user`` of the load's records) or the prober (one session). Only
clients still active after recovery starts are judged (a user the load shape had already
stopped cannot reconnect and is not counted against the system). A client is back when one
of its requests started within ``within`` of the recovery's start succeeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.checks.verdict import Outcome, Verdict
from harness.durations import format_duration
from harness.timeline import RequestRecord

PROBE_CLIENT = "probe"
EVIDENCE_LIMIT = 20
"""Clients listed by name in the evidence (the count is always complete)."""


@dataclass
class _Client:
    persona: str | None
    requests: int = 0
    back_at: float | None = None
    last_error: str | None = None


def client_of(record: RequestRecord) -> str:
    """The client a request belongs to: its load user, else its source (the prober)."""
    return record.user if record.user else (PROBE_CLIENT if record.source == "probe" else record.source)


def check_reconnection(name: str, requests: Sequence[RequestRecord], recovery_start: float | None,
                       within: float, min_fraction: float) -> Verdict:
    """Pass when at least ``min_fraction`` of the active clients are back within ``within``."""
    bound = f">= {min_fraction:.0%} of clients back within {format_duration(within)}"
    evidence: dict[str, object] = {"within": within, "min_fraction": min_fraction}
    if recovery_start is None:
        return Verdict(name, "reconnection", Outcome.UNKNOWN, "the recovery phase never started", "", bound,
                       evidence)
    clients: dict[str, _Client] = {}
    deadline = recovery_start + within
    for record in requests:
        if record.t < recovery_start:
            continue
        client = clients.setdefault(client_of(record), _Client(record.persona))
        client.requests += 1
        if record.ok and record.t < deadline:
            client.back_at = record.t if client.back_at is None else min(client.back_at, record.t)
        elif not record.ok:
            client.last_error = record.error
    if not clients:
        return Verdict(name, "reconnection", Outcome.UNKNOWN, "no client sent a request after recovery started",
                       "", bound, evidence)
    missing = sorted(c for c, state in clients.items() if state.back_at is None)
    back = len(clients) - len(missing)
    fraction = back / len(clients)
    slowest = max((s.back_at - recovery_start for s in clients.values() if s.back_at is not None), default=None)
    evidence.update({
        "clients": len(clients), "back": back, "fraction": fraction, "slowest": slowest,
        "not_back": [{"client": c, "persona": clients[c].persona, "requests": clients[c].requests,
                      "last_error": clients[c].last_error} for c in missing[:EVIDENCE_LIMIT]],
    })
    measured = f"{back}/{len(clients)} clients ({fraction:.1%})"
    if fraction < min_fraction:
        named = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        return Verdict(name, "reconnection", Outcome.FAIL,
                       f"{len(missing)} client(s) not back within {format_duration(within)}: {named}",
                       measured, bound, evidence)
    when = f"; the slowest after {format_duration(slowest)}" if slowest is not None else ""
    return Verdict(name, "reconnection", Outcome.PASS, f"{back} of {len(clients)} clients back{when}",
                   measured, bound, evidence)
