"""The built-in probers: steady requests to one service in the protocol it speaks, recorded on the timeline.

``make_prober(ProberSettings(target=ProbeTarget(...), ...), timeline)`` gives the prober of the
target's protocol (:data:`PROBERS`); every one is a :class:`Prober` (``start``, ``stop``, ``stats``).

Names are imported on first use (PEP 562): validating an experiment needs :class:`ProbeTarget`
and :func:`choose_protocol`, not httpx and the MLLP client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.lazy import lazy_exports

if TYPE_CHECKING:
    from harness.probe.factory import PROBERS, make_prober
    from harness.probe.prober import Attempt, FhirProber, Prober, ProberSettings
    from harness.probe.sockets import MllpProber, TcpProber
    from harness.probe.stats import LiveStats, StatsSnapshot
    from harness.probe.target import PROTOCOLS, ProbeProtocol, ProbeTarget, choose_protocol
    from harness.probe.web import DicomwebProber, HttpProber

_WHERE = {
    "PROBERS": "harness.probe.factory", "make_prober": "harness.probe.factory",
    "Attempt": "harness.probe.prober", "FhirProber": "harness.probe.prober", "Prober": "harness.probe.prober",
    "ProberSettings": "harness.probe.prober",
    "MllpProber": "harness.probe.sockets", "TcpProber": "harness.probe.sockets",
    "LiveStats": "harness.probe.stats", "StatsSnapshot": "harness.probe.stats",
    "PROTOCOLS": "harness.probe.target", "ProbeProtocol": "harness.probe.target", "ProbeTarget": "harness.probe.target",
    "choose_protocol": "harness.probe.target",
    "DicomwebProber": "harness.probe.web", "HttpProber": "harness.probe.web",
}

__all__ = [
    "PROBERS",
    "PROTOCOLS",
    "Attempt",
    "DicomwebProber",
    "FhirProber",
    "HttpProber",
    "LiveStats",
    "MllpProber",
    "ProbeProtocol",
    "ProbeTarget",
    "Prober",
    "ProberSettings",
    "StatsSnapshot",
    "TcpProber",
    "choose_protocol",
    "make_prober",
]


__getattr__ = lazy_exports(__name__, _WHERE)
