"""Recovery: replaying the downtime queue into the EHR exactly once.

A run (after downtime ends, and whenever entries wait while the EHR is up) goes through the
``queued`` entries in queue order, registrations first:

1. *Registrations* -> ``Patient``, created with ``If-None-Exist: identifier=<downtime patient
   system>|<DT id>,<registration system>|<key>``. The answer's id is the permanent id; the
   downtime id -> permanent id map is the reconciled registrations (kept in the queue).
2. *Orders* -> their resource with ``subject`` rewritten from a downtime patient id to the
   permanent one (an order whose registration has not been reconciled yet waits; one whose
   registration failed fails too, naming it), created with ``If-None-Exist:
   identifier=<downtime order system>|<DT id>,<order system>|<order key>``.

Every replayed resource keeps ``authoredOn`` as the clinician wrote it, carries the downtime id
as an identifier and ``meta.tag`` ``urn:hchaos:care|downtime``.

*Exactly once*: the conditional create is the whole trick. If the application dies after the
EHR committed a create but before the entry was marked, the next run's conditional create
finds the resource (200) and marks the entry ``reconciled`` with ``existed: true`` -- one
resource, never two. The order's own key is in the condition too, so an order that reached the
EHR live just before the outage (its answer lost) and was then queued again is not duplicated.

Outcomes per entry: created or found -> ``reconciled``; the EHR refuses it (4xx, e.g. an
unsupported resource type) -> ``failed`` with the EHR's words, kept for a human; the EHR is
unreachable again -> the entry stays ``queued`` and the run stops (``interrupted``). Logged:
``reconciliation-done`` / ``reconciliation-interrupted`` with the counts.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any
from urllib.parse import urlencode

from mock_services.care.dependencies import Dependency, DependencyError, Unavailable
from mock_services.care.identifiers import (
    DOWNTIME_ORDER_SYSTEM,
    DOWNTIME_PATIENT_SYSTEM,
    DOWNTIME_TAG,
    ORDER_SYSTEM,
    REGISTRATION_SYSTEM,
    is_downtime_patient,
    token,
)
from mock_services.care.queue import FAILED, QUEUED, Entry, Queue
from mock_services.common.eventlog import log_event


class Waiting(Exception):
    """The entry cannot be replayed yet (its patient's registration is still queued)."""


def replay_resource(entry: Entry, patient_map: dict[str, str], prefix: str) -> tuple[dict[str, Any], str]:
    """(the resource to create, its If-None-Exist condition) for a queued entry; raises Waiting."""
    resource = copy.deepcopy(entry.resource)
    registration = entry.kind == "registration"
    system = DOWNTIME_PATIENT_SYSTEM if registration else DOWNTIME_ORDER_SYSTEM
    resource["identifier"] = [*resource.get("identifier", []), {"system": system, "value": entry.downtime_id}]
    meta = resource.setdefault("meta", {})
    meta["tag"] = [*meta.get("tag", []), DOWNTIME_TAG]
    if not registration and is_downtime_patient(prefix, entry.patient):
        permanent = patient_map.get(entry.patient)
        if permanent is None:
            raise Waiting(f"waiting for the registration of {entry.patient}")
        resource["subject"] = {"reference": f"Patient/{permanent}"}
    key_system = REGISTRATION_SYSTEM if registration else ORDER_SYSTEM
    tokens = [token(system, entry.downtime_id)]
    if entry.client_key is not None:
        tokens.append(token(key_system, entry.client_key))
    return resource, urlencode({"identifier": ",".join(tokens)})


class Reconciler:
    """Runs reconciliation against the EHR; one run at a time; :attr:`progress` is served as JSON."""

    def __init__(self, queue: Queue, ehr: Dependency | None, prefix: str) -> None:
        self.queue, self.ehr, self.prefix = queue, ehr, prefix
        self._lock = asyncio.Lock()
        self.progress: dict[str, Any] = {"state": "idle", "runs": 0}

    @property
    def running(self) -> bool:
        return self._lock.locked()

    async def run(self) -> dict[str, Any]:
        """One pass over the queued entries; returns (and keeps in ``progress``) its summary."""
        async with self._lock:
            counts = {"reconciled": 0, "existed": 0, "failed": 0, "waiting": 0}
            started = time.time()
            self.progress = {"state": "running", "runs": self.progress["runs"] + 1, "started": started, **counts}
            state, detail = "done", None
            try:
                for registrations in (True, False):
                    for entry in self.queue.entries(QUEUED):
                        if (entry.kind == "registration") == registrations:
                            outcome = await self._one(entry)
                            counts[outcome] += 1
                            self.progress.update(counts)
            except Unavailable as error:
                state, detail = "interrupted", str(error)
            finished = time.time()
            pending = self.queue.depth()
            self.progress = {"state": state, "runs": self.progress["runs"], "started": started, "finished": finished,
                             **counts, "pending": pending, "detail": detail}  # fmt: skip
            level = logging.INFO if state == "done" else logging.WARNING
            log_event(f"reconciliation-{state}", level=level, **counts, pending=pending, detail=detail or "-")
            return self.progress

    async def _one(self, entry: Entry) -> str:
        if self.ehr is None:
            raise Unavailable("ehr", "no EHR is configured (--ehr-url): nothing can be reconciled")
        patient_map = self.queue.patient_map()
        try:
            resource, condition = replay_resource(entry, patient_map, self.prefix)
        except Waiting as waiting:
            try:
                registration: Entry | None = self.queue.get(entry.patient)
            except KeyError:
                registration = None
            if registration is None or registration.state == FAILED:
                why = "failed" if registration is not None else "is unknown to this workstation"
                self.queue.mark_failed(entry.downtime_id, f"the registration of {entry.patient} {why}")
                return "failed"
            self.queue.note_attempt(entry.downtime_id, str(waiting))
            return "waiting"
        try:
            status, stored = await self.ehr.fhir_create(resource, condition)
        except Unavailable as error:
            self.queue.note_attempt(entry.downtime_id, str(error))
            raise
        except DependencyError as error:
            self.queue.mark_failed(entry.downtime_id, str(error))
            log_event("reconciliation-refused", level=logging.WARNING, downtime_id=entry.downtime_id, detail=str(error))
            return "failed"
        permanent = f"{stored.get('resourceType', resource['resourceType'])}/{stored['id']}"
        self.queue.mark_reconciled(entry.downtime_id, permanent, existed=status == 200)
        return "existed" if status == 200 else "reconciled"
