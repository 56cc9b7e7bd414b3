"""The imaging store: batches, duplicates, crash recovery, seed data, outbox order."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from mock_services.imaging.part10 import FailureReason, InstanceAttrs, parse_part10
from mock_services.imaging.render import render_part10
from mock_services.imaging.seed import instances_of, load_synthetic
from mock_services.imaging.store import Outcome, Source, Store, relative_path
from mock_services.imaging.testing import make_attrs, make_part10
from mock_services.synthetic import SyntheticConfig, generate


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "pacs")


def item(**overrides: object) -> tuple[InstanceAttrs, bytes]:
    data = make_part10(**overrides)
    return parse_part10(data), data


def test_parse_part10_reads_the_index_attributes() -> None:
    attrs = make_attrs(patient_name="ANDRÉ^Hélène", series_number=3, instance_number=7)
    parsed = parse_part10(render_part10(attrs))
    assert parsed == attrs


def test_a_stored_batch_survives_reopening(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "pacs")
    batch = [item(), item()]
    results = store.store_batch(batch, Source.STOW, queue_for_replica=True)
    assert [r.outcome for r in results] == [Outcome.STORED, Outcome.STORED]
    store.close()
    reopened = Store.open(tmp_path / "pacs")
    for attrs, data in batch:
        found = reopened.get(attrs.sop_uid)
        assert found is not None and found.size == len(data) and found.source is Source.STOW
        assert reopened.read_bytes(found) == data
        assert (tmp_path / "pacs" / relative_path(attrs)).read_bytes() == data
    assert [sop for _, sop in reopened.outbox_peek(10)] == [a.sop_uid for a, _ in batch]
    assert list((tmp_path / "pacs" / "tmp").iterdir()) == []


def test_kill_between_commit_and_rename_is_rolled_forward(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store.open(tmp_path / "pacs")
    attrs, data = item()
    store.store_batch([(attrs, data)], Source.STOW, queue_for_replica=True)
    store.close()
    # Recreate the state a SIGKILL after COMMIT but before the rename leaves behind.
    final = tmp_path / "pacs" / relative_path(attrs)
    final.rename(tmp_path / "pacs" / "tmp" / f"{attrs.sop_uid}.part")
    with caplog.at_level(logging.INFO, logger="mock_services.imaging"):
        reopened = Store.open(tmp_path / "pacs")
    assert final.read_bytes() == data
    assert "event=recovery rolled_forward=1 discarded=0" in caplog.text
    assert reopened.backlog() == 1  # and it will still be shipped


def test_kill_before_commit_leaves_nothing(tmp_path: Path) -> None:
    Store.open(tmp_path / "pacs").close()
    orphan = tmp_path / "pacs" / "tmp" / f"{generate_uid()}.part"
    orphan.write_bytes(make_part10())
    (tmp_path / "pacs" / "tmp" / "stray-file").write_bytes(b"x")
    reopened = Store.open(tmp_path / "pacs")
    assert list((tmp_path / "pacs" / "tmp").iterdir()) == []
    assert reopened.counts() == {"studies": 0, "series": 0, "instances": 0, "backlog": 0}


def test_a_failed_commit_leaves_no_file_and_no_row(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error (test)")

    monkeypatch.setattr(store, "_insert", broken)
    (result,) = store.store_batch([item()], Source.STOW, queue_for_replica=True)
    assert result.outcome is Outcome.FAILED
    assert result.reason is FailureReason.PROCESSING_FAILURE
    assert "disk I/O error" in result.message
    monkeypatch.undo()
    assert store.counts()["instances"] == 0
    assert [p for p in store.root.rglob("*.dcm")] + list((store.root / "tmp").iterdir()) == []


def test_any_failure_of_the_commit_leaves_no_temporary_file(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (fuzz campaign): an error other than OSError / sqlite3.Error (an
    # OverflowError binding a 20-digit Instance Number) escaped the cleanup, leaving
    # tmp/<sop>.part files behind -- a half-written store until the next restart.
    def broken(*args: object, **kwargs: object) -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER (test)")

    monkeypatch.setattr(store, "_insert", broken)
    with pytest.raises(OverflowError):
        store.store_batch([item(), item()], Source.STOW, queue_for_replica=True)
    monkeypatch.undo()
    assert store.counts()["instances"] == 0
    assert [p for p in store.root.rglob("*.dcm")] + list((store.root / "tmp").iterdir()) == []


def test_duplicates(store: Store) -> None:
    attrs, data = item()
    store.store_batch([(attrs, data)], Source.STOW, queue_for_replica=True)
    other = make_part10(sop_uid=attrs.sop_uid, patient_id="OTHER")
    same, different = store.store_batch(
        [(attrs, data), (parse_part10(other), other)], Source.STOW, queue_for_replica=True
    )
    assert same.outcome is Outcome.ALREADY_STORED
    assert different.outcome is Outcome.FAILED and different.reason is FailureReason.DUPLICATE_SOP_INSTANCE
    assert store.backlog() == 1


def test_seed_rows_render_lazily_and_deterministically(tmp_path: Path) -> None:
    a, b = Store.open(tmp_path / "a"), Store.open(tmp_path / "b")
    assert load_synthetic(a, 7, 12) > 0
    assert load_synthetic(b, 7, 12) > 0
    spec = next(iter(generate(SyntheticConfig(seed=7, patients=12)).imaging_studies()))
    sop = spec.series[0].instances[0].sop_instance_uid
    found = a.get(sop)
    assert found is not None and found.size is None and found.source is Source.SEED
    assert not (a.root / found.path).exists()
    data = a.read_bytes(found)
    again = b.get(sop)
    assert again is not None
    assert b.read_bytes(again) == data  # the replica renders the same bytes
    assert parse_part10(data).patient_id == spec.patient_id
    rendered = a.get(sop)
    assert rendered is not None and rendered.size == len(data)
    assert (a.root / rendered.path).read_bytes() == data
    assert a.backlog() == 0  # seed rows are never shipped


def test_seed_is_loaded_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store.open(tmp_path / "pacs")
    expected = sum(1 for _ in instances_of(generate(SyntheticConfig(seed=3, patients=20)).imaging_studies()))
    assert load_synthetic(store, 3, 20) == expected
    with caplog.at_level(logging.INFO, logger="mock_services.imaging"):
        assert load_synthetic(store, 3, 20) == 0
    assert "event=seed-present" in caplog.text
    assert store.counts()["instances"] == expected
    assert load_synthetic(store, 3, 30) > expected  # more patients: the first 20 are kept, more added
    assert store.counts()["instances"] > expected


def test_a_seed_load_killed_half_way_leaves_nothing(store: Store) -> None:
    def exploding() -> Iterator[InstanceAttrs]:
        yield from instances_of(generate(SyntheticConfig(seed=3, patients=50)).imaging_studies())
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.load_seed(exploding(), "marker", on_progress=lambda n: None, chunk=5)
    assert store.counts()["instances"] == 0
    assert store.seed_marker() is None


def test_outbox_is_first_in_first_out(store: Store) -> None:
    batches = [[item()], [item(), item()]]
    for batch in batches:
        store.store_batch(batch, Source.STOW, queue_for_replica=True)
    store.store_batch([item()], Source.REPLICATION, queue_for_replica=False)
    entries = store.outbox_peek(10)
    assert [sop for _, sop in entries] == [a.sop_uid for batch in batches for a, _ in batch]
    store.outbox_remove([seq for seq, _ in entries[:2]])
    assert [sop for _, sop in store.outbox_peek(10)] == [batches[1][1][0].sop_uid]


def test_an_index_of_the_previous_version_gains_the_new_columns(tmp_path: Path) -> None:
    # Storage written before issue 10 (no referring physician, study ID, time zone, PPS start,
    # request attributes): opened, it gains the columns, and its rows read as "not known".
    root = tmp_path / "pacs"
    root.mkdir()
    attrs = make_attrs()
    with sqlite3.connect(root / "index.sqlite") as db:
        db.executescript("""
            CREATE TABLE studies (study_uid TEXT PRIMARY KEY, patient_id TEXT NOT NULL, patient_name TEXT NOT NULL,
                birth_date TEXT NOT NULL, sex TEXT NOT NULL, study_date TEXT NOT NULL, study_time TEXT NOT NULL,
                accession TEXT NOT NULL, description TEXT NOT NULL);
            CREATE TABLE series (series_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL, modality TEXT NOT NULL,
                series_number INTEGER, description TEXT NOT NULL);
        """)
        db.execute("INSERT INTO studies VALUES (?, 'P1', 'A^B', '', '', '20240101', '', 'ACC', 'old')",
                   (attrs.study_uid,))
        db.execute("INSERT INTO series VALUES (?, ?, 'CT', 1, 'old')", (attrs.series_uid, attrs.study_uid))
    store = Store.open(root)
    try:
        data = render_part10(attrs)
        (result,) = store.store_batch([(parse_part10(data), data)], Source.STOW, queue_for_replica=False)
        assert result.outcome is Outcome.STORED
        found = store.get(attrs.sop_uid)
        assert found is not None
        assert (found.attrs.study_id, found.attrs.timezone, found.attrs.request_attributes) == ("", "", ())
        assert found.attrs.patient_id == "P1"  # the study row of the old index is kept
    finally:
        store.close()
