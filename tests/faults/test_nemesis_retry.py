import pytest

from harness.faults.nemesis import _retry_once
from harness.toxiproxy import ToxiproxyUnreachable


def test_a_heal_call_that_timed_out_is_tried_once_more() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ToxiproxyUnreachable("http://x", "DELETE", "/p", "no answer within 1 s", timeout=1.0)
        return "healed"

    assert _retry_once(flaky) == "healed"
    assert len(calls) == 2


def test_a_heal_call_that_keeps_timing_out_raises() -> None:
    def stuck() -> None:
        raise ToxiproxyUnreachable("http://x", "DELETE", "/p", "no answer within 1 s", timeout=1.0)

    with pytest.raises(ToxiproxyUnreachable):
        _retry_once(stuck)
