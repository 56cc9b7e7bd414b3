"""Shared by the spike scripts: the request schema, the operation classes the checkers need,
and the run's small event lists (phases, faults) read from ``events.jsonl``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

# JSON side: what scan_ndjson is told. Int16 is NOT accepted here by polars 2.1 (panics:
# "unexpected dtype when deserializing ndjson"): parse as Int64, cast afterwards.
JSON_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(), "t": pl.Float64(), "duration": pl.Float64(), "source": pl.String(),
    "service": pl.String(), "operation": pl.String(), "ok": pl.Boolean(), "status": pl.Int64(),
    "error": pl.String(), "served_by": pl.String(), "datacenter": pl.String(), "resource_id": pl.String(),
    "version": pl.String(), "persona": pl.String(), "user": pl.String(), "message_id": pl.String(),
    "ack_code": pl.String(), "instance_uid": pl.String(),
}
# low-cardinality strings: dictionary-encoded in Parquet, Categorical in polars
CATEGORICAL = ["source", "service", "operation", "error", "served_by", "datacenter", "version", "persona",
               "user", "ack_code"]
# high-cardinality identifiers stay plain strings
IDENTIFIERS = ["resource_id", "message_id", "instance_uid"]

FHIR_WRITES = ["ehr: POST Observation (vital signs)", "ehr: POST MedicationAdministration",
               "ehr: POST Observation (progress note)", "ehr: POST MedicationRequest",
               "ehr: PUT MedicationRequest/{id}", "create"]
FHIR_READS = ["ehr: GET Patient/{id}", "ehr: GET Observation/{id} (read back)", "read"]
HL7_WRITES = ["messaging: ORU^R01"]
STOW_WRITES = ["imaging: POST /studies (STOW-RS)"]
ALL_WRITES = FHIR_WRITES + HL7_WRITES + STOW_WRITES

SERVICES = ["ehr", "imaging", "labs", "messaging", "scheduling"]  # from the experiment

RTO_WINDOW = 1.0
RTO_MIN_SUCCESS = 0.99
RECONNECT_BOUND = 30.0


@dataclass(frozen=True)
class Events:
    phases: dict[str, tuple[float, float]]
    injects: dict[str, tuple[float, float, str]]  # fault -> (inject t, heal t, target)


def read_events(path: Path) -> Events:
    starts: dict[str, float] = {}
    phases: dict[str, tuple[float, float]] = {}
    injected: dict[str, tuple[float, str]] = {}
    faults: dict[str, tuple[float, float, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["kind"] == "phase":
            if r["action"] == "start":
                starts[r["phase"]] = r["t"]
            else:
                phases[r["phase"]] = (starts[r["phase"]], r["t"])
        elif r["kind"] == "fault":
            if r["action"] == "inject":
                injected[r["fault"]] = (r["t"], r["target"])
            else:
                t0, target = injected[r["fault"]]
                faults[r["fault"]] = (t0, r["t"], target)
    return Events(phases, faults)
