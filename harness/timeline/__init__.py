"""The run's timeline: one append-only event log on one clock (requests, faults, phases,
processes). Checkers are pure functions of it, so a run can be re-judged offline."""

from harness.timeline.events import (
    AbortRecord,
    FaultRecord,
    HaltRecord,
    NotificationRecord,
    PhaseRecord,
    ProcessRecord,
    RequestRecord,
    RequestTap,
    TimelineRecord,
    record_from_dict,
    record_to_dict,
)
from harness.timeline.log import TIMELINE_FILE, TimelineWriter, read_timeline

__all__ = [
    "TIMELINE_FILE",
    "AbortRecord",
    "FaultRecord",
    "HaltRecord",
    "NotificationRecord",
    "PhaseRecord",
    "ProcessRecord",
    "RequestRecord",
    "RequestTap",
    "TimelineRecord",
    "TimelineWriter",
    "read_timeline",
    "record_from_dict",
    "record_to_dict",
]
