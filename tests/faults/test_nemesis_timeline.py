"""The timeline tells the truth about when a fault started and ended: each inject and heal is
stamped when it was asked for *and* when it had taken effect, and checks measure recovery
from the heal's end (a Toxiproxy slow to remove a toxic once made the two 30 s apart)."""

from __future__ import annotations

import time
from pathlib import Path

from harness.backends.base import Endpoints
from harness.backends.fake import NoProcessesBackend
from harness.checks.reconnection import check_reconnection
from harness.checks.windows import fault_heals, fault_starts
from harness.faults import FaultPlan, Nemesis, ToxicAction
from harness.run.journal import Journal
from harness.timeline import FaultRecord, RequestRecord, TimelineWriter, read_timeline
from harness.toxiproxy import ProxySpec, ToxicSpec, ToxiproxyClient
from harness.toxiproxy.fake import FakeToxiproxy

URL = "http://fake-toxiproxy:8474"


def test_a_slow_heal_is_stamped_with_both_ends_and_recovery_is_measured_from_the_end(tmp_path: Path) -> None:
    fake = FakeToxiproxy()
    ToxiproxyClient(URL, transport=fake.transport).populate([ProxySpec("link", "127.0.0.1:1", "127.0.0.1:2")])
    timeline = TimelineWriter(tmp_path / "timeline.jsonl")
    journal = Journal(tmp_path, "t")
    endpoints = Endpoints(front_door_urls={}, toxiproxy_url=URL, links={}, instance_urls={})
    nemesis = Nemesis(endpoints, NoProcessesBackend(), journal, timeline, transport=fake.transport)
    plan = FaultPlan("slow", "latency", "link", 0.0, 1.0, toxics=(ToxicAction("link", ToxicSpec(
        type="latency", name="hchaos-slow", stream="downstream", attributes={"latency": 100})),))
    nemesis.inject(plan)
    fake.delay = 0.5  # Toxiproxy now takes half a second to answer: the removal is slow
    nemesis.heal(plan)
    nemesis.close()
    timeline.close()
    journal.close()

    records = [r for r in read_timeline(tmp_path / "timeline.jsonl") if isinstance(r, FaultRecord)]
    inject, heal = records
    assert inject.ended is not None and inject.t <= inject.ended
    assert heal.ended is not None and heal.ended - heal.t >= 0.5
    assert fault_starts(records) == {"slow": inject.t}  # failover is measured from the start
    assert fault_heals(records) == {"slow": heal.ended}  # recovery from when the toxic was gone


def test_reconnection_after_a_heal_counts_from_when_it_took_effect() -> None:
    asked, gone = 100.0, 130.0  # the heal was asked for at 100 s, the toxic went at 130 s
    heal = FaultRecord(asked, "heal", "slow", "latency", "link", 10.0, ended=gone)
    requests = [RequestRecord(gone + 4.0, 0.01, "load", "ehr", "read", True, user="u1"),
                RequestRecord(asked + 1.0, 0.01, "load", "ehr", "read", False, user="u1")]
    healed = fault_heals([heal])["slow"]
    assert healed == gone
    # Within 5 s of the real end, the user is back; measured from the ask it would be 34 s.
    verdict = check_reconnection("r", requests, healed, 5.0, 1.0, "heal of slow")
    assert verdict.outcome.value == "pass", verdict
    old_style = FaultRecord(asked, "heal", "slow", "latency", "link", 10.0)  # no 'ended' in old timelines
    assert fault_heals([old_style]) == {"slow": asked}


def test_a_fault_record_round_trips_with_its_end(tmp_path: Path) -> None:
    writer = TimelineWriter(tmp_path / "t.jsonl")
    writer.append(FaultRecord(time.time(), "heal", "f", "latency", "x", 1.0, ended=time.time() + 1))
    writer.close()
    (back,) = read_timeline(tmp_path / "t.jsonl")
    assert isinstance(back, FaultRecord) and back.ended is not None and back.effective_end == back.ended
