"""Client reconnection: after recovery starts, does every client succeed again in time?

A client is a load user (``user`` of the load's records) or the prober (one session). Only
clients still active after recovery starts are judged (a user the load shape had already
stopped cannot reconnect and is not counted against the system). A client is back when one
of its requests started within ``within`` of the recovery's start succeeded -- and was not
served from a downtime snapshot (a workstation still in downtime mode has not reconnected).
The start can also be a fault's heal (the power's return) rather than the recovery phase.
"""

from __future__ import annotations

import polars as pl

from harness.checks.verdict import Outcome, Verdict
from harness.checks.windows import Requests, request_table
from harness.durations import format_duration
from harness.timeline import RequestRecord

PROBE_CLIENT = "probe"
EVIDENCE_LIMIT = 20
"""Clients listed by name in the evidence (the count is always complete)."""


def client_of(record: RequestRecord) -> str:
    """The client a request belongs to: its load user, else its source (the prober)."""
    return record.user if record.user else (PROBE_CLIENT if record.source == "probe" else record.source)


def _client() -> pl.Expr:
    """:func:`client_of` as a column expression."""
    source = pl.col("source").cast(pl.String)
    return (pl.when(pl.col("user").is_not_null() & (pl.col("user").cast(pl.String) != ""))
            .then(pl.col("user").cast(pl.String))
            .when(source == "probe").then(pl.lit(PROBE_CLIENT)).otherwise(source))


def check_reconnection(name: str, requests: Requests, recovery_start: float | None,
                       within: float, min_fraction: float, since: str = "recovery phase") -> Verdict:
    """Pass when at least ``min_fraction`` of the active clients are back within ``within`` of
    ``recovery_start`` (``since`` names that moment in messages)."""
    bound = f">= {min_fraction:.0%} of clients back within {format_duration(within)}"
    evidence: dict[str, object] = {"within": within, "min_fraction": min_fraction}
    if recovery_start is None:
        return Verdict(name, "reconnection", Outcome.UNKNOWN, f"the {since} never happened", "", bound, evidence)
    deadline = recovery_start + within
    # One row per client active after recovery started (requests in start order, so "last error"
    # is the latest one).
    clients = (request_table(requests).filter(pl.col("t") >= recovery_start)
               .select("t", "ok", "error", "persona", "mode", client=_client()).sort("t")
               .group_by("client", maintain_order=True)
               .agg(persona=pl.col("persona").cast(pl.String).first(), requests=pl.len(),
                    back_at=pl.col("t").filter(pl.col("ok") & (pl.col("t") < deadline)
                                               & (pl.col("mode") != "downtime").fill_null(True)).min(),
                    last_error=pl.col("error").cast(pl.String).filter(~pl.col("ok")).last())
               .collect())
    if not clients.height:
        return Verdict(name, "reconnection", Outcome.UNKNOWN, "no client sent a request after recovery started",
                       "", bound, evidence)
    not_back = clients.filter(pl.col("back_at").is_null()).sort("client")
    missing = not_back.get_column("client").to_list()
    back = clients.height - len(missing)
    fraction = back / clients.height
    slowest_at = clients.get_column("back_at").max()
    slowest = float(slowest_at) - recovery_start if slowest_at is not None else None  # type: ignore[arg-type]
    evidence.update({
        "clients": clients.height, "back": back, "fraction": fraction, "slowest": slowest,
        "not_back": [{"client": row["client"], "persona": row["persona"], "requests": row["requests"],
                      "last_error": row["last_error"]} for row in not_back.head(EVIDENCE_LIMIT).iter_rows(named=True)],
    })
    measured = f"{back}/{clients.height} clients ({fraction:.1%})"
    if fraction < min_fraction:
        named = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        return Verdict(name, "reconnection", Outcome.FAIL,
                       f"{len(missing)} client(s) not back within {format_duration(within)}: {named}",
                       measured, bound, evidence)
    when = f"; the slowest after {format_duration(slowest)}" if slowest is not None else ""
    return Verdict(name, "reconnection", Outcome.PASS, f"{back} of {clients.height} clients back{when}",
                   measured, bound, evidence)
