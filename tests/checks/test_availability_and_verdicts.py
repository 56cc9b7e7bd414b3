from harness.checks import Outcome, Verdict, check_availability, guarded, worst
from harness.checks.windows import Window, percentile
from harness.timeline import RequestRecord


def req(t: float, ok: bool = True, duration: float = 0.01) -> RequestRecord:
    return RequestRecord(t, duration, "probe", "ehr", "read", ok)


WINDOWS = {"steady_state": Window(0.0, 10.0), "recovery": Window(20.0, 30.0)}


def test_pass_within_bounds() -> None:
    reqs = [req(i * 0.1) for i in range(100)] + [req(20 + i * 0.1) for i in range(100)]
    verdict = check_availability("a", reqs, WINDOWS, ["steady_state", "recovery"], 0.01, 0.05)
    assert verdict.outcome is Outcome.PASS
    assert verdict.evidence["phases"]["recovery"]["requests"] == 100


def test_error_rate_over_bound_fails_naming_the_phase() -> None:
    reqs = [req(i * 0.1, ok=i % 10 != 0) for i in range(100)]
    verdict = check_availability("a", reqs, WINDOWS, ["steady_state"], 0.01, 0.05)
    assert verdict.outcome is Outcome.FAIL
    assert "steady_state: error rate 10.0%" in verdict.summary


def test_p95_over_bound_fails() -> None:
    reqs = [req(i * 0.1, duration=0.3 if i % 4 == 0 else 0.01) for i in range(100)]
    verdict = check_availability("a", reqs, WINDOWS, ["steady_state"], 0.5, 0.25)
    assert verdict.outcome is Outcome.FAIL
    assert "p95 300ms > 250ms" in verdict.summary


def test_no_traffic_in_a_window_is_unknown() -> None:
    reqs = [req(i * 0.1) for i in range(100)]
    verdict = check_availability("a", reqs, WINDOWS, ["steady_state", "recovery"], 0.01, 0.05)
    assert verdict.outcome is Outcome.UNKNOWN
    assert "no request in recovery" in verdict.summary


def test_requests_outside_the_window_do_not_count() -> None:
    reqs = [req(i * 0.1) for i in range(100)] + [req(15.0, ok=False)] * 50
    assert check_availability("a", reqs, WINDOWS, ["steady_state"], 0.0, 0.05).outcome is Outcome.PASS


def test_worst_wins_and_nothing_is_unknown() -> None:
    assert worst([Outcome.PASS, Outcome.UNKNOWN]) is Outcome.UNKNOWN
    assert worst([Outcome.UNKNOWN, Outcome.FAIL, Outcome.PASS]) is Outcome.FAIL
    assert worst([Outcome.PASS]) is Outcome.PASS
    assert worst([]) is Outcome.UNKNOWN


def test_a_crashing_checker_gives_unknown() -> None:
    def boom() -> Verdict:
        raise ZeroDivisionError("oops")

    verdict = guarded("x", "availability", boom)
    assert verdict.outcome is Outcome.UNKNOWN
    assert "ZeroDivisionError" in verdict.summary


def test_percentile_nearest_rank() -> None:
    values = [float(i) for i in range(1, 21)]
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 1.0) == 20.0
    assert percentile([5.0], 0.95) == 5.0


def test_a_request_still_in_flight_when_the_phase_ends_is_not_judged_in_it() -> None:
    from harness.checks.availability import check_availability
    from harness.checks.windows import Window
    from harness.timeline import RequestRecord

    requests = [RequestRecord(float(t), 0.01, "probe", "ehr", "read", True) for t in range(10)]
    # Started in the steady state, failed after the fault began at 10 s: the fault's, not the steady state's.
    requests.append(RequestRecord(9.9, 1.0, "probe", "ehr", "read", False, error="timeout"))
    verdict = check_availability("a", requests, {"steady_state": Window(0, 10)}, ["steady_state"], 0.0, 1.0)
    assert verdict.outcome.value == "pass", verdict
    assert verdict.evidence["phases"]["steady_state"]["requests"] == 10


def test_p99_is_reported_and_bounded_when_asked() -> None:
    from harness.checks.availability import check_availability
    from harness.checks.windows import Window
    from harness.timeline import RequestRecord

    requests = [RequestRecord(float(t) / 10, 0.01 if t < 98 else 2.0, "probe", "ehr", "read", True) for t in range(100)]
    free = check_availability("a", requests, {"steady_state": Window(0, 20)}, ["steady_state"], 0.0, 1.0)
    assert free.outcome.value == "pass" and free.evidence["phases"]["steady_state"]["p99"] == 2.0
    bounded = check_availability("a", requests, {"steady_state": Window(0, 20)}, ["steady_state"], 0.0, 1.0, 0.5)
    assert bounded.outcome.value == "fail" and "p99 2s > 500ms" in bounded.summary
