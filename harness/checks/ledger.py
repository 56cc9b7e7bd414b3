"""The acknowledged-write ledger (Jepsen's set checker, for FHIR writes): every write a
client was told succeeded must be there after recovery, exactly once, at its version.

Inputs: the run's write attempts (request records with a ``write_key``: the search for the
client's own identifier) and the read-back of every key after recovery
(:mod:`harness.readback`). Per key:

* **lost** -- acknowledged, and not found: for a FHIR create (``resource_id`` known) no
  resource with that id; for an HL7 result (acknowledged by the engine, ``message_id``, no
  id yet) nothing at all with the message's identifier;
* **duplicated** -- more than one resource carries the client's identifier;
* **stale** -- acknowledged at version v, found at an older version;
* **unexpected** -- found, though no attempt was acknowledged (a create the client saw fail
  or time out was applied anyway: a retry would duplicate it). Listed; fails the check only
  with ``fail_on_unexpected``;
* **indeterminate** -- the read-back of the key failed: neither lost nor kept.

Stale reads, from the run itself: a read of a resource (a record with ``resource_id`` and no
``write_key``) that started after a write of it was acknowledged, and answered 404 or an
older version -- a client shown data older than what it was told was saved.

Lost, duplicated, stale writes and stale reads fail the check. No acknowledged write at all, or no read-back,
gives unknown: nothing was shown to be kept.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from harness.checks.ledger_tables import ACKNOWLEDGED, LIMIT, LedgerTables, ReadBackInput, ledger_tables
from harness.checks.verdict import Outcome, Verdict
from harness.checks.windows import Requests, request_table

EVIDENCE_LIMIT = LIMIT
"""Entries listed per category in the verdict's evidence (counts are always complete)."""


def check_ledger(name: str, requests: Requests, readback: ReadBackInput | None,
                 fail_on_unexpected: bool = False) -> Verdict:
    """The ledger of every write in ``requests`` (one service's) against ``readback``."""
    if readback is None:
        return ledger_verdict(name, None, fail_on_unexpected, attempts=_attempts(requests))
    return ledger_verdict(name, ledger_tables(requests, readback), fail_on_unexpected)


def _attempts(requests: Requests) -> tuple[int, int]:
    counts = (request_table(requests).filter(pl.col("write_key").is_not_null())
              .select(attempted=pl.col("write_key").n_unique(),
                      acknowledged=pl.col("write_key").filter(ACKNOWLEDGED).n_unique()).collect())
    return int(counts["attempted"][0]), int(counts["acknowledged"][0])


def ledger_verdict(name: str, tables: LedgerTables | None, fail_on_unexpected: bool = False, *,
                   attempts: tuple[int, int] = (0, 0)) -> Verdict:
    """The verdict from one service's ledger tables (``None``: the run has no read-back; then
    ``attempts`` = (attempted, acknowledged) keys, for the evidence)."""
    bound = "no lost, duplicated or stale write" + (", none unexpected" if fail_on_unexpected else "")
    if tables is None:
        evidence: dict[str, Any] = {"attempted": attempts[0], "acknowledged": attempts[1]}
        return Verdict(name, "ledger", Outcome.UNKNOWN, "the run has no read-back of its writes", "", bound, evidence)
    acked_count = tables.count("acknowledged")
    evidence = {"attempted": tables.count("attempted"), "acknowledged": acked_count}
    if not acked_count:
        return Verdict(name, "ledger", Outcome.UNKNOWN, "no write was acknowledged: nothing to check", "", bound,
                       evidence)
    lost = [{k: v for k, v in entry.items() if v is not None or k in ("served_by", "datacenter")}
            for entry in _rows(tables.lost.rename({"write_key": "key"}), ["key", "resource_id", "version",
                               "message_id", "instance_uid", "t", "served_by", "datacenter"])]
    duplicated = _rows(tables.duplicated.rename({"write_key": "key"}), ["key", "ids", "sources"])
    stale = _rows(tables.stale.rename({"write_key": "key"}),
                  ["key", "resource_id", "acknowledged_version", "found_version", "t"])
    unexpected = _rows(tables.unexpected.rename({"write_key": "key", "first_t": "t"}), ["key", "ids", "errors", "t"])
    indeterminate = tables.indeterminate.head(EVIDENCE_LIMIT).get_column("write_key").to_list()
    reads = _rows(tables.stale_reads, ["resource_id", "t", "acknowledged_at", "acknowledged_version", "read",
                                       "served_by"])
    n_lost, n_duplicated, n_stale = tables.count("lost"), tables.count("duplicated"), tables.count("stale")
    n_unexpected, n_indeterminate = tables.count("unexpected"), tables.count("indeterminate")
    n_reads = tables.count("stale_reads")
    evidence.update({
        "stale_read_count": n_reads, "stale_reads": reads,
        "lost_count": n_lost, "duplicated_count": n_duplicated, "stale_count": n_stale,
        "unexpected_count": n_unexpected, "indeterminate_count": n_indeterminate,
        "lost": lost, "duplicated": duplicated, "stale": stale, "unexpected": unexpected,
        "indeterminate": indeterminate,
    })
    measured = (f"{acked_count} acknowledged: {n_lost} lost, {n_duplicated} duplicated, {n_stale} stale, "
                f"{n_unexpected} unexpected")
    problems = []
    if n_lost:
        problems.append(f"{n_lost} acknowledged write(s) lost, e.g. {_names(lost, n_lost)}")
    if n_duplicated:
        problems.append(f"{n_duplicated} write(s) duplicated, e.g. {', '.join(d['key'] for d in duplicated[:3])}")
    if n_stale:
        problems.append(f"{n_stale} write(s) stale, e.g. {_names(stale, n_stale)}")
    if n_reads:
        problems.append(f"{n_reads} stale read(s), e.g. {_names(reads, n_reads)}")
    if n_unexpected and fail_on_unexpected:
        problems.append(f"{n_unexpected} write(s) present though never acknowledged")
    if problems:
        return Verdict(name, "ledger", Outcome.FAIL, "; ".join(problems), measured, bound, evidence)
    if n_indeterminate and n_indeterminate >= acked_count:
        return Verdict(name, "ledger", Outcome.UNKNOWN, f"{n_indeterminate} write(s) could not be read back",
                       measured, bound, evidence)
    extra = f"; {n_indeterminate} could not be read back" if n_indeterminate else ""
    return Verdict(name, "ledger", Outcome.PASS, f"every acknowledged write is there, once{extra}",
                   measured, bound, evidence)


def _rows(frame: pl.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    return frame.head(EVIDENCE_LIMIT).select(columns).to_dicts()


def _names(entries: list[dict[str, Any]], total: int) -> str:
    names = (str(e.get("resource_id") or e.get("message_id") or e.get("instance_uid")) for e in entries[:3])
    return ", ".join(names) + (" ..." if total > 3 else "")
