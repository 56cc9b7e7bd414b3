"""The application's mode (normal / downtime): when it changes, and the stamp every answer carries.

Rule: the application enters downtime mode when the EHR's circuit breaker *opens* (the
breaker's detection rule: ``breaker_failures`` failures within ``breaker_window``), and leaves
it when the EHR's breaker *closes* again (a half-open probe succeeded). Other dependencies'
breakers never change the mode: their sections degrade on their own (:mod:`.views`).

Entering downtime: the snapshot is re-read from disk (that is what a workstation falls back
on: a corrupt or missing file is found now, and reported on every screen), pinned as the
downtime baseline (for the schedule diff after recovery), a ``downtime`` notification is put
in the outbox, and ``downtime-entered`` is logged. Leaving: a ``restored`` notification,
``downtime-left`` logged, and :attr:`DowntimeController.restored` is set (reconciliation and a
snapshot refresh follow -- :mod:`.app`). With ``downtime_mode`` off the breaker still opens
and closes (logged) but the mode never changes: the misconfigured application.

:class:`Stamp` is the per-answer view of the mode, captured once per request so headers and
body agree: ``X-Care-Mode: normal|downtime``; in downtime ``X-Snapshot-As-Of: <epoch s>``
(or ``X-Snapshot-State: missing|corrupt`` when there is no usable snapshot) and
``X-Snapshot-Stale: true`` past ``max_snapshot_age``; the JSON body's ``mode`` and ``as_of`` (and
in downtime ``snapshot_stale``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mock_services.care.breaker import State, Transition
from mock_services.care.config import Config
from mock_services.care.notify import Notifier
from mock_services.care.snapshot import SnapshotStore
from mock_services.common.eventlog import log_event


class Mode(StrEnum):
    NORMAL = "normal"
    DOWNTIME = "downtime"


@dataclass(frozen=True)
class Stamp:
    """What one answer says about the mode and the data's age."""

    mode: Mode
    as_of: float | None
    snapshot_state: str
    stale: bool

    def headers(self) -> dict[str, str]:
        headers = {"X-Care-Mode": self.mode.value}
        if self.mode is Mode.DOWNTIME:
            if self.as_of is not None:
                headers["X-Snapshot-As-Of"] = repr(self.as_of)  # round-trips: equals the body's as_of
            else:
                headers["X-Snapshot-State"] = self.snapshot_state
            if self.stale:
                headers["X-Snapshot-Stale"] = "true"
        return headers

    def fields(self) -> dict[str, Any]:
        if self.mode is Mode.DOWNTIME:
            return {"mode": self.mode.value, "as_of": self.as_of, "snapshot_stale": self.stale}
        return {"mode": self.mode.value, "as_of": None}


class DowntimeController:
    """Owns the mode; fed breaker transitions by the dependencies (see the module docstring)."""

    def __init__(self, config: Config, snapshots: SnapshotStore, notifier: Notifier) -> None:
        self.config, self.snapshots, self.notifier = config, snapshots, notifier
        self.mode = Mode.NORMAL
        self.since = time.time()
        self.reason = "started"
        self.restored = asyncio.Event()
        self.history: deque[dict[str, Any]] = deque(maxlen=50)

    def stamp(self) -> Stamp:
        current = self.snapshots.current
        if current is None:
            state = self.snapshots.error.state if self.snapshots.error is not None else "missing"
            return Stamp(self.mode, None, state, True)
        stale = time.time() - current.as_of > self.config.max_snapshot_age
        return Stamp(self.mode, current.as_of, "ok", stale)

    def on_transition(self, transition: Transition) -> None:
        if transition.after is not State.HALF_OPEN:
            level = logging.WARNING if transition.after is State.OPEN else logging.INFO
            log_event(f"breaker-{transition.after.value}", level=level, dependency=transition.name,
                      detail=transition.reason)  # fmt: skip
        if transition.name != "ehr":
            return
        if transition.after is State.OPEN and self.mode is Mode.NORMAL and self.config.downtime_mode:
            self.enter(transition.reason)
        elif transition.after is State.CLOSED and self.mode is Mode.DOWNTIME:
            self.leave(transition.reason)

    def enter(self, reason: str) -> None:
        now = time.time()
        self.mode, self.since, self.reason = Mode.DOWNTIME, now, reason
        self.restored.clear()
        snapshot = self.snapshots.load()
        if snapshot is not None:
            try:
                self.snapshots.pin()
            except OSError as error:
                log_event("snapshot-pin-failed", level=logging.WARNING, detail=str(error))
        as_of = None if snapshot is None else snapshot.as_of
        state = "ok" if snapshot is not None else (self.snapshots.error.state if self.snapshots.error else "missing")
        self.history.append({"event": "downtime", "t": now, "reason": reason, "snapshot_as_of": as_of})
        log_event("downtime-entered", level=logging.WARNING, reason=reason, snapshot_as_of=as_of or "-",
                  snapshot=state)  # fmt: skip
        self.notifier.publish("downtime", reason, at=now, snapshot_as_of=as_of, snapshot_state=state)

    def leave(self, reason: str) -> None:
        now = time.time()
        lasted = now - self.since
        self.mode, self.since, self.reason = Mode.NORMAL, now, reason
        self.history.append({"event": "restored", "t": now, "reason": reason, "lasted": round(lasted, 3)})
        log_event("downtime-left", reason=reason, lasted=round(lasted, 3))
        self.notifier.publish("restored", reason, at=now, lasted=round(lasted, 3))
        self.restored.set()

    def status(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "since": self.since, "reason": self.reason,
                "downtime_enabled": self.config.downtime_mode, "history": list(self.history)}  # fmt: skip
