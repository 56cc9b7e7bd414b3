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

from collections.abc import Mapping, Sequence
from typing import Any

from harness.checks.verdict import Outcome, Verdict
from harness.readback import ReadBack
from harness.timeline import RequestRecord

EVIDENCE_LIMIT = 200
"""Entries listed per category in the verdict's evidence (counts are always complete)."""


def check_ledger(name: str, requests: Sequence[RequestRecord], readback: Mapping[str, ReadBack] | None,
                 fail_on_unexpected: bool = False) -> Verdict:
    bound = "no lost, duplicated or stale write" + (", none unexpected" if fail_on_unexpected else "")
    attempts: dict[str, list[RequestRecord]] = {}
    for record in requests:
        if record.write_key:
            attempts.setdefault(record.write_key, []).append(record)
    acknowledged = {key: [r for r in rs if r.ok and (r.resource_id or r.message_id or r.instance_uid)]
                    for key, rs in attempts.items()}
    acked_count = sum(1 for rs in acknowledged.values() if rs)
    evidence: dict[str, Any] = {"attempted": len(attempts), "acknowledged": acked_count}
    if readback is None:
        return Verdict(name, "ledger", Outcome.UNKNOWN, "the run has no read-back of its writes", "", bound, evidence)
    if not acked_count:
        return Verdict(name, "ledger", Outcome.UNKNOWN, "no write was acknowledged: nothing to check", "", bound,
                       evidence)
    lost: list[dict[str, Any]] = []
    duplicated: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    unexpected: list[dict[str, Any]] = []
    indeterminate: list[str] = []
    for key, tries in attempts.items():
        result = readback.get(key)
        if result is None or result.error is not None:
            indeterminate.append(key)
            continue
        found = {f"{key.partition('?')[0]}/{f.id}": f for f in result.found}
        if len(result.found) > 1:
            duplicated.append({"key": key, "ids": sorted(found),
                               "sources": sorted(str(f.source) for f in result.found)})
        acks = acknowledged[key]
        for ack in acks:
            if ack.resource_id is None:  # an HL7 result or an image: anything found under its key is it
                if not result.found:
                    lost.append({"key": key, "message_id": ack.message_id, "instance_uid": ack.instance_uid,
                                 "t": ack.t, "served_by": ack.served_by, "datacenter": ack.datacenter})
                continue
            present = found.get(str(ack.resource_id))
            if present is None:
                lost.append({"key": key, "resource_id": ack.resource_id, "version": ack.version, "t": ack.t,
                             "served_by": ack.served_by, "datacenter": ack.datacenter})
            elif _older(present.version, ack.version):
                stale.append({"key": key, "resource_id": ack.resource_id, "acknowledged_version": ack.version,
                              "found_version": present.version, "t": ack.t})
        if not acks and result.found:
            unexpected.append({"key": key, "ids": sorted(found), "errors": sorted({str(r.error) for r in tries}),
                               "t": tries[0].t})
    reads = stale_reads(requests, acknowledged)
    evidence.update({
        "stale_read_count": len(reads), "stale_reads": reads[:EVIDENCE_LIMIT],
        "lost_count": len(lost), "duplicated_count": len(duplicated), "stale_count": len(stale),
        "unexpected_count": len(unexpected), "indeterminate_count": len(indeterminate),
        "lost": lost[:EVIDENCE_LIMIT], "duplicated": duplicated[:EVIDENCE_LIMIT], "stale": stale[:EVIDENCE_LIMIT],
        "unexpected": unexpected[:EVIDENCE_LIMIT], "indeterminate": indeterminate[:EVIDENCE_LIMIT],
    })
    measured = (f"{acked_count} acknowledged: {len(lost)} lost, {len(duplicated)} duplicated, {len(stale)} stale, "
                f"{len(unexpected)} unexpected")
    problems = []
    if lost:
        problems.append(f"{len(lost)} acknowledged write(s) lost, e.g. {_names(lost)}")
    if duplicated:
        problems.append(f"{len(duplicated)} write(s) duplicated, e.g. {', '.join(d['key'] for d in duplicated[:3])}")
    if stale:
        problems.append(f"{len(stale)} write(s) stale, e.g. {_names(stale)}")
    if reads:
        problems.append(f"{len(reads)} stale read(s), e.g. {_names(reads)}")
    if unexpected and fail_on_unexpected:
        problems.append(f"{len(unexpected)} write(s) present though never acknowledged")
    if problems:
        return Verdict(name, "ledger", Outcome.FAIL, "; ".join(problems), measured, bound, evidence)
    if indeterminate and len(indeterminate) >= acked_count:
        return Verdict(name, "ledger", Outcome.UNKNOWN, f"{len(indeterminate)} write(s) could not be read back",
                       measured, bound, evidence)
    extra = f"; {len(indeterminate)} could not be read back" if indeterminate else ""
    return Verdict(name, "ledger", Outcome.PASS, f"every acknowledged write is there, once{extra}",
                   measured, bound, evidence)


def stale_reads(requests: Sequence[RequestRecord], acknowledged: Mapping[str, list[RequestRecord]]
                ) -> list[dict[str, Any]]:
    """Reads that saw less than an earlier acknowledged write of the same resource."""
    acked: dict[str, RequestRecord] = {}
    for acks in acknowledged.values():
        for write in acks:
            if write.resource_id:
                acked[write.resource_id] = write
    stale: list[dict[str, Any]] = []
    for read in requests:
        if read.write_key or not read.resource_id:
            continue
        ack = acked.get(read.resource_id)
        if ack is None or read.t < ack.t + ack.duration:
            continue
        if read.status == 404 or (read.ok and _older(read.version, ack.version)):
            stale.append({"resource_id": read.resource_id, "t": read.t, "acknowledged_at": ack.t + ack.duration,
                          "acknowledged_version": ack.version, "read": "not found" if read.status == 404
                          else f"version {read.version}", "served_by": read.served_by})
    return stale


def _older(found: str | None, acknowledged: str | None) -> bool:
    try:
        return found is not None and acknowledged is not None and int(found) < int(acknowledged)
    except ValueError:
        return False


def _names(entries: list[dict[str, Any]]) -> str:
    names = (str(e.get("resource_id") or e.get("message_id") or e.get("instance_uid")) for e in entries[:3])
    return ", ".join(names) + (" ..." if len(entries) > 3 else "")
