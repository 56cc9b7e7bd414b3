"""What each screen shows, live or from the snapshot -- and never more than it knows.

Sources: in normal mode a screen reads the dependencies live; in downtime mode (or when the
EHR fails and that very failure switched the application to downtime) it reads the snapshot.
Each chart section carries ``source`` (``live`` | ``snapshot``) and ``as_of`` (the snapshot's
time for snapshot data). In normal mode a section whose own dependency is unavailable (lab
portal, imaging) shows the snapshot's copy, ``status: "unavailable"`` and the reason.

A downtime chart says ``results_complete: false`` and ``not_available_after: <as_of>``: results
issued after the snapshot exist nowhere on this workstation, and the screen must not look
complete. Orders written during downtime and not yet reconciled are listed under
``queued_orders`` with their downtime ids.

Schedules come from scheduling in either mode when it answers; when it does not (it is the
single-DC service that comes back last) the ward schedule is the snapshot's copy with
``source: "snapshot"`` and ``snapshot_as_of``. The schedule diff compares scheduling's change
feed with the snapshot pinned when downtime began (``baseline: "downtime"``), else the current one.

Errors are :class:`ScreenError` (status, code word, detail): ``ehr-unavailable`` (503, the EHR
failed and downtime mode is off or not yet entered), ``downtime-snapshot-unavailable`` (503,
downtime without a usable snapshot: missing or corrupt, with why), ``patient-not-found``,
``patient-not-in-snapshot``, ``ward-not-in-snapshot`` (404), ``ehr-bad-answer`` (502),
``schedule-unavailable`` / ``scheduling-unavailable`` (503), ``no-schedule-baseline`` (409: the
diff has no snapshot to compare with -- in normal mode also when none was taken yet).
"""

from __future__ import annotations

from typing import Any

from mock_services.care import schedule
from mock_services.care.chart import demographics
from mock_services.care.context import Care
from mock_services.care.dependencies import BadAnswer, DependencyError, NotFound
from mock_services.care.fetch import section
from mock_services.care.identifiers import is_downtime_patient
from mock_services.care.queue import FAILED, RECONCILED, Entry
from mock_services.care.snapshot import Snapshot

SECTIONS = ("demographics", "allergies", "vitals", "medications", "results", "imaging")


class ScreenError(Exception):
    def __init__(self, status: int, error: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.extra = status, error, detail, extra


def ehr_error(care: Care, error: DependencyError) -> ScreenError:
    if isinstance(error, NotFound):
        return ScreenError(404, "patient-not-found", str(error))
    if isinstance(error, BadAnswer):
        return ScreenError(502, "ehr-bad-answer", str(error))
    hint = "" if care.config.downtime_mode else " (downtime mode is off on this workstation)"
    return ScreenError(503, "ehr-unavailable", f"{error}{hint}")


def snapshot_or_fail(care: Care) -> Snapshot:
    current = care.snapshots.current
    if current is None:
        error = care.snapshots.error
        detail = str(error) if error is not None else "no downtime snapshot has been taken yet"
        raise ScreenError(503, "downtime-snapshot-unavailable", detail,
                          snapshot_state=error.state if error is not None else "missing")  # fmt: skip
    return current


def _from_snapshot(part: dict[str, Any], as_of: float, status: str | None = None, detail: str | None = None
                   ) -> dict[str, Any]:  # fmt: skip
    shown = {**part, "source": "snapshot", "as_of": as_of}
    if status is not None:
        shown["status"], shown["detail"] = status, detail
    return shown


def queued_for(care: Care, *patients: str) -> list[dict[str, Any]]:
    entries: list[Entry] = []
    for patient in patients:
        found = care.queue.entries(patient=patient)
        entries += [e for e in found if e.kind != "registration" and e.state != RECONCILED]
    return [e.to_json() for e in sorted(entries, key=lambda e: e.seq)]


def resolve(care: Care, patient_id: str) -> tuple[str, Entry | None]:
    """(the id to read the EHR/snapshot with, the downtime registration if ``patient_id`` is one of ours)."""
    if not is_downtime_patient(care.config.id_prefix, patient_id):
        return patient_id, None
    try:
        entry = care.queue.get(patient_id)
    except KeyError:
        detail = f"{patient_id} is not a downtime registration of this workstation"
        raise ScreenError(404, "patient-not-found", detail) from None
    if entry.kind != "registration":
        raise ScreenError(404, "patient-not-found", f"{patient_id} is not a patient")
    if entry.state == RECONCILED and entry.permanent_id:
        return entry.permanent_id.removeprefix("Patient/"), entry
    return patient_id, entry


def _registration_chart(care: Care, entry: Entry) -> dict[str, Any]:
    shown = demographics({**entry.resource, "id": entry.downtime_id})
    detail = f"registered during downtime ({entry.state}): no record in the EHR yet"
    sections = {name: section("ok" if entry.state != FAILED else "unavailable", [], detail) for name in SECTIONS}
    sections["demographics"] = section("ok", shown, detail)
    return {"patient_id": entry.downtime_id, "source": "downtime-registration", "results_complete": False,
            "not_available_after": None, "notice": detail, "downtime_registration": entry.to_json(), **sections,
            "queued_orders": queued_for(care, entry.downtime_id)}  # fmt: skip


async def chart(care: Care, patient_id: str) -> dict[str, Any]:
    """The chart body (without the mode stamp): see the module docstring."""
    target, registration = resolve(care, patient_id)
    if registration is not None and registration.state != RECONCILED:
        return _registration_chart(care, registration)
    aliases = (target,) if registration is None else (target, registration.downtime_id)
    if not care.downtime:
        try:
            parts = await care.reader.chart_parts(target)
        except DependencyError as error:
            if not care.downtime or error.dependency != "ehr" or isinstance(error, NotFound | BadAnswer):
                raise ehr_error(care, error) from None
        else:
            care.recent.seen(target)
            return _live_chart(care, target, parts, aliases)
    return _snapshot_chart(care, target, aliases)


def _live_chart(care: Care, patient_id: str, parts: dict[str, Any], aliases: tuple[str, ...]) -> dict[str, Any]:
    current = care.snapshots.current
    kept = current.patient(patient_id) if current is not None else None
    shown: dict[str, Any] = {}
    for name in SECTIONS:
        part = parts[name]
        if part["status"] == "unavailable" and kept is not None and current is not None and name in kept:
            shown[name] = _from_snapshot(kept[name], current.as_of, "unavailable", part["detail"])
        else:
            shown[name] = {**part, "source": "live", "as_of": None}
    complete = shown["results"]["status"] == "ok" and shown["results"]["source"] == "live"
    return {"patient_id": patient_id, "source": "live", "results_complete": complete, "not_available_after": None,
            "notice": None, **shown, "queued_orders": queued_for(care, *aliases)}  # fmt: skip


def _snapshot_chart(care: Care, patient_id: str, aliases: tuple[str, ...]) -> dict[str, Any]:
    snapshot = snapshot_or_fail(care)
    kept = snapshot.patient(patient_id)
    if kept is None:
        held = len(snapshot.body["patients"])
        detail = (f"patient {patient_id} is not in the downtime snapshot of {snapshot.as_of:.3f} "
                  f"({held} patients: the wards' census and recently opened charts)")  # fmt: skip
        raise ScreenError(404, "patient-not-in-snapshot", detail)
    as_of = snapshot.as_of
    notice = (f"DOWNTIME: read-only chart as of {as_of:.3f} (epoch s); results issued after that time are not "
              "available here, this chart may be incomplete")  # fmt: skip
    shown = {name: _from_snapshot(kept[name], as_of) for name in SECTIONS}
    shown["results"] = {**shown["results"], "complete": False, "not_available_after": as_of}
    return {
        "patient_id": patient_id, "source": "snapshot", "results_complete": False, "not_available_after": as_of,
        "notice": notice, "ward": kept.get("ward"), **shown, "queued_orders": queued_for(care, *aliases),
    }  # fmt: skip


# -- wards -----------------------------------------------------------------------------------


async def _live_census(care: Care) -> dict[str, list[str]] | None:
    """Live ward -> patient ids, or None when the snapshot must answer (downtime)."""
    if care.downtime:
        return None
    try:
        census = await care.reader.census()
    except DependencyError as error:
        if care.downtime and error.dependency == "ehr" and not isinstance(error, NotFound | BadAnswer):
            return None
        raise ehr_error(care, error) from None
    return {ward: [entry.patient for entry in entries] for ward, entries in census.items()}


async def wards(care: Care) -> dict[str, Any]:
    census = await _live_census(care)
    if census is not None:
        rows = [{"ward": ward, "patients": len(ids)} for ward, ids in census.items()]
        return {"source": "live", "wards": rows}
    snapshot = snapshot_or_fail(care)
    rows = [{"ward": ward, "patients": len(ids)} for ward, ids in sorted(snapshot.wards.items())]
    return {"source": "snapshot", "snapshot_as_of": snapshot.as_of, "wards": rows}


async def ward_patients(care: Care, ward: str) -> dict[str, Any]:
    """The ward's patients with name, birth date, gender (``demographics``: id -> dict)."""
    census = await _live_census(care)
    if census is not None:
        ids = census.get(ward, [])
        try:
            found = await care.reader.demographics(ids)
        except DependencyError as error:
            raise ehr_error(care, error) from None
        rows = [found.get(p) or {"id": p, "name": None} for p in ids]
        return {"source": "live", "ward": ward, "patients": rows}
    snapshot = snapshot_or_fail(care)
    if ward not in snapshot.wards:
        known = ", ".join(sorted(snapshot.wards)) or "none"
        detail = f"ward {ward!r} is not in the downtime snapshot (wards: {known})"
        raise ScreenError(404, "ward-not-in-snapshot", detail)
    rows = []
    for patient_id in snapshot.wards[ward]:
        kept = snapshot.patient(patient_id) or {}
        rows.append((kept.get("demographics") or {}).get("items") or {"id": patient_id, "name": None})
    return {"source": "snapshot", "snapshot_as_of": snapshot.as_of, "ward": ward, "patients": rows}


# -- schedules -------------------------------------------------------------------------------


async def _ward_demographics(care: Care, ward: str) -> dict[str, dict[str, Any] | None]:
    """The ward's patients -> demographics, live when possible, else from the snapshot, else empty."""
    try:
        listed = await ward_patients(care, ward)
    except ScreenError:
        return {}
    return {str(p.get("id")): p for p in listed["patients"]}


async def ward_schedule(care: Care, ward: str) -> dict[str, Any]:
    """Live from scheduling; when it is unavailable, the snapshot's copy with its time (any mode)."""
    patients = await _ward_demographics(care, ward)
    scheduling = care.deps.get("scheduling")
    if scheduling is None:
        detail = "no scheduling service is configured (--scheduling-url)"
        return {"status": "not-configured", "detail": detail, "source": None, "ward": ward,
                **schedule.ward_view([], ward, patients)}  # fmt: skip
    try:  # in either mode: scheduling is its own service, and the freshest schedule is the safest
        await care.mirror.refresh(scheduling)
    except DependencyError as error:
        detail = str(error)
    else:
        view = schedule.ward_view(list(care.mirror.documents.values()), ward, patients)
        return {"status": "ok", "detail": None, "source": "live", "ward": ward, **view}
    snapshot = care.snapshots.current
    if snapshot is None or snapshot.schedules.get("status") != "ok":
        why = "no usable snapshot"
        if snapshot is not None:
            why = f"the snapshot has no schedules ({snapshot.schedules.get('detail')})"
        raise ScreenError(503, "schedule-unavailable", f"{detail}; {why}")
    view = schedule.ward_view(snapshot.schedules["documents"], ward, patients)
    return {"status": "unavailable", "detail": detail, "source": "snapshot",
            "snapshot_as_of": snapshot.as_of, "ward": ward, **view}  # fmt: skip


async def schedule_diff(care: Care, ward: str) -> dict[str, Any]:
    """What changed since the downtime snapshot (the pinned one; else the current one)."""
    baseline, which = care.snapshots.pinned, "downtime"
    if baseline is None and care.snapshots.current is None and not care.downtime:
        # Nothing is down: there is just no baseline yet (the first refresh failed). Not a 5xx.
        raise ScreenError(409, "no-schedule-baseline", "no snapshot has been taken yet: nothing to compare the "
                                                       "schedules with (see /downtime/status)")  # fmt: skip
    if baseline is None:
        baseline, which = snapshot_or_fail(care), "current"
    since = baseline.schedules.get("until")
    if baseline.schedules.get("status") != "ok" or not since:
        raise ScreenError(409, "no-schedule-baseline", f"the {which} snapshot of {baseline.as_of:.3f} holds no "
                                                       "schedules to compare with")  # fmt: skip
    scheduling = care.deps.get("scheduling")
    if scheduling is None:
        raise ScreenError(503, "scheduling-not-configured", "no scheduling service is configured (--scheduling-url)")
    try:
        answer = await scheduling.get_json("schedules/changes", {"since": since})
    except DependencyError as error:
        raise ScreenError(503, "scheduling-unavailable", f"the schedule diff needs scheduling: {error}") from None
    changed = [d for d in (answer or {}).get("schedules") or [] if isinstance(d, dict) and isinstance(d.get("id"), str)]
    patients = set(await _ward_demographics(care, ward)) | set(baseline.wards.get(ward, []))
    changes = schedule.diff(baseline.schedules["documents"], changed, ward, patients)
    return {"ward": ward, "baseline": which, "baseline_as_of": baseline.as_of, "since": since,
            "until": (answer or {}).get("until"), "changes": changes}  # fmt: skip
