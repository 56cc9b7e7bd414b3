"""The built-in prober: steady FHIR requests through the front door, recorded on the timeline."""

from harness.probe.prober import ProbeConfig, Prober
from harness.probe.stats import LiveStats, StatsSnapshot

__all__ = ["LiveStats", "ProbeConfig", "Prober", "StatsSnapshot"]
