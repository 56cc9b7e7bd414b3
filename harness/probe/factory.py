"""The prober for a target: chosen by the protocol the target speaks, never by its name."""

from __future__ import annotations

from harness.probe.prober import FhirProber, Prober, ProberSettings
from harness.probe.sockets import MllpProber, TcpProber
from harness.probe.stats import LiveStats
from harness.probe.target import ProbeProtocol
from harness.probe.web import DicomwebProber, HttpProber
from harness.timeline import RequestTap, TimelineWriter

PROBERS: dict[ProbeProtocol, type[Prober]] = {
    "fhir-r4": FhirProber,
    "http": HttpProber,
    "dicomweb": DicomwebProber,
    "hl7v2-mllp": MllpProber,
    "tcp": TcpProber,
}
"""The prober class of each protocol (every one of :data:`~harness.probe.target.PROTOCOLS`)."""


def make_prober(settings: ProberSettings, timeline: TimelineWriter, stats: LiveStats | None = None,
                tap: RequestTap | None = None) -> Prober:
    """A prober (not started) of ``settings.target`` in its protocol, recording on ``timeline``."""
    return PROBERS[settings.target.protocol](settings, timeline, stats, tap)
