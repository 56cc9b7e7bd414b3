"""The downtime snapshot file: atomic write, checked read, corrupt and missing detection, bounds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mock_services.care import snapshot
from mock_services.care.collect import RecentPatients, choose_patients
from mock_services.care.snapshot import SnapshotCorrupt, SnapshotMissing, SnapshotStore


def body(as_of: float = 1722672000.0, patients: int = 2) -> dict[str, Any]:
    charts = {f"p{i:06d}": {"ward": "cardiologie", "demographics": {"status": "ok", "items": {"name": "Éloïse"}}}
              for i in range(1, patients + 1)}  # fmt: skip
    schedules = {"status": "ok", "until": "2024-08-02T18:00:00.000000Z", "documents": []}
    return {"format": 1, "source": "care-1", "as_of": as_of, "wards": {"cardiologie": sorted(charts)},
            "patients": charts, "schedules": schedules}


def test_round_trip_and_status(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    assert store.load() is None and store.status(60)["state"] == "missing"
    size = store.replace(body(patients=3))
    assert size == (tmp_path / "snapshot.dat").stat().st_size
    fresh = SnapshotStore(tmp_path)
    loaded = fresh.load()
    assert loaded is not None and loaded.as_of == 1722672000.0 and loaded.wards["cardiologie"][0] == "p000001"
    assert loaded.patient("p000002") is not None and loaded.patient("p999999") is None
    status = fresh.status(max_age=60)
    assert status["state"] == "ok" and status["patients"] == 3 and status["stale"] is True  # 2024 is long ago


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda data: data[:-10], "truncated"),
        (lambda data: data.replace("Éloïse".encode(), b"Eloise"), "truncated or padded"),
        (lambda data: data.replace(b"cardiologie", b"cardiologiX", 1), "checksum"),
        (lambda data: b"garbage" + data, "bad header"),
        (lambda data: data.replace(b"CARE-SNAPSHOT 1", b"CARE-SNAPSHOT 9"), "format '9'"),
        (lambda data: b"", "bad header"),
    ],
)
def test_every_kind_of_damage_is_detected_and_named(tmp_path: Path, damage: Any, expected: str) -> None:
    store = SnapshotStore(tmp_path)
    store.replace(body())
    path = tmp_path / "snapshot.dat"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(SnapshotCorrupt, match=expected):
        snapshot.read(path)
    assert store.load() is None and store.status(60)["state"] == "corrupt"
    assert expected in store.status(60)["detail"]


def test_valid_checksum_but_not_a_snapshot_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.dat"
    path.write_bytes(snapshot.encode({"hello": "world"}))
    with pytest.raises(SnapshotCorrupt, match="no as_of"):
        snapshot.read(path)


def test_missing_is_not_corrupt(tmp_path: Path) -> None:
    with pytest.raises(SnapshotMissing, match="no downtime snapshot"):
        snapshot.read(tmp_path / "nothing.dat")


def test_a_crash_during_a_write_leaves_the_previous_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SnapshotStore(tmp_path)
    store.replace(body(as_of=1.0))

    def power_cut(source: Any, target: Any) -> None:
        raise OSError("power cut before the rename")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError):
        store.replace(body(as_of=2.0))
    monkeypatch.undo()
    reloaded = SnapshotStore(tmp_path).load()
    assert reloaded is not None and reloaded.as_of == 1.0
    assert store.current is not None and store.current.as_of == 1.0  # the failed write did not become current


def test_pin_keeps_the_downtime_baseline_across_refreshes(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.replace(body(as_of=1.0))
    store.pin()
    store.replace(body(as_of=2.0))
    again = SnapshotStore(tmp_path)
    again.load()
    assert again.current is not None and again.current.as_of == 2.0
    assert again.pinned is not None and again.pinned.as_of == 1.0


def test_patients_are_bounded_configured_wards_first_then_recent() -> None:
    census = {"cardiologie": ["p1", "p2", "p3"], "urgences": ["p4", "p5"], "oncologie": ["p6"]}
    wards, chosen = choose_patients(census, ("urgences", "cardiologie"), ["p9", "p4", "p8"], limit=4)
    assert chosen == ["p4", "p5", "p1", "p2"] and wards == {"urgences": ["p4", "p5"], "cardiologie": ["p1", "p2"]}
    wards, chosen = choose_patients(census, (), ["p9", "p4", "p8"], limit=8)
    assert chosen == ["p1", "p2", "p3", "p4", "p5", "p6", "p9", "p8"] and set(wards) == set(census)
    recent = RecentPatients(size=2)
    for patient in ("a", "b", "a", "c"):
        recent.seen(patient)
    assert recent.newest_first() == ["c", "a"]
