"""Fencing on/off under partitions, in-process (pairs wired through cuttable links + a witness).

Timings (``make_config`` / ``running_pair``): heartbeat 0.05 s, peer timeout 0.2 s, promote
after 0.5 s, lease TTL 0.4 s (the holder counts 0.36 s from sending each renewal).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest

from mock_services.ehr.protocol import Role
from mock_services.ehr.testing import InProcessPair, eventually, running_pair

pytestmark = pytest.mark.anyio
LEASE_TTL = 0.4
WAIT = 3.0  # generous bound for anything that should take ~1 s


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _capture_events(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mock_services.ehr")


@dataclass
class Writes:
    """Acknowledged writes seen by one client: (monotonic time of the 201, the resource)."""

    acked: list[tuple[float, dict[str, object]]] = field(default_factory=list)
    refused: int = 0

    def sources(self) -> set[object]:
        return {_meta(resource)["source"] for _, resource in self.acked}

    def acked_after(self, moment: float) -> list[dict[str, object]]:
        return [resource for at, resource in self.acked if at > moment]


def _meta(resource: dict[str, object]) -> dict[str, object]:
    meta = resource["meta"]
    assert isinstance(meta, dict)
    return meta


async def _write_for(client: httpx.AsyncClient, seconds: float, into: Writes) -> None:
    """Create a Patient every ~10 ms for ``seconds``, recording each outcome."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        response = await client.post("/Patient", json={"resourceType": "Patient", "gender": "unknown"})
        if response.status_code == 201:
            into.acked.append((time.monotonic(), response.json()))
        else:
            assert response.status_code == 503, response.text
            into.refused += 1
        await anyio.sleep(0.01)


async def _both_write(pair: InProcessPair, seconds: float) -> tuple[Writes, Writes]:
    on_a, on_b = Writes(), Writes()
    async with anyio.create_task_group() as group:
        group.start_soon(_write_for, pair.a, seconds, on_a)
        group.start_soon(_write_for, pair.b, seconds, on_b)
    return on_a, on_b


async def _settled(pair: InProcessPair) -> None:
    await eventually(
        lambda: pair.node_a.role is Role.PRIMARY and pair.node_a.in_sync and pair.node_b.role is Role.STANDBY,
        WAIT,
        "ehr-a primary with ehr-b in sync",
    )


def _events(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"event={event} ")]


async def test_fencing_off_partition_gives_split_brain_and_reports_the_discarded_writes(tmp_path: Path) -> None:
    async with running_pair(tmp_path) as pair:
        await _settled(pair)
        pair.partition()
        cut = time.monotonic()

        on_a, on_b = await _both_write(pair, 1.2)

        # Both accepted writes in different epochs at the same time: split brain, on purpose.
        assert on_a.sources() == {"ehr-a#1"} and on_b.sources() == {"ehr-b#2"}
        first_b = min(at for at, _ in on_b.acked)
        assert max(at for at, _ in on_a.acked) > first_b > cut
        lost = {resource["id"] for resource in on_a.acked_after(cut)}

        pair.partition(False)
        await eventually(
            lambda: pair.node_a.role is Role.STANDBY and pair.node_a.epoch == 2, WAIT, "ehr-a stepped down"
        )
        await eventually(lambda: pair.node_a.store.discarded_total >= len(lost), WAIT, "ehr-a resynced")
        status = (await pair.a.get("/_replication/status")).json()
        listed = (await pair.a.get("/_replication/discarded")).json()
        assert status["discarded"]["total"] == listed["total"] == len(lost)
        assert {entry["resource_id"] for entry in listed["entries"]} == lost
        assert {entry["epoch"] for entry in listed["entries"]} == {1}
        assert all(entry["new_epoch"] == 2 for entry in listed["entries"])


async def test_fencing_on_isolated_primary_stops_before_the_standby_promotes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_pair(tmp_path, fencing=True) as pair:
        await _settled(pair)
        assert pair.leases is not None
        pair.partition()
        pair.a_to_witness.cut = True  # ehr-a's data center is cut off from everyone
        cut = time.monotonic()

        on_a, on_b = await _both_write(pair, 1.5)

        assert on_a.acked_after(cut + LEASE_TTL + 0.05) == []  # stopped within the lease TTL
        assert on_a.refused > 0 and (await pair.a.get("/primary")).status_code == 503
        assert on_b.sources() == {"ehr-b#2"}
        # No overlap: every write ehr-a acknowledged precedes every write ehr-b acknowledged,
        # on the clock and in meta.lastUpdated (both stamped on this host's clock).
        assert on_a.acked_after(cut), "ehr-a should still acknowledge writes while its lease lasts"
        assert max(at for at, _ in on_a.acked) < min(at for at, _ in on_b.acked)
        last_a = max(str(_meta(resource)["lastUpdated"]) for _, resource in on_a.acked)
        assert last_a < min(str(_meta(resource)["lastUpdated"]) for _, resource in on_b.acked)
        state = pair.leases.get("ehr")
        assert state is not None and (state.holder, state.epoch) == ("ehr-b", 2)
        assert _events(caplog, "lease-lost") and _events(caplog, "promote")

        pair.partition(False)
        pair.a_to_witness.cut = False
        await eventually(
            lambda: pair.node_a.role is Role.STANDBY and pair.node_a.store.last_lsn == pair.node_b.store.last_lsn,
            WAIT,
            "ehr-a resynced from ehr-b",
        )
        assert pair.node_a.epoch == 2 and pair.node_b.role is Role.PRIMARY


async def test_fencing_on_replication_cut_alone_does_not_promote_the_standby(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_pair(tmp_path, fencing=True) as pair:
        await _settled(pair)
        pair.partition()  # both still reach the witness

        on_a, on_b = await _both_write(pair, 1.0)

        assert on_a.refused == 0 and on_a.sources() == {"ehr-a#1"}  # the primary keeps its lease
        assert on_b.acked == [] and pair.node_b.role is Role.STANDBY and pair.node_b.epoch == 1
        (blocked,) = _events(caplog, "promotion-blocked")
        assert "held by ehr-a at epoch 1" in blocked


async def test_fencing_on_primary_cut_from_the_witness_steps_down_and_follows_the_new_primary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_pair(tmp_path, fencing=True) as pair:
        await _settled(pair)
        before = (await pair.a.post("/Patient", json={"resourceType": "Patient"})).json()["id"]
        pair.a_to_witness.cut = True
        cut = time.monotonic()

        await eventually(lambda: pair.node_a.role is Role.STANDBY, LEASE_TTL + 0.3, "ehr-a gave up the primary role")
        assert time.monotonic() - cut <= LEASE_TTL + 0.3
        assert (await pair.a.post("/Patient", json={"resourceType": "Patient"})).status_code == 503
        await eventually(lambda: pair.node_b.role is Role.PRIMARY, WAIT, "ehr-b promoted through the witness")
        written = (await pair.b.post("/Patient", json={"resourceType": "Patient"})).json()["id"]
        await eventually(
            lambda: pair.node_a.store.read("Patient", written) is not None, WAIT, "ehr-a follows ehr-b again"
        )
        assert pair.node_a.store.read("Patient", before) is not None  # nothing acknowledged was lost
        assert (pair.node_a.epoch, pair.node_b.epoch) == (2, 2)
        (lost,) = _events(caplog, "lease-lost")
        assert "epoch=1" in lost
        metrics = (await pair.a.get("/metrics")).text
        assert "ehr_step_downs_total 1.0" in metrics and 'ehr_role{role="standby"} 1.0' in metrics
        assert "ehr_lease_held 0.0" in metrics
