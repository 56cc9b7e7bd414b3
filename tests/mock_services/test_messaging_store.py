"""The message store: idempotent put, group commit, queue order and rotation, reopening."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from mock_services.messaging.config import Synchronous
from mock_services.messaging.store import Incoming, Store, StoreError


def incoming(control_id: str, sender: str = "LIS", destination: str = "fhir") -> Incoming:
    return Incoming(control_id, sender, "ORU^R01", f"MSH|...|{control_id}", "AA", destination, time.time())


def insert(store: Store, message: Incoming) -> None:
    """A put from a thread (no event loop): through ``submit``, as the forwarder writes."""
    store.submit(lambda connection: store._insert(connection, message)).result(5)


def test_put_is_idempotent_per_sender(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    try:

        async def scenario() -> list[tuple[int, bool]]:
            results = [
                await store.put(incoming("A")),
                await store.put(incoming("A")),
                await store.put(incoming("A", "X")),
            ]
            return [(r.seq, r.duplicate) for r in results]

        assert asyncio.run(scenario()) == [(1, False), (1, True), (2, False)]
        reader = store.reader()
        [first] = reader.find("A", "LIS")
        assert first.duplicates == 1 and first.status == "queued"
        assert reader.counts() == {"queued": 2, "delivered": 0, "errored": 0, "no-destination": 0}
        reader.close()
    finally:
        store.close()


def test_concurrent_puts_share_commits(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", Synchronous.FULL)
    try:

        async def scenario() -> None:
            await asyncio.gather(*(store.put(incoming(f"M{i}")) for i in range(200)))

        asyncio.run(scenario())
        assert store.committed_jobs == 200
        assert store.commits < 200  # group commit: several messages per fsync
        assert store.reader().queue_stats()[0] == 200
    finally:
        store.close()


def test_queue_order_rotation_and_outcomes(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    reader = store.reader()
    try:
        for control_id in ("A", "B", "C"):
            insert(store, incoming(control_id))
        insert(store, incoming("N", destination=""))
        head = reader.head("fhir")
        assert head is not None and head.control_id == "A"
        store.mark_failed(head.seq, 1, "HTTP 422", give_up=False, rotate=True)
        head = reader.head("fhir")
        assert head is not None and head.control_id == "B"
        store.mark_failed(head.seq, 1, "HTTP 503", give_up=False, rotate=False)
        assert reader.head("fhir").control_id == "B"  # type: ignore[union-attr]
        store.mark_delivered(head.seq, 2, ["Observation/1"])
        store.mark_failed(reader.head("fhir").seq, 5, "boom", give_up=True, rotate=True)  # type: ignore[union-attr]
        assert [m.control_id for m in reader.list("queued", 10)] == ["A"]
        [delivered] = reader.list("delivered", 10)
        assert delivered.attempts == 2 and delivered.resources == ("Observation/1",)
        assert reader.find("C")[0].status == "errored" and reader.find("N")[0].status == "no-destination"
    finally:
        reader.close()
        store.close()


def test_reopen_keeps_messages_and_queue_positions(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    for control_id in ("A", "B"):
        insert(store, incoming(control_id))
    head = store.reader().head("fhir")
    assert head is not None
    store.mark_failed(head.seq, 1, "x", give_up=False, rotate=True)  # A goes behind B
    store.close()
    store = Store(path)
    try:
        insert(store, incoming("C"))
        assert [m.control_id for m in sorted(store.reader().list("queued", 10), key=lambda m: m.queue_pos)] == [
            "B",
            "A",
            "C",
        ]
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        store.close()


def test_a_failing_job_does_not_undo_the_others(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    try:

        def bad(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO messages (seq) VALUES (NULL)")  # NOT NULL violations

        failing = store.submit(bad)
        fine = store.submit(lambda c: store._insert(c, incoming("OK")))
        with pytest.raises(sqlite3.IntegrityError):
            failing.result(5)
        assert fine.result(5).duplicate is False
        assert store.reader().find("OK")
    finally:
        store.close()


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError):
        store.submit(lambda c: None).result(5)
