"""Store and forward: a thread that delivers queued messages to the FHIR destination, in order.

The queue is the store's ``queued`` rows of one destination ordered by ``queue_pos``; the
forwarder takes the head, delivers it, and records the outcome *in the store* (so it
survives restarts, SIGKILL included: a message whose delivery was in flight stays queued
and is delivered again after restart -- at-least-once, which the receiver's de-duplication
makes exactly-once when ``--dedup-key on``).

On a failed attempt (connection error, timeout -- including a timeout *after* the request
was sent, where the destination may have acted on it -- or any answer other than 200/201):

* attempts reaching ``--forward-max-attempts`` (if not 0) -> ``errored``, and the queue moves on;
* without ``--rotate``: the head is retried every ``--forward-retry-interval``, and nothing
  behind it moves -- head-of-line blocking, on purpose (experiments show it);
* with ``--rotate`` (Mirth's "rotate queue"): the message goes to the back of the queue and
  the next one is tried at once; the forwarder sleeps one retry interval only after as many
  consecutive failures as there are queued messages (a full round without success, e.g.
  the destination is down), so a dead destination is not hammered.

Delivery itself (HTTP, FHIR, de-duplication) is :mod:`.destination`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mock_services.messaging.eventlog import log_event
from mock_services.messaging.metrics import Metrics
from mock_services.messaging.store import Reader, Store, StoredMessage


class DeliveryError(Exception):
    """One delivery attempt failed (the text says how); the message stays queued or is errored."""


class Forwarder:
    """The forwarding thread of one destination (see the module docstring).

    ``deliver`` is the delivery function (``FhirDestination.deliver`` in the engine, anything
    in tests). ``start``/``stop``; ``stop`` waits at most ``join_timeout`` for an attempt in
    flight (its message stays queued if it does not finish: delivered again at next start).
    """

    def __init__(
        self,
        store: Store,
        destination: str,
        deliver: Callable[[StoredMessage], list[str]],
        metrics: Metrics,
        *,
        retry_interval: float,
        max_attempts: int,
        rotate: bool,
    ) -> None:
        self.store = store
        self.destination = destination
        self.deliver = deliver
        self.metrics = metrics
        self.retry_interval = retry_interval
        self.max_attempts = max_attempts
        self.rotate = rotate
        self._reader: Reader = store.reader()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"msg-forwarder-{destination}", daemon=True)
        self._failing = False  # for logging transitions only

    def start(self) -> None:
        self._thread.start()

    def stop(self, join_timeout: float = 2.0) -> bool:
        """Ask the thread to stop; True if it did within ``join_timeout``."""
        self._stop.set()
        self.store.queued.set()
        if self._thread.is_alive():
            self._thread.join(join_timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        consecutive_failures = 0
        while not self._stop.is_set():
            try:
                head = self._reader.head(self.destination)
                if head is None:
                    self.store.queued.wait(timeout=1.0)
                    self.store.queued.clear()
                    continue
                if self._attempt(head):
                    consecutive_failures = 0
                    continue
                consecutive_failures += 1
                if not self.rotate or consecutive_failures >= max(1, self._reader.queue_stats()[0]):
                    consecutive_failures = 0
                    self._stop.wait(self.retry_interval)
            except Exception as error:  # the store is closing, or a bug: never die silently
                if self._stop.is_set():
                    return
                log_event("forwarder-error", level=logging.ERROR, error=repr(error))
                self._stop.wait(self.retry_interval)

    def _attempt(self, head: StoredMessage) -> bool:
        attempts = head.attempts + 1
        if head.attempts:
            self.metrics.forward_retries.labels(self.destination).inc()
        started = time.monotonic()
        try:
            references = self.deliver(head)
        except Exception as error:  # DeliveryError, or a mapping bug: the message must not be lost
            outcome = self._failed(head, attempts, error)
            self.metrics.forward_attempts.labels(self.destination, outcome).inc()
            return False
        finally:
            self.metrics.forward_attempt_seconds.labels(self.destination).observe(time.monotonic() - started)
        self.store.mark_delivered(head.seq, attempts, references)
        self.metrics.forward_attempts.labels(self.destination, "delivered").inc()
        self.metrics.forwarded.labels(self.destination, head.message_type).inc()
        self.metrics.forward_latency.labels(self.destination).observe(max(0.0, time.time() - head.received_at))
        if self._failing:
            self._failing = False
            log_event("forward-recovered", destination=self.destination, seq=head.seq, attempts=attempts)
        return True

    def _failed(self, head: StoredMessage, attempts: int, error: Exception) -> str:
        text = str(error) if isinstance(error, DeliveryError) else f"{type(error).__name__}: {error}"
        give_up = self.max_attempts > 0 and attempts >= self.max_attempts
        self.store.mark_failed(head.seq, attempts, text, give_up=give_up, rotate=self.rotate)
        if give_up:
            log_event(
                "forward-gave-up",
                level=logging.WARNING,
                seq=head.seq,
                control_id=head.control_id,
                attempts=attempts,
                error=text,
            )
            return "errored"
        if not self._failing:
            self._failing = True
            log_event(
                "forward-failed",
                level=logging.WARNING,
                destination=self.destination,
                seq=head.seq,
                control_id=head.control_id,
                error=text,
            )
        return "failed"
