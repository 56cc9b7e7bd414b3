"""Taking a downtime snapshot: what goes in, how it is bounded, when it is kept or thrown away.

A refresh (every ``snapshot_interval`` while the EHR is up -- see :mod:`.app`):

1. notes the start time: that is the snapshot's ``as_of`` (conservative: a result issued
   during the fetch may or may not be in, so the snapshot claims nothing after its start);
2. reads the census (:meth:`.fetch.Reader.census`) and picks patients: the in-progress
   encounters of the configured wards (every ward when none is configured), ward by ward,
   then the patients clinicians opened recently -- at most ``max_patients`` in all;
3. reads each patient's chart parts, :data:`CONCURRENCY` at a time;
4. reads the schedules (the change-feed mirror);
5. writes the file atomically (:mod:`.snapshot`).

If the EHR fails anywhere in steps 2-3 the refresh is abandoned and the previous snapshot
stays in force (logged ``snapshot-failed``). A lab portal, imaging archive or scheduling
outage does not abandon it: that section is stored as ``unavailable`` with the reason.
Logged: ``snapshot-refreshed`` with patients, wards, bytes and the seconds it took.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from mock_services.care.config import Config
from mock_services.care.dependencies import Dependency, DependencyError, NotFound
from mock_services.care.fetch import Reader, ScheduleMirror
from mock_services.care.snapshot import FORMAT, SnapshotStore
from mock_services.common.eventlog import log_event

CONCURRENCY = 8
RECENT_PATIENTS = 1000


class RecentPatients:
    """Patients whose chart was opened lately (most recent last), bounded: they go into the snapshot too."""

    def __init__(self, size: int = RECENT_PATIENTS) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, patient_id: str) -> None:
        self._ids[patient_id] = None
        self._ids.move_to_end(patient_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def newest_first(self) -> list[str]:
        return list(reversed(self._ids))


def choose_patients(
    census: dict[str, list[str]], wards: tuple[str, ...], recent: list[str], limit: int
) -> tuple[dict[str, list[str]], list[str]]:
    """(ward -> chosen ids, every chosen id in order): configured wards' patients first, then recent ones."""
    chosen: dict[str, None] = {}
    kept: dict[str, list[str]] = {}
    for ward in wards or tuple(census):
        kept[ward] = []
        for patient in census.get(ward, []):
            if len(chosen) >= limit:
                break
            chosen.setdefault(patient)
            kept[ward].append(patient)
    for patient in recent:
        if len(chosen) >= limit:
            break
        chosen.setdefault(patient)
    return kept, list(chosen)


class Snapshotter:
    """Builds snapshots from the dependencies into a :class:`SnapshotStore`."""

    def __init__(
        self, config: Config, deps: dict[str, Dependency], store: SnapshotStore, mirror: ScheduleMirror,
        recent: RecentPatients,
    ) -> None:  # fmt: skip
        self.config, self.deps, self.store, self.mirror, self.recent = config, deps, store, mirror, recent
        self.reader = Reader(deps)
        self._lock = asyncio.Lock()

    async def collect(self) -> dict[str, Any]:
        """The body of a new snapshot; raises DependencyError when the EHR fails."""
        started = time.time()
        census = await self.reader.census()
        by_ward = {ward: [entry.patient for entry in entries] for ward, entries in census.items()}
        since = {entry.patient: (ward, entry.since) for ward, entries in census.items() for entry in entries}
        wards, patients = choose_patients(by_ward, self.config.wards, self.recent.newest_first(),
                                          self.config.max_patients)  # fmt: skip
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(patient_id: str) -> tuple[str, dict[str, Any] | None]:
            async with gate:
                try:
                    parts = await self.reader.chart_parts(patient_id)
                except NotFound:
                    return patient_id, None  # gone from the EHR: nothing to keep
            ward, encounter_since = since.get(patient_id, (None, None))
            return patient_id, {"ward": ward, "encounter_since": encounter_since, **parts}

        fetched = await asyncio.gather(*(one(p) for p in patients))
        charts = {patient_id: parts for patient_id, parts in fetched if parts is not None}
        return {
            "format": FORMAT,
            "source": self.config.name,
            "as_of": started,
            "finished": time.time(),
            "took": round(time.time() - started, 3),
            "wards": {ward: [p for p in ids if p in charts] for ward, ids in wards.items()},
            "patients": charts,
            "schedules": await self.schedules(),
        }

    async def schedules(self) -> dict[str, Any]:
        scheduling = self.deps.get("scheduling")
        if scheduling is None:
            return {"status": "not-configured", "detail": "no scheduling service is configured (--scheduling-url)",
                    "until": None, "documents": []}  # fmt: skip
        try:
            await self.mirror.refresh(scheduling)
        except DependencyError as error:
            return {"status": "unavailable", "detail": str(error), "until": None, "documents": []}
        return {"status": "ok", "detail": None, "until": self.mirror.until,
                "documents": list(self.mirror.documents.values())}  # fmt: skip

    async def refresh(self) -> bool:
        """Take and store one snapshot; False (previous one kept, reason logged) when it fails."""
        async with self._lock:  # a manual refresh and the periodic one never interleave
            started = time.time()
            try:
                body = await self.collect()
                size = await asyncio.to_thread(self.store.replace, body)
            except (DependencyError, OSError) as error:
                self.store.last_refresh = {"outcome": "failed", "at": started, "detail": str(error)}
                log_event("snapshot-failed", level=logging.WARNING, detail=str(error), kept_as_of=self._kept())
                return False
            self.store.last_refresh = {"outcome": "ok", "at": started, "took": body["took"], "bytes": size}
            log_event("snapshot-refreshed", patients=len(body["patients"]), wards=len(body["wards"]), bytes=size,
                      took=body["took"], schedules=body["schedules"]["status"])  # fmt: skip
            return True

    def _kept(self) -> str:
        current = self.store.current
        return "none" if current is None else f"{current.as_of:.3f}"
