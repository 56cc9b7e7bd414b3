"""Reading back, after recovery, what the care application's schedule diff surfaces: for every
schedule the run changed, its ward, and each workstation's ``GET /wards/{ward}/schedule/diff``
(the changes since its downtime snapshot). Written to the run folder
(``schedule-diffs.json``) so the schedule-staleness check stays a pure function of the folder.

Never raises for a service error: a read that failed is recorded with its error, and the check
treats it as indeterminate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

SCHEDULE_DIFFS_FILE = "schedule-diffs.json"
TIMEOUT = 5.0


def read_schedule_diffs(scheduling_url: str, workstation_urls: Mapping[str, str],
                        schedule_ids: Iterable[str]) -> dict[str, Any]:
    """``{"schedules": {id: {"kind", "unit"} | {"error"}}, "diffs": {workstation: {ward: answer |
    {"error"}}}}`` for the schedules ``schedule_ids`` (their wards: the staff rotas' units)."""
    schedules: dict[str, dict[str, Any]] = {}
    diffs: dict[str, dict[str, Any]] = {name: {} for name in workstation_urls}
    with httpx.Client(timeout=TIMEOUT) as client:
        for schedule_id in sorted(set(schedule_ids)):
            schedules[schedule_id] = _get(client, f"{scheduling_url.rstrip('/')}/schedules/{schedule_id}",
                                          keep=("kind", "unit"))
        wards = sorted({str(s["unit"]) for s in schedules.values() if s.get("kind") == "staff" and s.get("unit")})
        for name, url in workstation_urls.items():
            for ward in wards:
                diffs[name][ward] = _get(client, f"{url.rstrip('/')}/wards/{ward}/schedule/diff")
    return {"schedules": schedules, "diffs": diffs}


def _get(client: httpx.Client, url: str, keep: tuple[str, ...] | None = None) -> dict[str, Any]:
    try:
        answer = client.get(url)
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    if answer.status_code != 200 or not isinstance(body, dict):
        detail = body.get("detail") if isinstance(body, dict) else None
        return {"error": f"http-{answer.status_code}" + (f": {detail}" if detail else "")}
    return {k: body.get(k) for k in keep} if keep else body


def write_schedule_diffs(path: Path, diffs: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(diffs, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def load_schedule_diffs(path: Path) -> dict[str, Any] | None:
    """The run's schedule diffs, or ``None`` if it has none. ``ValueError`` names a corrupt file."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object with 'schedules' and 'diffs'")
    return data
