"""Degraded mode: did the clinicians' care application fall back to its downtime procedure in
time, say how old its data was, and lose or misplace nothing it took in while down?

Inputs: the care application's requests (each records the ``mode`` it answered in, the
``as_of`` time of a downtime answer's data, the ``patient``, and for orders the ``write_key``
and ``downtime_id``), the notifications the out-of-band sink received, and the read-back of
every order from the EHR after recovery (``authored``, ``subject``, ``downtime`` flag).

* **time to degraded mode** -- from the cut to the first answer served in downtime mode (the
  hours AP-HP lost), and to the "downtime" notification;
* **staleness** -- every downtime answer carries its data time (no hidden gap) and none is
  older than the bound;
* **downtime orders** -- every order (and registration) queued in downtime is in the EHR
  exactly once, flagged as entered during downtime, orders with their original authored time;
* **patient identity** -- no order on another patient (for a patient registered in downtime:
  the patient its registration became), every printed page stamped with its patient, no
  downtime identifier given twice, no two registrations merged into one patient;
* **lab turnaround** -- how much longer results took to reach the EHR during the outage than
  before it (a ratio of medians).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from harness.checks.verdict import Outcome, Verdict
from harness.checks.windows import Requests, Window, iso_epoch, percentile, request_table
from harness.durations import format_duration
from harness.timeline import NotificationRecord

EXAMPLES = 20
DOWNTIME = "downtime"


def check_time_to_degraded(name: str, requests: Requests, notifications: Sequence[NotificationRecord],
                           fault_label: str, fault_start: float | None, max_seconds: float,
                           max_notification: float | None) -> Verdict:
    bound = f"downtime mode <= {format_duration(max_seconds)}" + (
        f", notified <= {format_duration(max_notification)}" if max_notification is not None else "")
    evidence: dict[str, Any] = {"fault": fault_label, "fault_start": fault_start}
    if fault_start is None:
        return Verdict(name, "time_to_degraded", Outcome.UNKNOWN, f"fault {fault_label} was never injected", "",
                       bound, evidence)
    after = request_table(requests).filter(pl.col("t") >= fault_start)
    summary = after.select(
        requests=pl.len(),
        first_downtime=pl.col("t").filter(pl.col("ok") & (pl.col("mode") == DOWNTIME)).min(),
        served_by=pl.col("served_by").cast(pl.String).filter(pl.col("ok") & (pl.col("mode") == DOWNTIME)).first(),
        errors_before=(~pl.col("ok")).sum()).collect().row(0, named=True)
    notified = min((n.t for n in notifications if n.event == DOWNTIME and n.t >= fault_start), default=None)
    evidence.update({"requests_after_fault": summary["requests"], "notification_at": notified})
    if not summary["requests"]:
        return Verdict(name, "time_to_degraded", Outcome.UNKNOWN, "no request to the application after the fault",
                       "", bound, evidence)
    first = summary["first_downtime"]
    problems: list[str] = []
    degraded = None if first is None else first - fault_start
    evidence.update({"time_to_degraded": degraded, "first_downtime_answer_by": summary["served_by"]})
    if degraded is None:
        problems.append(f"never served in downtime mode after {fault_label}")
    elif degraded > max_seconds:
        problems.append(f"downtime mode after {format_duration(degraded)}, over {format_duration(max_seconds)}")
    delay = None if notified is None else notified - fault_start
    evidence["notification_delay"] = delay
    if max_notification is not None:
        if delay is None:
            problems.append("no downtime notification reached the out-of-band channel")
        elif delay > max_notification:
            problems.append(f"downtime notified after {format_duration(delay)}, over "
                            f"{format_duration(max_notification)}")
    measured = ("never" if degraded is None else format_duration(degraded)) + (
        f", notified after {format_duration(delay)}" if delay is not None else ", not notified")
    if problems:
        return Verdict(name, "time_to_degraded", Outcome.FAIL, "; ".join(problems), measured, bound, evidence)
    return Verdict(name, "time_to_degraded", Outcome.PASS, f"downtime mode {measured} after {fault_label}",
                   measured, bound, evidence)


def check_staleness(name: str, requests: Requests, max_age: float) -> Verdict:
    bound = f"every downtime answer dated, <= {format_duration(max_age)} old"
    downtime = request_table(requests).filter(pl.col("ok") & (pl.col("mode") == DOWNTIME)).select(
        "t", "as_of", served_by=pl.col("served_by").cast(pl.String),
        operation_name=pl.col("operation").cast(pl.String)).with_columns(age=pl.col("t") - pl.col("as_of")).collect()
    evidence: dict[str, Any] = {"downtime_answers": downtime.height, "max_age": max_age}
    if not downtime.height:
        return Verdict(name, "staleness", Outcome.UNKNOWN, "no answer was served in downtime mode", "", bound,
                       evidence)
    undated = downtime.filter(pl.col("as_of").is_null())
    stale = downtime.filter(pl.col("age") > max_age).sort("age", descending=True)
    oldest = downtime.get_column("age").max()
    evidence.update({
        "undated": undated.height, "stale": stale.height, "oldest": oldest,
        "undated_examples": undated.head(EXAMPLES).select("t", "operation_name", "served_by").to_dicts(),
        "stale_examples": stale.head(EXAMPLES).select("t", "as_of", "age", "operation_name", "served_by").to_dicts(),
    })
    measured = f"{downtime.height} downtime answers, oldest data {format_duration(float(oldest or 0))}"  # type: ignore[arg-type]
    problems = []
    if undated.height:
        problems.append(f"{undated.height} downtime answer(s) without their data time (hidden gap)")
    if stale.height:
        problems.append(f"{stale.height} downtime answer(s) with data older than {format_duration(max_age)}")
    if problems:
        return Verdict(name, "staleness", Outcome.FAIL, "; ".join(problems), measured, bound, evidence)
    return Verdict(name, "staleness", Outcome.PASS, "every downtime answer dated and fresh enough", measured, bound,
                   evidence)


def _queued_orders(requests: Requests) -> pl.LazyFrame:
    return request_table(requests).filter(pl.col("ok") & pl.col("downtime_id").is_not_null()
                                          & pl.col("write_key").is_not_null())


def check_downtime_orders(name: str, requests: Requests, readback: pl.LazyFrame | None,
                          authored_tolerance: float) -> Verdict:
    bound = "each queued order in the EHR exactly once, authored time kept, flagged"
    queued = _queued_orders(requests).select("t", "write_key", "downtime_id", "patient").collect()
    evidence: dict[str, Any] = {"queued": queued.height}
    if readback is None:
        return Verdict(name, "downtime_orders", Outcome.UNKNOWN, "the run has no read-back of its writes", "", bound,
                       evidence)
    if not queued.height:
        return Verdict(name, "downtime_orders", Outcome.UNKNOWN, "no order was queued in downtime mode", "", bound,
                       evidence)
    found = readback.join(queued.lazy().select("write_key").unique(), left_on="key", right_on="write_key",
                          how="semi").collect()
    by_key: dict[str, list[dict[str, Any]]] = {}
    unread: set[str] = set()
    for row in found.iter_rows(named=True):
        if row["error"] is not None:
            unread.add(row["key"])
        elif row["id"] is not None:
            by_key.setdefault(row["key"], []).append(row)
    problems: dict[str, list[dict[str, Any]]] = {"lost": [], "duplicated": [], "authored_changed": [],
                                                  "not_flagged": []}
    read_keys = set(found.get_column("key").to_list())
    indeterminate = []
    for order in queued.iter_rows(named=True):
        key = order["write_key"]
        if key in unread or key not in read_keys:
            indeterminate.append(order["downtime_id"])
            continue
        copies = by_key.get(key, [])
        entry = {"downtime_id": order["downtime_id"], "patient": order["patient"], "t": order["t"]}
        if not copies:
            problems["lost"].append(entry)
            continue
        if len(copies) > 1:
            problems["duplicated"].append({**entry, "ids": sorted(c["id"] for c in copies)})
        for copy in copies:
            authored = iso_epoch(copy["authored"])
            registration = key.startswith("Patient?")  # a patient has no authored time to keep
            if not registration and (authored is None or abs(authored - order["t"]) > authored_tolerance):
                problems["authored_changed"].append({**entry, "id": copy["id"], "authored": copy["authored"]})
            if copy["downtime"] is not True:
                problems["not_flagged"].append({**entry, "id": copy["id"]})
    evidence.update({f"{k}_count": len(v) for k, v in problems.items()})
    evidence.update({k: v[:EXAMPLES] for k, v in problems.items()})
    evidence["indeterminate"] = indeterminate[:EXAMPLES]
    evidence["indeterminate_count"] = len(indeterminate)
    counts = {k: len(v) for k, v in problems.items()}
    measured = (f"{queued.height} queued: {counts['lost']} lost, {counts['duplicated']} duplicated, "
                f"{counts['authored_changed']} authored time changed, {counts['not_flagged']} not flagged")
    failed = [f"{len(v)} {k.replace('_', ' ')}, e.g. {', '.join(e['downtime_id'] for e in v[:3])}"
              for k, v in problems.items() if v]
    if failed:
        return Verdict(name, "downtime_orders", Outcome.FAIL, "; ".join(failed), measured, bound, evidence)
    if len(indeterminate) == queued.height:
        return Verdict(name, "downtime_orders", Outcome.UNKNOWN, "no queued order could be read back", measured,
                       bound, evidence)
    return Verdict(name, "downtime_orders", Outcome.PASS, f"{queued.height - len(indeterminate)} queued order(s) "
                   "reconciled exactly once, authored times kept", measured, bound, evidence)


def check_patient_identity(name: str, requests: Requests, readback: pl.LazyFrame | None) -> Verdict:
    """Orders on the patient they were entered for -- for a patient registered in downtime, the
    permanent patient its registration became --, every printed page stamped, no downtime id
    given twice, no two registrations merged into one patient."""
    bound = "no order on another patient, every page stamped, no id given twice or merged"
    table = request_table(requests)
    writes = table.filter(pl.col("ok") & pl.col("write_key").is_not_null() & pl.col("patient").is_not_null()).select(
        "t", "write_key", "patient", "downtime_id").collect()
    is_registration = pl.col("write_key").str.starts_with("Patient?")
    registrations, orders = writes.filter(is_registration), writes.filter(~is_registration)
    unstamped = table.filter(pl.col("error") == "identity-missing").select(
        "t", "patient", operation=pl.col("operation").cast(pl.String)).collect()
    documents = table.filter(pl.col("operation").cast(pl.String).str.contains("documents")).select(pl.len()) \
        .collect().item()
    reused = (writes.filter(pl.col("downtime_id").is_not_null()).group_by("downtime_id")
              .agg(keys=pl.col("write_key").unique()).filter(pl.col("keys").list.len() > 1))
    evidence: dict[str, Any] = {"orders": orders.height, "registrations": registrations.height,
                                "documents": documents}
    wrong: list[dict[str, Any]] = []
    merged: list[dict[str, Any]] = []
    if readback is not None and writes.height:
        found = readback.join(writes.lazy().select("write_key", "patient").unique("write_key"), left_on="key",
                              right_on="write_key").filter(pl.col("id").is_not_null()).collect()
        # what each registration became: the patient found under its key (one, else not judged)
        became: dict[str, str] = {}
        patients_of: dict[str, list[str]] = {}
        for row in found.filter(pl.col("key").str.starts_with("Patient?")).iter_rows(named=True):
            became[row["patient"]] = f"Patient/{row['id']}"
            patients_of.setdefault(row["id"], []).append(row["key"])
        merged = [{"patient": f"Patient/{pid}", "registrations": sorted(set(keys))}
                  for pid, keys in patients_of.items() if len(set(keys)) > 1]
        for row in found.filter(~pl.col("key").str.starts_with("Patient?")).iter_rows(named=True):
            expected = became.get(row["patient"], f"Patient/{row['patient']}")
            subject = row["subject"]
            if subject is not None and subject != expected:
                wrong.append({"key": row["key"], "id": row["id"], "entered_for": row["patient"],
                              "expected": expected, "found_on": subject})
    evidence.update({"wrong_patient_count": len(wrong), "wrong_patient": wrong[:EXAMPLES],
                     "unstamped_count": unstamped.height, "unstamped": unstamped.head(EXAMPLES).to_dicts(),
                     "reused_downtime_ids": reused.head(EXAMPLES).to_dicts(),
                     "merged_registrations": merged[:EXAMPLES]})
    if not writes.height and not documents:
        return Verdict(name, "patient_identity", Outcome.UNKNOWN, "no order and no document to judge", "", bound,
                       evidence)
    measured = (f"{orders.height} orders, {registrations.height} registrations, {documents} documents: "
                f"{len(wrong)} on another patient, {unstamped.height} unstamped, {reused.height} ids reused, "
                f"{len(merged)} merged")
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} order(s) on another patient than entered, e.g. {wrong[0]['id']}")
    if unstamped.height:
        problems.append(f"{unstamped.height} document(s) without the patient's identity on every page")
    if reused.height:
        problems.append(f"{reused.height} downtime identifier(s) given to two writes")
    if merged:
        problems.append(f"{len(merged)} patient(s) made of two registrations, e.g. {merged[0]['patient']}")
    if problems:
        return Verdict(name, "patient_identity", Outcome.FAIL, "; ".join(problems), measured, bound, evidence)
    if readback is None and writes.height:
        return Verdict(name, "patient_identity", Outcome.UNKNOWN, "the run has no read-back of its orders", measured,
                       bound, evidence)
    return Verdict(name, "patient_identity", Outcome.PASS, "every order and document on its own patient", measured,
                   bound, evidence)


def check_lab_turnaround(name: str, requests: Requests, readback: pl.LazyFrame | None, baseline: Window | None,
                         outage: Window | None, max_ratio: float | None) -> Verdict:
    """Time from sending a result to its arrival in the EHR: median (and p95) of the results
    sent during ``outage`` (the fault) over those sent during ``baseline`` (the steady state).

    A baseline result still undelivered when the outage began waited for the fault, not for the
    steady state: it is left out of the baseline (counted as ``baseline_in_flight_at_fault``)."""
    bound = f"median ratio <= {max_ratio:g}" if max_ratio is not None else "reported"
    evidence: dict[str, Any] = {"max_ratio": max_ratio}
    if readback is None:
        return Verdict(name, "lab_turnaround", Outcome.UNKNOWN, "the run has no read-back of its results", "", bound,
                       evidence)
    sent = request_table(requests).filter(pl.col("ok") & pl.col("message_id").is_not_null()
                                          & pl.col("write_key").is_not_null()).select("t", "write_key")
    arrived = readback.filter(pl.col("updated").is_not_null()).group_by("key").agg(
        updated=pl.col("updated").min())
    rows = sent.join(arrived, left_on="write_key", right_on="key").collect()
    stats: dict[str, dict[str, float | int | None]] = {}
    caught_at = outage.start if outage is not None else float("inf")
    in_flight = 0
    for label, window in (("baseline", baseline), ("outage", outage)):
        times: list[float] = []
        for row in rows.iter_rows(named=True):
            arrival = iso_epoch(row["updated"])
            if window is None or not window.contains(row["t"]) or arrival is None:
                continue
            if label == "baseline" and arrival >= caught_at:
                in_flight += 1
                continue
            times.append(arrival - row["t"])
        times.sort()
        stats[label] = {"results": len(times), "median": percentile(times, 0.5) if times else None,
                        "p95": percentile(times, 0.95) if times else None}
    evidence.update(stats)
    evidence["baseline_in_flight_at_fault"] = in_flight
    base, out = stats["baseline"], stats["outage"]
    if base["median"] is None or out["median"] is None:
        missing = [label for label, values in stats.items() if values["median"] is None]
        return Verdict(name, "lab_turnaround", Outcome.UNKNOWN,
                       f"no result sent and read back in the {' and '.join(missing)}", "", bound, evidence)
    ratio = _ratio(out["median"], base["median"])
    p95_ratio = _ratio(out["p95"], base["p95"])
    evidence.update({"ratio": ratio, "p95_ratio": p95_ratio})
    measured = (f"median x{ratio:.1f} ({format_duration(float(out['median']))} vs "
                f"{format_duration(float(base['median']))}), p95 x{p95_ratio:.1f}")
    if max_ratio is not None and ratio > max_ratio:
        return Verdict(name, "lab_turnaround", Outcome.FAIL,
                       f"results took {ratio:.1f} times longer to reach the EHR during the outage", measured, bound,
                       evidence)
    return Verdict(name, "lab_turnaround", Outcome.PASS, f"during the outage: {measured}", measured, bound, evidence)


def _ratio(outage: float | int | None, baseline: float | int | None) -> float:
    if outage is None or baseline is None:
        return float("nan")
    return float(outage) / float(baseline) if baseline > 0 else float("inf")

