"""The EHR's SQLite log: epochs, contiguity, durability across reopen, resync swap, search."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_services.ehr.index import IdCriterion, TokenCriterion
from mock_services.ehr.store import LogEntry, Store, StoreError, TokenMatch


def _patient(resource_id: str, *identifiers: tuple[str | None, str]) -> str:
    items = [{"value": v} if s is None else {"system": s, "value": v} for s, v in identifiers]
    return json.dumps({"resourceType": "Patient", "id": resource_id, "identifier": items})


def _entry(lsn: int, epoch: int, resource_id: str) -> LogEntry:
    return LogEntry(lsn, epoch, "Patient", resource_id, "1", "2024-08-03T10:00:00Z", _patient(resource_id))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "ehr.sqlite")
    yield opened
    opened.close()


def test_fresh_store_starts_at_epoch_1_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ehr.sqlite"
    store = Store.open(path)
    assert (store.epoch, store.last_lsn) == (1, 0)
    first = store.append("Patient", "p1", "1", "t", _patient("p1"))
    store.set_epoch(3)
    second = store.append("Patient", "p2", "1", "t", _patient("p2"))
    store.close()

    reopened = Store.open(path)
    assert (first.lsn, first.epoch, second.lsn, second.epoch) == (1, 1, 2, 3)
    assert (reopened.epoch, reopened.last_lsn) == (3, 2)
    assert reopened.epoch_at(1) == 1 and reopened.epoch_at(2) == 3 and reopened.epoch_at(0) == 0
    assert reopened.epoch_at(3) is None
    read = reopened.read("Patient", "p2")
    reopened.close()
    assert read is not None and read.body == _patient("p2")


def test_epoch_never_decreases(store: Store) -> None:
    store.set_epoch(2)
    with pytest.raises(StoreError, match="must not decrease"):
        store.set_epoch(1)
    assert store.epoch == 2


def test_apply_requires_contiguous_lsns(store: Store) -> None:
    store.apply([_entry(1, 1, "a"), _entry(2, 1, "b")])
    with pytest.raises(StoreError, match="does not follow"):
        store.apply([_entry(4, 1, "d")])
    assert store.last_lsn == 2
    assert [e.resource_id for e in store.entries_after(0, 10)] == ["a", "b"]
    assert [e.lsn for e in store.entries_after(1, 10)] == [2]


def test_replace_log_reports_discarded_entries_and_keeps_old_log_on_bad_input(store: Store) -> None:
    store.apply([_entry(1, 1, "a"), _entry(2, 1, "b-old-primary"), _entry(3, 1, "c-old-primary")])
    with pytest.raises(StoreError, match="not contiguous"):
        store.replace_log([_entry(2, 2, "x")], epoch=2)
    assert store.last_lsn == 3  # untouched

    discarded = store.replace_log([_entry(1, 1, "a"), _entry(2, 2, "b-new")], epoch=2)

    assert [e.resource_id for e in discarded] == ["b-old-primary", "c-old-primary"]
    # Same lsn and epoch but a different write (two primaries tied at one epoch): discarded too.
    tied = store.replace_log([_entry(1, 1, "a"), _entry(2, 2, "b-other-primary")], epoch=2)
    assert [e.resource_id for e in tied] == ["b-new"]
    assert (store.last_lsn, store.epoch) == (2, 2)
    assert store.read("Patient", "c-old-primary") is None
    assert store.search("Patient", [IdCriterion(("c-old-primary",))], limit=10).total == 0
    assert [d.resource_id for d in store.discarded()] == ["b-old-primary", "c-old-primary", "b-new"]
    assert store.discarded_total == 3


def test_search_token_semantics(store: Store) -> None:
    store.append("Patient", "p1", "1", "t", _patient("p1", ("urn:mrn", "100"), ("urn:ins", "A")))
    store.append("Patient", "p2", "1", "t", _patient("p2", ("urn:mrn", "200")))
    store.append("Patient", "p3", "1", "t", _patient("p3", (None, "100")))

    def ids(*any_ofs: list[TokenMatch], limit: int = 50) -> tuple[int, list[str]]:
        criteria = [TokenCriterion("Patient.identifier", tuple(any_of)) for any_of in any_ofs]
        page = store.search("Patient", criteria, limit=limit)
        return page.total, [e.resource_id for e in page.entries]

    assert ids([TokenMatch(None, "100")]) == (2, ["p1", "p3"])  # any system
    assert ids([TokenMatch("urn:mrn", "100")]) == (1, ["p1"])
    assert ids([TokenMatch("", "100")]) == (1, ["p3"])  # explicitly no system
    assert ids([TokenMatch("urn:mrn", None)]) == (2, ["p1", "p2"])  # any value in the system
    assert ids([TokenMatch(None, "100"), TokenMatch(None, "200")]) == (3, ["p1", "p2", "p3"])  # OR
    assert ids([TokenMatch(None, "100")], [TokenMatch("urn:ins", "A")]) == (1, ["p1"])  # AND
    assert ids([TokenMatch(None, "nope")]) == (0, [])
    assert ids(limit=2) == (3, ["p1", "p2"])  # no filter: all, bounded, total still counts all
    page = store.search("Patient", [IdCriterion(("p2", "zz"))], limit=10)
    assert (page.total, [e.resource_id for e in page.entries]) == (1, ["p2"])
