"""The EHR's view of its lease: counted from before the request, dropped on step-down, and
every witness failure is "no answer"."""

from __future__ import annotations

import json

import httpx
import pytest

from mock_services.ehr.lease import SAFETY, Lease, WitnessClient

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _lease(handler: httpx.MockTransport, clock: Clock) -> Lease:
    client = WitnessClient("http://witness.test", transport=handler)
    return Lease(client, cluster="ehr", holder="ehr-a", ttl=2.0, max_timeout=0.5, clock=clock)


async def test_a_grant_counts_from_before_the_request_with_a_safety_margin() -> None:
    clock = Clock()

    def witness(request: httpx.Request) -> httpx.Response:
        clock.now += 0.3  # the answer takes 0.3 s: the holder must not count that time as its own
        body = json.loads(request.content)
        return httpx.Response(200, json={"granted": True, "reason": "acquired", "holder": body["holder"], "epoch": 3})

    lease = _lease(httpx.MockTransport(witness), clock)
    answer = await lease.request(3)

    assert answer is not None and answer.granted and lease.known_epoch == 3
    assert lease.remaining() == pytest.approx(SAFETY * 2.0 - 0.3)
    clock.now = 100.0 + SAFETY * 2.0
    assert not lease.held()


async def test_refusals_and_failures_leave_no_lease() -> None:
    clock = Clock()
    answers = iter(
        [
            httpx.Response(409, json={"granted": False, "reason": "held", "holder": "ehr-b", "epoch": 5}),
            httpx.Response(500, text="boom"),
            httpx.Response(200, json={"granted": "yes"}),
        ]
    )
    lease = _lease(httpx.MockTransport(lambda request: next(answers)), clock)

    refused = await lease.request(2)
    assert refused is not None and not refused.granted and refused.holder == "ehr-b"
    assert lease.known_epoch == 5 and not lease.held()
    assert await lease.request(6) is None and lease.reachable is False  # HTTP 500: no answer
    assert await lease.request(6) is None  # an answer outside the protocol: no answer either
    assert lease.document()["held"] is False


async def test_a_renewal_answered_after_a_step_down_does_not_count() -> None:
    clock = Clock()
    lease: Lease | None = None

    def witness(request: httpx.Request) -> httpx.Response:
        assert lease is not None
        lease.drop()  # the node stepped down while the renewal was in flight
        return httpx.Response(200, json={"granted": True, "reason": "renewed", "holder": "ehr-a", "epoch": 1})

    lease = _lease(httpx.MockTransport(witness), clock)
    assert (await lease.request(1)) is not None
    assert not lease.held()
