"""Fencing, the EHR's side: the primary lease it holds at the witness (``--fencing on``).

The witness (:mod:`mock_services.witness`) grants one lease per cluster: ``POST /lease
{cluster, holder, epoch, ttl}`` succeeds only if the lease is free, expired or already the
holder's, and only with an epoch >= the one it recorded. How the EHR uses it:

* A primary renews its lease every heartbeat. It counts the lease as valid until
  ``sent + SAFETY * ttl``, measured on its own monotonic clock from *before* the request was
  sent, while the witness counts ``received + ttl``: the holder always gives up first, so an
  old primary has stopped acknowledging writes before anyone else can be granted the lease.
* No valid lease, no writes: a primary whose lease ran out (witness unreachable or slow) or
  was refused (taken by a newer epoch) stops accepting writes at once and becomes a standby
  (:meth:`~.replication.Node.writable`; the renewal loop does the same in the background).
* A standby promotes only once the witness grants it the lease at ``max(own epoch, highest
  epoch the witness reported) + 1`` -- which requires the old primary's lease to have expired.

Every way a witness call can fail is :class:`WitnessUnavailable` (no answer), so callers
handle exactly: granted, refused (with the current holder and epoch), or no answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from mock_services.ehr.eventlog import log_event

SAFETY = 0.9  # the holder's share of the TTL (see the module docstring)
MIN_TIMEOUT = 0.05  # never send a request with less time than this to answer


class WitnessUnavailable(Exception):
    """The witness gave no usable answer; the message says what happened."""


@dataclass(frozen=True)
class LeaseAnswer:
    """The witness's answer: whether granted, and who holds the lease at which epoch now."""

    granted: bool
    holder: str | None
    epoch: int
    expires_in: float
    reason: str

    @classmethod
    def from_json(cls, data: object) -> LeaseAnswer:
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        granted, epoch, expires_in = data.get("granted"), data.get("epoch"), data.get("expires_in", 0.0)
        holder, reason = data.get("holder"), data.get("reason", "")
        if not isinstance(granted, bool) or not isinstance(epoch, int) or isinstance(epoch, bool):
            raise ValueError("'granted' must be a boolean and 'epoch' an integer")
        if not isinstance(expires_in, int | float) or not isinstance(reason, str):
            raise ValueError("'expires_in' must be a number and 'reason' a string")
        if holder is not None and not isinstance(holder, str):
            raise ValueError("'holder' must be a string or null")
        return cls(granted, holder, epoch, float(expires_in), reason)


class WitnessClient:
    """A keep-alive client of one witness. ``transport``: the testing seam (in-process witness)."""

    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url
        self._client = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            trust_env=False,  # the witness URL already is the (Toxiproxy) path to use
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=1),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def acquire(self, cluster: str, holder: str, epoch: int, ttl: float, *, timeout: float) -> LeaseAnswer:
        """``POST /lease``: acquire or renew. 200 = granted, 409 = refused; else unavailable."""
        body = {"cluster": cluster, "holder": holder, "epoch": epoch, "ttl": ttl}
        return await self._call("POST", "/lease", body, timeout)

    async def release(self, cluster: str, holder: str, *, timeout: float) -> None:
        """``POST /lease/release``: give the lease up early (graceful shutdown)."""
        await self._call("POST", "/lease/release", {"cluster": cluster, "holder": holder}, timeout)

    async def _call(self, method: str, path: str, body: dict[str, object], timeout: float) -> LeaseAnswer:
        try:
            response = await self._client.request(method, path, json=body, timeout=timeout)
        except httpx.TimeoutException as error:
            raise WitnessUnavailable(f"{method} {path}: no answer within {timeout:.2f} s") from error
        except httpx.HTTPError as error:
            raise WitnessUnavailable(f"{method} {path}: {type(error).__name__}: {error}") from error
        if response.status_code not in (200, 409):
            raise WitnessUnavailable(f"{method} {path}: HTTP {response.status_code}")
        try:
            return LeaseAnswer.from_json(json.loads(response.content))
        except ValueError as error:
            raise WitnessUnavailable(f"{method} {path}: answer outside the protocol ({error})") from error


class Lease:
    """This instance's view of its lease: held until a local deadline, renewed by :meth:`request`."""

    def __init__(
        self,
        client: WitnessClient,
        *,
        cluster: str,
        holder: str,
        ttl: float,
        max_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.cluster = cluster
        self.holder = holder
        self.ttl = ttl
        self._max_timeout = max_timeout
        self._clock = clock
        self._valid_until = 0.0
        self._generation = 0  # bumped by drop(): a renewal answered after a drop does not count
        self.known_epoch = 0  # the highest epoch the witness has reported
        self.reachable: bool | None = None
        self.last_answer: LeaseAnswer | None = None

    def held(self) -> bool:
        return self._clock() < self._valid_until

    def remaining(self) -> float:
        return max(0.0, self._valid_until - self._clock())

    def drop(self) -> None:
        """Stop counting on the lease (step-down); the witness lets it expire."""
        self._valid_until = 0.0
        self._generation += 1

    async def request(self, epoch: int) -> LeaseAnswer | None:
        """Acquire or renew at ``epoch``; the answer, or None if the witness did not answer.

        The request's timeout never outlasts a lease we hold, so a silent witness is noticed
        by the time the lease runs out.
        """
        sent, generation = self._clock(), self._generation
        budget = self.remaining() if self.held() else self.ttl / 2
        timeout = max(MIN_TIMEOUT, min(self._max_timeout, budget))
        try:
            answer = await self._client.acquire(self.cluster, self.holder, epoch, self.ttl, timeout=timeout)
        except WitnessUnavailable as error:
            self._set_reachable(False, str(error))
            return None
        self._set_reachable(True, "")
        self.last_answer = answer
        self.known_epoch = max(self.known_epoch, answer.epoch)
        if generation == self._generation:
            self._valid_until = sent + SAFETY * self.ttl if answer.granted else 0.0
        return answer

    async def release(self) -> None:
        """Best effort (shutdown): tell the witness we are done, so a successor need not wait."""
        self.drop()
        with contextlib.suppress(WitnessUnavailable):
            await self._client.release(self.cluster, self.holder, timeout=self._max_timeout)

    def document(self) -> dict[str, object]:
        answer = self.last_answer
        return {
            "witness": self._client.base_url,
            "cluster": self.cluster,
            "held": self.held(),
            "remaining": round(self.remaining(), 3),
            "ttl": self.ttl,
            "reachable": self.reachable,
            "known_epoch": self.known_epoch,
            "witness_holder": answer.holder if answer else None,
        }

    def _set_reachable(self, reachable: bool, detail: str) -> None:
        if reachable is not self.reachable:
            if reachable:
                log_event("witness-reachable", witness=self._client.base_url)
            else:
                log_event("witness-unreachable", level=logging.WARNING, witness=self._client.base_url, detail=detail)
            self.reachable = reachable
