"""Schedule staleness: after recovery, does the care application surface every schedule change
made after the snapshot its clinicians worked from during downtime?

At AP-HP in 2024 the pre-printed OR and scanner schedules were stale. Here the ground truth is
the run's own schedule writes (the scheduler's acknowledged slot updates: ``Schedule/<id>`` at
a version), and what is judged is each workstation's schedule diff read back after recovery
(:mod:`harness.readback.schedules`): for the ward of every staff rota written after the diff's
baseline (scheduling's latest write when the downtime snapshot was taken), the diff must list
that rota at that version or later. A write that started before the baseline's time is not
expected (it may be in the snapshot itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from harness.checks.ledger_tables import version_number
from harness.checks.verdict import Outcome, Verdict
from harness.checks.windows import Requests, iso_epoch, request_table

EXAMPLES = 20
SCHEDULE_PREFIX = "Schedule/"


def check_schedule_staleness(name: str, requests: Requests, diffs: Mapping[str, Any] | None) -> Verdict:
    bound = "every schedule change since the downtime snapshot surfaced"
    if diffs is None:
        return Verdict(name, "schedule_staleness", Outcome.UNKNOWN, "the run has no read-back of the schedule diffs",
                       "", bound, {})
    writes = (request_table(requests)
              .filter(pl.col("ok") & pl.col("resource_id").cast(pl.String).str.starts_with(SCHEDULE_PREFIX)
                      & pl.col("version").is_not_null())
              .select("t", schedule=pl.col("resource_id").cast(pl.String).str.strip_prefix(SCHEDULE_PREFIX),
                      version=version_number("version"))
              .collect())
    schedules: Mapping[str, Any] = diffs.get("schedules") or {}
    expected_total = 0
    missing: list[dict[str, Any]] = []
    unreadable: list[str] = []
    baselines: dict[str, dict[str, Any]] = {}
    for workstation, wards in (diffs.get("diffs") or {}).items():
        for ward, answer in wards.items():
            if "error" in answer:
                unreadable.append(f"{workstation} {ward}: {answer['error']}")
                continue
            since = iso_epoch(answer.get("since"))
            baselines.setdefault(workstation, {"baseline": answer.get("baseline"),
                                               "baseline_as_of": answer.get("baseline_as_of"), "since": since})
            surfaced = {str(c.get("schedule_id")): int(c.get("current_version") or 0)
                        for c in answer.get("changes") or []}
            for row in writes.iter_rows(named=True):
                schedule = schedules.get(row["schedule"]) or {}
                if schedule.get("kind") != "staff" or schedule.get("unit") != ward or since is None \
                        or row["t"] <= since or row["version"] is None:
                    continue
                expected_total += 1
                if surfaced.get(row["schedule"], -1) < row["version"]:
                    missing.append({"workstation": workstation, "ward": ward, "schedule": row["schedule"],
                                    "version": row["version"], "written_at": row["t"],
                                    "surfaced_version": surfaced.get(row["schedule"])})
    evidence: dict[str, Any] = {"writes": writes.height, "expected": expected_total, "missing_count": len(missing),
                                "missing": missing[:EXAMPLES], "unreadable": unreadable[:EXAMPLES],
                                "baselines": baselines}
    not_downtime = sorted(w for w, b in baselines.items() if b["baseline"] != "downtime")
    if not_downtime:
        evidence["without_downtime_baseline"] = not_downtime
    measured = f"{expected_total - len(missing)}/{expected_total} changes surfaced"
    if missing:
        first = missing[0]
        return Verdict(name, "schedule_staleness", Outcome.FAIL,
                       f"{len(missing)} schedule change(s) made after the downtime snapshot not surfaced, e.g. "
                       f"{first['schedule']} v{first['version']} on {first['workstation']}", measured, bound, evidence)
    if not expected_total:
        reason = ("no schedule diff could be read" if unreadable and not baselines
                  else "no schedule change was made after a downtime snapshot")
        return Verdict(name, "schedule_staleness", Outcome.UNKNOWN, reason, measured, bound, evidence)
    return Verdict(name, "schedule_staleness", Outcome.PASS,
                   f"every change since the downtime snapshot surfaced ({expected_total})", measured, bound, evidence)

