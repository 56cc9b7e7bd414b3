"""Out-of-band notifications ("downtime", "restored") through a durable outbox.

:meth:`Notifier.publish` commits the notification to an SQLite outbox (WAL, ``synchronous=FULL``)
and returns at once: the clinician's path never waits on the notification sink, which lives
outside both data centers and may itself be slow. A background task (:meth:`Notifier.run`)
POSTs the outbox to ``notify_url``, oldest first, one at a time (so the sink sees them in
order); an answer 2xx marks it sent. A failure (no connection, timeout, non-2xx) is logged
(``notify-failed``: the first one and every tenth), counted, and retried after a backoff
doubling from :data:`BACKOFF_MIN` to :data:`BACKOFF_MAX` seconds -- bounded in rate, unbounded
in time: a notification is never dropped, and one still pending after a restart is sent then.
The body carries a unique ``id``, so a sink can drop the duplicate of a retry whose answer was lost.

Body: ``{"id", "event": "downtime" | "restored", "source": <instance>, "datacenter", "t":
<epoch s when it happened>, "reason", ...}`` (extra fields per event: ``snapshot_as_of``,
``queued``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from mock_services.common.eventlog import log_event
from mock_services.common.httpclient import async_client

BACKOFF_MIN = 0.2
BACKOFF_MAX = 5.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    sent_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
"""


class Notifier:
    """See the module docstring. ``transport``: for tests."""

    def __init__(
        self, path: Path, url: str | None, source: str, datacenter: str, timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self.url, self.source, self.datacenter, self.timeout = url, source, datacenter, timeout
        self.http = async_client(timeout=timeout, transport=transport)  # cancellation-safe pool
        self._wake = asyncio.Event()
        self.last_error: str | None = None

    async def aclose(self) -> None:
        await self.http.aclose()
        self.db.close()

    def publish(self, event: str, reason: str, at: float | None = None, **extra: Any) -> dict[str, Any]:
        """Commit a notification to the outbox (durable when this returns) and wake the sender."""
        body = {"id": uuid.uuid4().hex, "event": event, "source": self.source, "datacenter": self.datacenter,
                "t": time.time() if at is None else at, "reason": reason, **extra}  # fmt: skip
        with self.db:
            self.db.execute("INSERT INTO outbox (id, body, created) VALUES (?, ?, ?)",
                            (body["id"], json.dumps(body, ensure_ascii=False), time.time()))  # fmt: skip
        log_event("notification-queued", notification=event, id=body["id"])
        self._wake.set()
        return body

    def _oldest_unsent(self) -> tuple[str, str, int] | None:
        row = self.db.execute("SELECT id, body, attempts FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT 1")
        found = row.fetchone()
        return None if found is None else (found[0], found[1], int(found[2]))

    async def send_one(self) -> bool | None:
        """Try the oldest unsent notification: True sent, False failed, None nothing to send (or no URL)."""
        pending = self._oldest_unsent()
        if pending is None or self.url is None:
            return None
        identifier, body, attempts = pending
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.http.post(self.url, content=body, headers={"Content-Type": "application/json"})
            error = None if 200 <= response.status_code < 300 else f"the sink answered {response.status_code}"
        except (httpx.HTTPError, TimeoutError) as failure:
            error = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
        with self.db:
            if error is None:
                self.db.execute("UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?",
                                (time.time(), identifier))  # fmt: skip
            else:
                self.db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                                (error, identifier))  # fmt: skip
        if error is None:
            log_event("notification-sent", id=identifier, attempts=attempts + 1)
            return True
        self.last_error = error
        if attempts % 10 == 0:
            log_event("notify-failed", level=logging.WARNING, id=identifier, attempts=attempts + 1, detail=error)
        return False

    async def run(self) -> None:
        """The sender loop (a background task until cancelled)."""
        backoff = BACKOFF_MIN
        while True:
            outcome = await self.send_one()
            if outcome is True:
                backoff = BACKOFF_MIN
                continue
            if outcome is False:
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # not asyncio.wait_for: see .app.wait_event
                async with asyncio.timeout(BACKOFF_MAX):
                    await self._wake.wait()

    def status(self) -> dict[str, Any]:
        (pending,) = self.db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()
        (sent,) = self.db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL").fetchone()
        return {"url": self.url, "pending": int(pending), "sent": int(sent), "last_error": self.last_error}

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT body, sent_at, attempts FROM outbox ORDER BY seq DESC LIMIT ?", (limit,))
        return [{**json.loads(body), "sent_at": sent_at, "attempts": attempts} for body, sent_at, attempts in rows]
