from harness.checks import Outcome, check_failover_time, first_sustained_success
from harness.timeline import RequestRecord


def series(spec: str, start: float = 100.0, step: float = 0.1) -> list[RequestRecord]:
    """'o' = ok, 'x' = error, one request every ``step`` seconds from ``start``."""
    return [RequestRecord(start + i * step, 0.01, "probe", "ehr", "read", c == "o") for i, c in enumerate(spec)]


def test_failover_time_is_from_fault_start_to_first_sustained_success() -> None:
    # fault at 100.0; errors for 2.0 s (20 requests), then successes
    reqs = series("x" * 20 + "o" * 30)
    verdict = check_failover_time("rto", reqs, "cut", 100.0, max_seconds=3.0, sustained=1.0, min_success_rate=1.0)
    assert verdict.outcome is Outcome.PASS
    assert abs(verdict.evidence["failover_time"] - 2.0) < 1e-9


def test_a_lone_success_in_the_outage_does_not_count_as_recovery() -> None:
    reqs = series("xxxxxoxxxx" + "o" * 30)
    back = first_sustained_success(reqs, 100.0, sustained=0.5, min_success_rate=1.0)
    assert back is not None and abs(back - 101.0) < 1e-9


def test_over_the_objective_fails() -> None:
    reqs = series("x" * 50 + "o" * 30)
    verdict = check_failover_time("rto", reqs, "cut", 100.0, max_seconds=3.0, sustained=1.0, min_success_rate=1.0)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.measured == "5s"


def test_never_back_fails_and_a_window_cut_by_the_end_of_the_run_is_not_recovery() -> None:
    reqs = series("x" * 20 + "o" * 5)  # only 0.5 s of successes before the run ends
    verdict = check_failover_time("rto", reqs, "cut", 100.0, max_seconds=30.0, sustained=1.0, min_success_rate=1.0)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.measured == "never"


def test_no_traffic_after_the_fault_is_unknown_not_pass() -> None:
    reqs = series("oooo", start=90.0)
    verdict = check_failover_time("rto", reqs, "cut", 100.0, max_seconds=3.0, sustained=1.0, min_success_rate=1.0)
    assert verdict.outcome is Outcome.UNKNOWN


def test_fault_never_injected_is_unknown() -> None:
    verdict = check_failover_time("rto", series("ooo"), "cut", None, 3.0, 1.0, 1.0)
    assert verdict.outcome is Outcome.UNKNOWN


def test_min_success_rate_below_one_tolerates_stragglers() -> None:
    reqs = series("x" * 10 + "oooooxoooo" + "o" * 20)
    strict = first_sustained_success(reqs, 100.0, 1.0, 1.0)
    lenient = first_sustained_success(reqs, 100.0, 1.0, 0.9)
    assert lenient is not None and strict is not None
    assert abs(lenient - 101.0) < 1e-9
    assert strict > lenient
