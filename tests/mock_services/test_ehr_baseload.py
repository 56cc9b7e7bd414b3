"""The base snapshot: loaded once, identical on both instances, never shipped, kept by resync."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mock_services.ehr.baseload import BaseMismatch, ensure_base
from mock_services.ehr.index import ReferenceCriterion
from mock_services.ehr.protocol import Role
from mock_services.ehr.store import LogEntry, Store
from mock_services.ehr.testing import FakeDataset, eventually, running_pair


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_load_is_done_once_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mock_services.ehr")
    store = Store.open(tmp_path / "a.sqlite")
    assert ensure_base(store, 7, 3, FakeDataset(3)) == 3 * 7  # 1 patient + 6 clinical each
    store.close()

    reopened = Store.open(tmp_path / "a.sqlite")
    assert ensure_base(reopened, 7, 3, FakeDataset(3)) == 0  # already there: skipped
    assert reopened.base == "synthetic seed=7 patients=3"
    assert reopened.last_lsn == 0  # the base is not in the log
    patient = reopened.read("Patient", "p000002")
    assert patient is not None and (patient.lsn, patient.epoch, patient.version_id) == (0, 0, "1")
    with pytest.raises(BaseMismatch, match=r"seed=7 patients=3.*seed=8 patients=3"):
        ensure_base(reopened, 8, 3, FakeDataset(3))
    reopened.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("event=base-load-done") and "resources=21" in m for m in messages)
    assert any(m.startswith("event=base-present") for m in messages)


def test_a_store_with_writes_but_no_base_refuses_one(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "a.sqlite")
    store.append("Patient", "x", "1", "t", json.dumps({"resourceType": "Patient", "id": "x"}))
    with pytest.raises(BaseMismatch, match="holds 1 writes but no base snapshot"):
        ensure_base(store, 1, 2, FakeDataset(2))
    store.close()


def test_resync_rewinds_logged_changes_to_the_base_and_keeps_the_base(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "a.sqlite")
    ensure_base(store, 1, 2, FakeDataset(2))
    base = store.read("Patient", "p000001")
    assert base is not None
    moved = json.dumps({"resourceType": "Encounter", "id": "enc-1", "subject": {"reference": "Patient/p000002"}})
    store.append("Encounter", "enc-1", "2", "t", moved)  # a local write that the new primary never had
    by_patient_2 = [ReferenceCriterion("Encounter.subject", ("Patient/p000002",))]
    assert [e.resource_id for e in store.search("Encounter", by_patient_2, limit=10).entries] == ["enc-1", "enc-2"]
    other = LogEntry(1, 2, "Patient", "new", "1", "t", json.dumps({"resourceType": "Patient", "id": "new"}))

    discarded = store.replace_log([other], epoch=2)

    assert [e.resource_id for e in discarded] == ["enc-1"]
    encounter = store.read("Encounter", "enc-1")
    assert encounter is not None and (encounter.lsn, encounter.version_id) == (0, "1")  # back to the base
    assert [e.resource_id for e in store.search("Encounter", by_patient_2, limit=10).entries] == ["enc-2"]
    assert store.read("Patient", "new") is not None and store.read("Patient", "p000001") == base
    assert store.resource_count() == 2 * 7 + 1
    store.close()


@pytest.mark.anyio
async def test_pair_loads_identical_bases_and_ships_only_writes(tmp_path: Path) -> None:
    async with running_pair(tmp_path, dataset=FakeDataset(4), patients=4) as pair:
        await eventually(lambda: pair.node_a.role is Role.PRIMARY and pair.node_a.in_sync, 2.0, "pair in sync")
        created = await pair.a.post("/Patient", json={"resourceType": "Patient", "id": "ignored"})
        assert created.status_code == 201

        status = (await pair.b.get("/_replication/status")).json()
        assert status["base"] == "synthetic seed=2024 patients=4" and status["lsn"] == 1  # one shipped entry
        for path in ("/Observation/lab-3", "/Patient/p000004", f"/Patient/{created.json()['id']}"):
            a, b = await pair.a.get(path), await pair.b.get(path)
            assert a.status_code == b.status_code == 200 and a.content == b.content  # byte-identical
