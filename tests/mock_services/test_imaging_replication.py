"""Archive -> replica replication, in-process: the archive's shipper posts to the replica
app through a :class:`CuttableLink` that a test can cut (replication interval 0.05 s)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pydicom.uid import generate_uid

from mock_services.imaging import multipart
from mock_services.imaging import stow as stow_module
from mock_services.imaging.part10 import FailureReason, InvalidInstance, parse_part10
from mock_services.imaging.store import Source
from mock_services.imaging.testing import eventually, make_part10, running_pair, split_multipart, stow_body

pytestmark = pytest.mark.anyio
ARRIVAL = 3.0  # seconds; replication takes a round trip, this is margin for a loaded machine


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _events(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mock_services.imaging")


async def stow(client: httpx.AsyncClient, files: list[bytes]) -> httpx.Response:
    body, headers = stow_body(files)
    return await client.post("/studies", content=body, headers=headers)


async def has(client: httpx.AsyncClient, sop_uid: str) -> bool:
    response = await client.get("/instances", params={"SOPInstanceUID": sop_uid})
    return response.status_code == 200 and response.json() != []  # no match: 200 with []


async def health(client: httpx.AsyncClient) -> dict[str, Any]:
    document = (await client.get("/health")).json()
    assert isinstance(document, dict)
    return document


async def drained(archive: httpx.AsyncClient) -> None:
    """Wait until the archive has the replica's answer for everything (its copy may land on
    the replica a moment before the archive reads the answer)."""

    async def empty() -> bool:
        return bool((await health(archive))["replication"]["backlog"] == 0)

    await eventually(empty, ARRIVAL, "archive outbox drained")


async def test_stowed_instances_reach_the_replica_byte_for_byte(tmp_path: Path) -> None:
    async with running_pair(tmp_path) as pair:
        study = generate_uid()
        files = [make_part10(study_uid=study, instance_number=n) for n in range(1, 4)]
        assert (await stow(pair.archive, files)).status_code == 200
        sops = [parse_part10(f).sop_uid for f in files]

        async def all_arrived() -> bool:
            return all([await has(pair.replica, sop) for sop in sops])

        await eventually(all_arrived, ARRIVAL, "3 instances on the replica")
        replica_copy = await pair.replica.get(f"/studies/{study}")
        archive_copy = await pair.archive.get(f"/studies/{study}")
        assert replica_copy.status_code == archive_copy.status_code == 200
        assert sorted(_parts(replica_copy)) == sorted(files)
        await drained(pair.archive)
        archive_health, replica_health = await health(pair.archive), await health(pair.replica)
        assert archive_health["replication"]["backlog"] == 0
        assert archive_health["replication"]["shipped_total"] == 3
        assert archive_health["replication"]["replica_reachable"] is True
        assert replica_health["replication"]["received_total"] == 3
        stored = pair.replica_service.store.get(sops[0])
        assert stored is not None and stored.source is Source.REPLICATION
        assert pair.replica_service.store.backlog() == 0  # a replica queues nothing further


def _parts(response: httpx.Response) -> list[bytes]:
    return split_multipart(response.headers["content-type"], response.content)


async def test_a_cut_link_queues_and_healing_delivers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_pair(tmp_path) as pair:
        pair.link.cut = True
        data = make_part10()
        sop = parse_part10(data).sop_uid
        assert (await stow(pair.archive, [data])).status_code == 200

        async def reported_unreachable() -> bool:
            return bool((await health(pair.archive))["replication"]["replica_reachable"] is False)

        await eventually(reported_unreachable, ARRIVAL, "archive reports the replica unreachable")
        assert not await has(pair.replica, sop)  # what it has not received, it does not serve
        assert (await pair.replica.get(f"/studies/{parse_part10(data).study_uid}")).status_code == 404
        assert (await health(pair.archive))["replication"]["backlog"] == 1
        assert "event=replica-unreachable" in caplog.text
        pair.link.cut = False
        await eventually(lambda: has(pair.replica, sop), ARRIVAL, "queued instance delivered after healing")
        await drained(pair.archive)
        assert "event=replica-reachable" in caplog.text
        # One line per transition, not one per retry.
        assert caplog.text.count("event=replica-unreachable") == 1


async def test_an_instance_the_replica_refuses_is_dropped_not_retried_forever(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_pair(tmp_path) as pair:
        pair.link.cut = True
        sop = generate_uid()
        theirs = make_part10(sop_uid=sop, patient_id="REPLICA-VERSION")
        replica_store = pair.replica_service.store
        replica_store.store_batch([(parse_part10(theirs), theirs)], Source.REPLICATION, queue_for_replica=False)
        good = make_part10()
        assert (await stow(pair.archive, [make_part10(sop_uid=sop), good])).status_code == 200
        pair.link.cut = False
        await drained(pair.archive)
        assert "event=replication-rejected count=1" in caplog.text
        assert await has(pair.replica, parse_part10(good).sop_uid)  # the rest of the batch went through


async def test_seed_data_is_on_both_and_not_shipped(tmp_path: Path) -> None:
    async with running_pair(tmp_path, patients=10) as pair:
        archive, replica = await health(pair.archive), await health(pair.replica)
        assert archive["instances"] == replica["instances"] > 0
        assert archive["replication"]["backlog"] == 0
        assert replica["replication"]["received_total"] == 0


async def test_an_error_inside_a_running_pair_still_shuts_both_down(tmp_path: Path) -> None:
    # Regression: cancelling the shipper just after a STOW woke it hung the archive's
    # lifespan forever (asyncio.wait_for's inner task), so one failing assertion in a test
    # -- or a SIGTERM right after a store -- never finished. The bound turns a hang into a
    # failure; a clean shutdown takes well under a second.
    with anyio.move_on_after(20) as bound:
        with pytest.raises(RuntimeError, match="inside the pair"):
            async with running_pair(tmp_path) as pair:
                assert (await stow(pair.archive, [make_part10()])).status_code == 200
                raise RuntimeError("inside the pair")
    assert not bound.cancel_called, "the pair did not shut down: its shutdown had to be cancelled"


async def test_a_batch_the_replica_cannot_read_at_all_is_dropped_not_retried_forever(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A STOW whose every part is unreadable is a 400 (PS3.18 Table 10.5.3-1, "bad syntax")
    # carrying a Store Instances Response that lists each failure: an answer, like a 409.
    async with running_pair(tmp_path) as pair:
        pair.link.cut = True
        assert (await stow(pair.archive, [make_part10()])).status_code == 200

        def unreadable(data: bytes) -> Any:
            raise InvalidInstance(FailureReason.CANNOT_UNDERSTAND, "replica cannot read this (test)")

        monkeypatch.setattr(stow_module, "parse_part10", unreadable)
        pair.link.cut = False
        await drained(pair.archive)
        assert "event=replication-rejected count=1" in caplog.text


async def test_a_replica_error_that_names_no_instance_keeps_the_batch_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_pair(tmp_path) as pair:
        pair.link.cut = True
        assert (await stow(pair.archive, [make_part10()])).status_code == 200

        def broken(body: bytes, boundary: str) -> Any:
            raise multipart.MultipartError("cannot split (test)")

        monkeypatch.setattr(stow_module.multipart, "decode", broken)  # a 400 error, no store response
        pair.link.cut = False

        async def failed_once() -> bool:
            return "HTTP 400" in str((await health(pair.archive))["replication"]["last_error"])

        await eventually(failed_once, ARRIVAL, "the shipper saw the replica's 400")
        assert pair.archive_service.store.backlog() == 1  # still queued: nothing was answered for it
