"""Deliberate interruption: signals only request a stop; code stops at its safe points."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from harness.interrupt import NEVER, POLL, Interrupted, Interruption, deferred_interrupts, signal_name
from harness.toxiproxy import ToxiproxyClient, ToxiproxyFleet
from harness.toxiproxy.fake import FakeToxiproxy


def test_a_request_is_noticed_at_the_next_check_and_not_before() -> None:
    interruption = Interruption()
    interruption.check()  # nothing requested: a no-op
    interruption.request(signal.SIGTERM)
    interruption.request(signal.SIGINT)  # the first one is kept, the others counted
    with pytest.raises(Interrupted) as caught:
        interruption.check()
    assert caught.value.signum == signal.SIGTERM and interruption.count == 2
    assert str(caught.value) == "received SIGTERM"


def test_sleep_ends_early_when_a_stop_is_requested_from_another_thread() -> None:
    interruption = Interruption()
    threading.Timer(0.1, interruption.request).start()
    started = time.monotonic()
    with pytest.raises(Interrupted):
        interruption.sleep(30)
    assert time.monotonic() - started < 30  # it did not sleep it out
    assert signal_name(None) == "a stop request" and signal_name(signal.SIGINT) == "SIGINT (Ctrl-C)"


def test_never_cannot_be_requested() -> None:
    NEVER.check()
    NEVER.sleep(POLL)
    with pytest.raises(RuntimeError, match="nobody requests"):
        NEVER.request()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_under_deferred_interrupts_a_signal_raises_nothing_until_a_safe_point(sig: signal.Signals) -> None:
    interruption = Interruption()
    before = signal.getsignal(sig)
    with deferred_interrupts(interruption):
        os.kill(os.getpid(), sig)
        for _ in range(1000):  # plenty of bytecodes for a handler to run in
            pass
        assert interruption.requested and interruption.signum == sig
        with pytest.raises(Interrupted):
            interruption.check()
    assert signal.getsignal(sig) == before


def test_a_storm_of_ctrl_c_never_lands_inside_a_thread_pool() -> None:
    """The campaign's traceback: a KeyboardInterrupt inside Thread.start() under the fleet's
    pool (``RuntimeError: release unlocked lock``). Under deferred interrupts, a hundred
    SIGINTs while batches of Toxiproxy calls start threads change nothing but the flag."""
    fake = FakeToxiproxy()
    interruption = Interruption()
    stop = threading.Event()

    def storm() -> None:
        while not stop.is_set():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.002)

    with deferred_interrupts(interruption):
        sender = threading.Thread(target=storm)
        sender.start()
        try:
            for _ in range(100):
                # A fresh pool every time: every batch starts new threads.
                client = ToxiproxyClient("http://fake-toxiproxy", transport=fake.transport)
                with ToxiproxyFleet([client], max_workers=8) as fleet:
                    results = fleet.run_concurrently([client.version] * 8)
                assert len(results) == 8
        finally:
            stop.set()
            sender.join()
    assert interruption.count > 10  # the storm did hit the process


def test_an_abort_file_is_a_stop_request_at_the_next_safe_point(tmp_path: Path) -> None:
    interruption = Interruption()
    interruption.watch_abort(tmp_path / "abort.request")
    interruption.check()  # no file: nothing
    (tmp_path / "abort.request").write_text("{}")
    with pytest.raises(Interrupted) as raised:
        interruption.sleep(1)
    assert raised.value.aborted and raised.value.signum is None
    interruption.clear_abort()
    interruption.check()  # obeyed and forgotten
    # a signal after an abort request makes it an interruption (exit 130), not an abort
    second = Interruption()
    second.watch_abort(tmp_path / "abort.request")
    assert second.requested
    second.request(signal.SIGINT)
    second.clear_abort()
    with pytest.raises(Interrupted) as raised:
        second.check()
    assert not raised.value.aborted and raised.value.signum == signal.SIGINT
