"""EHR replication state machine, in-process: two apps wired through cuttable links.

Timings (see ``make_config``): heartbeat 0.05 s, peer timeout 0.2 s, promote after 0.5 s.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from mock_services.ehr.config import ConfiguredRole
from mock_services.ehr.protocol import Role
from mock_services.ehr.replication import Node
from mock_services.ehr.store import Store
from mock_services.ehr.testing import InProcessPair, eventually, running_pair

pytestmark = pytest.mark.anyio
PROMOTION_WAIT = 3.0  # promote_after (0.5 s) + pre-vote + generous margin for a loaded CI box


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _events(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mock_services.ehr")


async def _create(client: httpx.AsyncClient, mrn: str) -> httpx.Response:
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": mrn}]}
    return await client.post("/Patient", json=patient)


def _has(node: Node, resource_id: str) -> bool:
    return node.store.read("Patient", resource_id) is not None


async def _in_sync(pair: InProcessPair) -> None:
    """Wait until A is primary and knows B has everything it has."""

    def level() -> bool:
        peer = pair.node_a.status_document()["peer"]
        assert isinstance(peer, dict)
        return (
            pair.node_a.role is Role.PRIMARY
            and pair.node_a.in_sync
            and peer["matched_lsn"] == pair.node_a.store.last_lsn
            and peer["reachable"] is True
        )

    await eventually(level, 2.0, "ehr-a primary with ehr-b in sync")


def _events_named(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"event={event} ")]


async def test_sync_write_is_on_the_standby_when_acknowledged(tmp_path: Path) -> None:
    async with running_pair(tmp_path) as pair:
        await _in_sync(pair)
        response = await _create(pair.a, "1")
        assert response.status_code == 201
        # No waiting: sync mode acknowledged only after ehr-b applied it.
        assert _has(pair.node_b, response.json()["id"])
        assert pair.node_b.store.last_lsn == pair.node_a.store.last_lsn == 1


async def test_partition_promotes_standby_and_heal_discards_old_primary_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_pair(tmp_path) as pair:
        await _in_sync(pair)
        before = (await _create(pair.a, "before")).json()["id"]
        pair.partition()
        await eventually(lambda: pair.node_b.role is Role.PRIMARY, PROMOTION_WAIT, "ehr-b promoted")
        assert pair.node_b.epoch == 2
        # Split brain, on purpose without a witness: both accept writes.
        lost = await _create(pair.a, "written-on-old-primary")
        kept = await _create(pair.b, "written-on-new-primary")
        assert (lost.status_code, kept.status_code) == (201, 201)

        pair.partition(False)

        await eventually(
            lambda: pair.node_a.role is Role.STANDBY and _has(pair.node_a, kept.json()["id"]),
            PROMOTION_WAIT,
            "ehr-a stepped down and resynced from ehr-b",
        )
        assert pair.node_a.epoch == 2
        assert not _has(pair.node_a, lost.json()["id"])
        assert _has(pair.node_a, before)
        assert (await pair.a.get("/primary")).status_code == 503
        (done,) = _events_named(caplog, "resync-done")
        assert "discarded=1" in done and lost.json()["id"] in done
        assert _events_named(caplog, "step-down")


async def test_two_primaries_with_equal_epochs_break_the_tie_by_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_pair(tmp_path, role_b=ConfiguredRole.PRIMARY, partitioned=True) as pair:
        await eventually(
            lambda: pair.node_a.role is Role.PRIMARY and pair.node_b.role is Role.PRIMARY,
            2.0,
            "both started as primary while they could not see each other",
        )
        loser_write = (await _create(pair.b, "b")).json()["id"]
        winner_write = (await _create(pair.a, "a")).json()["id"]

        pair.partition(False)

        await eventually(
            lambda: pair.node_b.role is Role.STANDBY and _has(pair.node_b, winner_write),
            PROMOTION_WAIT,
            "ehr-b (the larger name) stepped down and resynced",
        )
        assert pair.node_a.role is Role.PRIMARY
        assert (pair.node_a.epoch, pair.node_b.epoch) == (1, 1)
        assert not _has(pair.node_b, loser_write)
        # Same (lsn 1, epoch 1) on both sides, different writes: the loss must still be reported.
        (done,) = _events_named(caplog, "resync-done")
        assert "discarded=1" in done and loser_write in done
        assert any("winner=ehr-a" in line for line in _events_named(caplog, "tie-break"))


async def test_sync_strict_answers_503_when_the_standby_cannot_confirm(tmp_path: Path) -> None:
    async with running_pair(tmp_path, sync_strict=True) as pair:
        await _in_sync(pair)
        pair.a_to_b.cut = True
        refused = await _create(pair.a, "indeterminate")

        assert refused.status_code == 503
        issue = refused.json()["issue"][0]
        assert issue["code"] == "transient" and "indeterminate" in issue["diagnostics"]
        assert pair.node_a.store.last_lsn == 1  # committed locally all the same
        assert pair.node_b.store.last_lsn == 0

        pair.a_to_b.cut = False
        await eventually(lambda: pair.node_b.store.last_lsn == 1, 2.0, "background catch-up")
        accepted = await _create(pair.a, "after-heal")
        assert accepted.status_code == 201 and _has(pair.node_b, accepted.json()["id"])


async def test_non_strict_sync_degrades_then_waits_again_once_caught_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_pair(tmp_path) as pair:
        await _in_sync(pair)
        pair.a_to_b.cut = True
        degraded = await _create(pair.a, "degraded")
        assert degraded.status_code == 201
        assert not pair.node_a.in_sync
        assert not _has(pair.node_b, degraded.json()["id"])
        assert _events_named(caplog, "standby-out-of-sync")

        pair.a_to_b.cut = False
        await _in_sync(pair)
        assert _has(pair.node_b, degraded.json()["id"])
        assert _events_named(caplog, "standby-in-sync")
        synced = await _create(pair.a, "synced")
        assert _has(pair.node_b, synced.json()["id"])


async def test_pre_vote_vetoes_promotion_when_only_heartbeats_are_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_pair(tmp_path) as pair:
        await _in_sync(pair)
        pair.a_to_b.cut = True  # A's heartbeats cannot reach B; B can still ask A
        await eventually(lambda: bool(_events_named(caplog, "promotion-vetoed")), PROMOTION_WAIT, "a vetoed promotion")
        assert pair.node_b.role is Role.STANDBY and pair.node_b.epoch == 1
        assert pair.node_a.role is Role.PRIMARY


async def test_diverged_standby_is_resynced_and_reports_what_it_discarded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # ehr-b holds a write ehr-a never had (e.g. it was primary once and was not resynced).
    stale = Store.open(tmp_path / "ehr-b.sqlite")
    stale.append("Patient", "orphan", "1", "2024-08-03T10:00:00Z", '{"resourceType":"Patient","id":"orphan"}')
    stale.close()
    async with running_pair(tmp_path) as pair:
        await eventually(lambda: not _has(pair.node_b, "orphan"), 2.0, "ehr-b resynced from ehr-a")
        await _in_sync(pair)
        assert pair.node_b.store.last_lsn == 0
        (done,) = _events_named(caplog, "resync-done")
        assert "discarded=1" in done and "Patient/orphan" in done
        assert _events_named(caplog, "diverged")


async def test_standby_with_higher_epoch_promotes_and_the_stale_primary_steps_down(tmp_path: Path) -> None:
    higher = Store.open(tmp_path / "ehr-b.sqlite")
    higher.set_epoch(3)
    higher.close()
    async with running_pair(tmp_path) as pair:
        # ehr-b refuses ehr-a's epoch-1 heartbeats, so for it there is no valid primary.
        await eventually(
            lambda: pair.node_b.role is Role.PRIMARY and pair.node_a.role is Role.STANDBY,
            PROMOTION_WAIT,
            "ehr-b promoted to epoch 4 and ehr-a stepped down",
        )
        assert (pair.node_a.epoch, pair.node_b.epoch) == (4, 4)
        written = (await _create(pair.b, "after")).json()["id"]
        await eventually(lambda: _has(pair.node_a, written), 2.0, "ehr-a follows ehr-b")
