"""The contract between the harness and its Locust processes.

The harness writes a :class:`LoadPlan` as JSON into the run folder and starts Locust with
``HCHAOS_LOAD_PLAN`` pointing at it. Locust's processes write back, into the same folder:

* ``load-requests.jsonl`` -- one line per request, in the timeline's ``RequestRecord``
  format (``kind: "request"``, ``source: "load"``), written by the standalone or master
  process only; workers ship their records to the master inside Locust's own periodic stats
  report, so the records and Locust's counts travel in the same message and cannot drift;
* ``load-summary.json`` -- written once at the end by the same process: Locust's own request
  and failure counts next to the number of records written (they must be equal);
* the harness asks for a graceful stop by creating ``load.stop``.

Pure Python on purpose: imported by the harness and by the Locust side, never imports Locust.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PLAN_ENV = "HCHAOS_LOAD_PLAN"
"""Environment variable naming the plan file for the Locust processes."""

PLAN_FILE = "load-plan.json"
RECORDS_FILE = "load-requests.jsonl"
SUMMARY_FILE = "load-summary.json"
STOP_FILE = "load.stop"
LOG_FILE = "locust.log"

RECORD_SOURCE = "load"
"""``source`` of every request record written by the load (the prober's is ``probe``)."""


@dataclass(frozen=True)
class Stage:
    """Until ``until`` seconds after the load started, aim at ``users`` users, starting or
    stopping them at ``spawn_rate`` per second (Locust's LoadTestShape semantics)."""

    until: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class PersonaPlan:
    """A persona's share of the users and its task weights (task name -> weight > 0; tasks
    left out are not run)."""

    weight: float
    tasks: dict[str, float]


@dataclass(frozen=True)
class LoadPlan:
    """Everything a Locust process needs to run the experiment's load.

    ``http_targets`` maps a service to its base URL (the front door); ``mllp_targets`` are
    the HL7 engines as ``[host, port]``, preferred first. ``stages`` are in time order and the
    load stops after the last one (or earlier on ``stop_path``); ``patients`` is the number of
    synthetic patients the services loaded (ids ``p000001``...; 0: users register their own).
    Paths are absolute.
    """

    run_id: str
    http_targets: dict[str, str]
    mllp_targets: list[tuple[str, int]]
    personas: dict[str, PersonaPlan]
    stages: list[Stage]
    think_time: tuple[float, float] = (0.5, 1.5)
    timeout: float = 2.0
    patients: int = 0
    seed: int = 2024
    records_path: str = ""
    summary_path: str = ""
    stop_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds from the load's start to the end of its last stage."""
        return self.stages[-1].until if self.stages else 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> LoadPlan:
        data = json.loads(text)
        return cls(
            run_id=data["run_id"],
            http_targets=dict(data["http_targets"]),
            mllp_targets=[(str(host), int(port)) for host, port in data["mllp_targets"]],
            personas={name: PersonaPlan(float(p["weight"]), {k: float(v) for k, v in p["tasks"].items()})
                      for name, p in data["personas"].items()},
            stages=[Stage(float(s["until"]), int(s["users"]), float(s["spawn_rate"])) for s in data["stages"]],
            think_time=(float(data["think_time"][0]), float(data["think_time"][1])),
            timeout=float(data["timeout"]),
            patients=int(data["patients"]),
            seed=int(data["seed"]),
            records_path=data["records_path"],
            summary_path=data["summary_path"],
            stop_path=data["stop_path"],
            extra=dict(data.get("extra", {})),
        )

    @classmethod
    def read(cls, path: Path) -> LoadPlan:
        return cls.from_json(path.read_text(encoding="utf-8"))
