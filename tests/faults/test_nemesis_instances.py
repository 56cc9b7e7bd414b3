"""The nemesis and instance faults, on a backend that records calls: journal first, heal rules."""

from __future__ import annotations

import json
from pathlib import Path

from harness.backends.base import Endpoints
from harness.backends.fake import NoProcessesBackend
from harness.faults import Nemesis
from harness.faults.plan import FaultPlan, InstanceAction
from harness.run.journal import Journal
from harness.toxiproxy.fake import FakeToxiproxy

URL = "http://fake-toxiproxy:8474"


class JournalCheckingBackend(NoProcessesBackend):
    """Records, at each instance call, whether the journal already held the fault's inject."""

    def __init__(self, journal_path: Path) -> None:
        super().__init__()
        self.journal_path = journal_path
        self.journaled_before: list[bool] = []

    def _journaled(self) -> bool:
        lines = [json.loads(line) for line in self.journal_path.read_text().splitlines()]
        return any(entry["type"] == "fault-inject" for entry in lines)

    def pause_instance(self, name: str) -> None:
        self.journaled_before.append(self._journaled())
        super().pause_instance(name)

    def kill_instance(self, name: str) -> None:
        self.journaled_before.append(self._journaled())
        super().kill_instance(name)


def nemesis_for(tmp_path: Path, backend: NoProcessesBackend) -> tuple[Nemesis, Journal]:
    journal = Journal(tmp_path, "t")
    endpoints = Endpoints(front_door_urls={}, toxiproxy_url=URL, links={}, instance_urls={})
    return Nemesis(endpoints, backend, journal, transport=FakeToxiproxy().transport), journal


def instance_plan(label: str, *actions: InstanceAction) -> FaultPlan:
    return FaultPlan(label, actions[0].kind, actions[0].instance, 0.0, 1.0, instances=actions)


def test_instance_actions_are_journaled_before_acting_and_healed_once(tmp_path: Path) -> None:
    backend = JournalCheckingBackend(tmp_path / "journal.jsonl")
    nemesis, journal = nemesis_for(tmp_path, backend)
    pause = instance_plan("freeze", InstanceAction("pause", "ehr-a"))
    kill = instance_plan("crash", InstanceAction("kill", "ehr-b"))
    restart = instance_plan("bounce", InstanceAction("restart", "msg-a"))
    for plan in (pause, kill, restart):
        nemesis.inject(plan)
    assert backend.journaled_before == [True, True]
    for plan in (pause, kill, restart):
        nemesis.heal(plan)
        nemesis.heal(plan)  # idempotent: nothing is resumed or started twice
    assert backend.calls == [("pause", "ehr-a"), ("kill", "ehr-b"), ("restart", "msg-a"),
                             ("resume", "ehr-a"), ("start", "ehr-b")]
    journal.close()
    nemesis.close()
    entries = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    injected = {e["fault"]: e["actions"] for e in entries if e["type"] == "fault-inject"}
    assert injected == {"freeze": [{"kind": "instance-paused", "instance": "ehr-a"}],
                        "crash": [{"kind": "instance-killed", "instance": "ehr-b", "restart": "yes"}],
                        "bounce": [{"kind": "instance-restarted", "instance": "msg-a"}]}


def test_an_ending_run_resumes_but_starts_nothing(tmp_path: Path) -> None:
    backend = NoProcessesBackend()
    nemesis, journal = nemesis_for(tmp_path, backend)
    nemesis.inject(instance_plan("crash", InstanceAction("kill", "ehr-b")))
    nemesis.inject(instance_plan("dead", InstanceAction("kill", "ehr-a", restart=False)))
    nemesis.inject(instance_plan("freeze", InstanceAction("pause", "msg-a")))
    assert nemesis.heal_all(restart_sites=False) == []
    assert backend.calls == [("kill", "ehr-b"), ("kill", "ehr-a"), ("pause", "msg-a"), ("resume", "msg-a")]
    assert nemesis.active == []
    journal.close()
    nemesis.close()
