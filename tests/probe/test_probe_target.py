"""Targets, settings and the choice of prober: by the protocol, whatever the service is called."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.probe import (
    PROBERS,
    PROTOCOLS,
    Attempt,
    DicomwebProber,
    FhirProber,
    HttpProber,
    MllpProber,
    Prober,
    ProberSettings,
    ProbeTarget,
    TcpProber,
    choose_protocol,
    make_prober,
)
from harness.timeline import RequestRecord, TimelineWriter, read_timeline

TARGETS = {
    "fhir-r4": ProbeTarget("labs", "fhir-r4", base_url="http://127.0.0.1:1"),
    "http": ProbeTarget("labs", "http", base_url="http://127.0.0.1:1", path="/health"),
    "dicomweb": ProbeTarget("labs", "dicomweb", base_url="http://127.0.0.1:1"),
    "hl7v2-mllp": ProbeTarget("labs", "hl7v2-mllp", host="127.0.0.1", port=1),
    "tcp": ProbeTarget("labs", "tcp", host="127.0.0.1", port=1),
}


def test_every_protocol_has_its_prober_chosen_by_protocol_not_by_name(tmp_path: Path) -> None:
    expected = {"fhir-r4": FhirProber, "http": HttpProber, "dicomweb": DicomwebProber, "hl7v2-mllp": MllpProber,
                "tcp": TcpProber}
    assert set(PROBERS) == set(PROTOCOLS) == set(expected)
    with TimelineWriter(tmp_path / "timeline.jsonl") as timeline:
        for protocol, target in TARGETS.items():
            prober = make_prober(ProberSettings(target, rate=5, timeout=1, mix={"read": 1}, run_id="r"), timeline)
            try:
                assert type(prober) is expected[protocol]
            finally:
                prober.stop()  # never started: stopping releases its pool and connections anyway
            prober.stop()  # idempotent


@pytest.mark.parametrize(("fields", "message"), [
    ({"protocol": "fhir-r4"}, "needs a base_url"),
    ({"protocol": "dicomweb", "host": "127.0.0.1", "port": 80}, "needs a base_url"),
    ({"protocol": "tcp", "base_url": "http://x"}, "needs a host and a port"),
    ({"protocol": "hl7v2-mllp", "host": "127.0.0.1"}, "needs a host and a port"),
    ({"protocol": "tcp", "host": "127.0.0.1", "port": 70000}, "not in 1..65535"),
    ({"protocol": "http", "base_url": "http://x", "path": "health"}, "must start with '/'"),
    ({"protocol": "http", "base_url": "http://x", "ok_status": ()}, "ok_status is empty"),
    ({"protocol": "smtp", "host": "127.0.0.1", "port": 25}, "unknown protocol 'smtp'"),
])
def test_a_target_missing_what_its_protocol_needs_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        ProbeTarget("my-service", **fields)  # type: ignore[arg-type]
    assert "'my-service'" in str(error.value)


def test_settings_refuse_a_rate_or_timeout_of_zero_and_a_fhir_mix_without_weight() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        ProberSettings(TARGETS["tcp"], rate=0, timeout=1, mix={}, run_id="r")
    with pytest.raises(ValueError, match="must be > 0"):
        ProberSettings(TARGETS["tcp"], rate=1, timeout=0, mix={}, run_id="r")
    with pytest.raises(ValueError, match="no weight"):
        ProberSettings(TARGETS["fhir-r4"], rate=1, timeout=1, mix={"read": 0, "delete": 1}, run_id="r")
    ProberSettings(TARGETS["http"], rate=1, timeout=1, mix={}, run_id="r")  # the mix is FHIR's only


class _Broken(Prober):
    def _attempt(self, operation: str) -> Attempt:
        raise KeyError("a bug")


def test_a_protocol_that_raises_still_records_the_request_once(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    seen: list[tuple[str, bool]] = []
    with TimelineWriter(path) as timeline:
        prober = _Broken(ProberSettings(TARGETS["http"], rate=5, timeout=1, mix={}, run_id="r"), timeline,
                         tap=lambda service, t, duration, ok: seen.append((service, ok)))
        prober._one_request("read")
        prober.stop()
    [record] = [r for r in read_timeline(path) if isinstance(r, RequestRecord)]
    assert (record.ok, record.error, record.service, record.operation) == (False, "KeyError", "labs", "read")
    assert seen == [("labs", False)] and prober.stats.errors == 1


def test_the_protocol_probed_is_the_most_specific_one_the_service_speaks() -> None:
    assert choose_protocol(["http", "fhir-r4"]) == "fhir-r4"
    assert choose_protocol(["tcp", "http", "hl7v2-mllp"]) == "hl7v2-mllp"
    assert choose_protocol(["http", "dicomweb"]) == "dicomweb"
    assert choose_protocol(["tcp", "http"]) == "http"
    assert choose_protocol(["tcp"]) == "tcp"
    assert choose_protocol(["smtp"]) is None and choose_protocol([]) is None
