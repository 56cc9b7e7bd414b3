"""LoadSession's harness-side contract, with a stand-in for Locust (a tiny script that
follows the plan's file protocol): records reach the timeline while it runs, stop is
bounded even when the process ignores the stop file, counts are compared, nothing is left
running. The real Locust is driven in test_personas.py / test_runner_load.py."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from harness.errors import InfrastructureError
from harness.load import session as session_module
from harness.load.plan import RECORDS_FILE, STOP_FILE, SUMMARY_FILE, LoadPlan, PersonaPlan, Stage
from harness.load.session import LoadSession
from harness.timeline import RequestRecord, TimelineWriter, read_timeline

FAKE_LOCUST = r'''
import json, os, sys, time
plan = json.load(open(os.environ["HCHAOS_LOAD_PLAN"]))
ignore_stop = "--ignore-stop" in sys.argv
n = 0
with open(plan["records_path"], "a") as out:
    while ignore_stop or not os.path.exists(plan["stop_path"]):
        for service in ("ehr", "labs"):
            n += 1
            out.write(json.dumps({"kind": "request", "t": time.time(), "duration": 0.01, "source": "load",
                                  "service": service, "operation": "GET x", "ok": n % 10 != 0,
                                  "persona": "nurse", "user": "0-1"}) + "\n")
        out.flush()
        time.sleep(0.01)
json.dump({"locust_requests": n, "locust_failures": n // 10, "recorded": n}, open(plan["summary_path"], "w"))
'''


def _plan(run_dir: Path) -> LoadPlan:
    return LoadPlan(run_id="t", http_targets={"ehr": "http://127.0.0.1:1"}, mllp_targets=[],
                    personas={"nurse": PersonaPlan(1, {"chart_review": 1})}, stages=[Stage(30, 1, 1)],
                    records_path=str(run_dir / RECORDS_FILE), summary_path=str(run_dir / SUMMARY_FILE),
                    stop_path=str(run_dir / STOP_FILE))


@pytest.fixture
def fake_locust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    script = tmp_path / "fake_locust.py"
    script.write_text(FAKE_LOCUST)
    argv = [sys.executable, str(script)]
    monkeypatch.setattr(session_module, "locust_command", lambda **_: argv)
    return argv


def test_records_flow_into_the_timeline_and_counts_match(tmp_path: Path, fake_locust: list[str]) -> None:
    with TimelineWriter(tmp_path / "timeline.jsonl") as timeline:
        session = LoadSession(_plan(tmp_path), tmp_path, timeline)
        session.start()
        deadline = time.monotonic() + 10
        while session.ingested < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.ingested >= 20, "records did not reach the timeline while the load ran"
        stats = session.stats()
        assert set(stats) == {"ehr", "labs"} and stats["ehr"].rate > 0
        summary = session.stop()
        assert session.stop() is summary  # idempotent
    assert summary.counts_match and summary.locust_requests == summary.ingested and not summary.killed
    requests = [r for r in read_timeline(tmp_path / "timeline.jsonl") if isinstance(r, RequestRecord)]
    assert len(requests) == summary.ingested
    assert json.loads((tmp_path / "load-plan.json").read_text())["personas"]["nurse"]["weight"] == 1


def test_a_load_that_ignores_the_stop_file_is_killed_and_reported(
        tmp_path: Path, fake_locust: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake_locust.append("--ignore-stop")
    monkeypatch.setattr(session_module, "STOP_WAIT", 0.5)
    with TimelineWriter(tmp_path / "timeline.jsonl") as timeline:
        session = LoadSession(_plan(tmp_path), tmp_path, timeline)
        session.start()
        time.sleep(0.3)
        started = time.monotonic()
        summary = session.stop()
        assert time.monotonic() - started < 0.5 + session_module.TERM_WAIT + 1
    assert summary.killed and summary.locust_requests is None and not summary.counts_match
    assert "no summary" in summary.describe()
    assert not session.alive()


def test_a_load_that_dies_early_is_an_infrastructure_error_with_its_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "broken.py"
    script.write_text("import sys; print('ImportError: no module named nursing'); sys.exit(1)\n")
    monkeypatch.setattr(session_module, "locust_command", lambda **_: [sys.executable, str(script)])
    with TimelineWriter(tmp_path / "timeline.jsonl") as timeline:
        session = LoadSession(_plan(tmp_path), tmp_path, timeline)
        session.start()
        with pytest.raises(InfrastructureError, match=r"(?s)Locust exited with code 1.*no module named nursing"):
            session.wait_started(timeout=10)
        session.stop()


def test_malformed_record_lines_are_rejected_counted_and_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "bad_lines.py"
    script.write_text(
        "import json, os, time\n"
        "plan = json.load(open(os.environ['HCHAOS_LOAD_PLAN']))\n"
        "good = {'kind': 'request', 't': 1.0, 'duration': 0.1, 'source': 'load', 'service': 'ehr',"
        " 'operation': 'x', 'ok': True}\n"
        "with open(plan['records_path'], 'a') as out:\n"
        "    out.write(json.dumps(good) + '\\n' + json.dumps({**good, 'colour': 'red'}) + '\\n'"
        " + json.dumps({'kind': 'fault', 't': 1.0}) + '\\nnot json\\n' + json.dumps(good) + '\\n')\n"
        "json.dump({'locust_requests': 4, 'locust_failures': 0, 'recorded': 4}, open(plan['summary_path'], 'w'))\n")
    monkeypatch.setattr(session_module, "locust_command", lambda **_: [sys.executable, str(script)])
    events: list[str] = []
    with TimelineWriter(tmp_path / "timeline.jsonl") as timeline:
        session = LoadSession(_plan(tmp_path), tmp_path, timeline, on_event=events.append)
        session.start()
        summary = session.stop()
    assert summary.ingested == 2 and summary.rejected == 3 and not summary.counts_match
    assert "3 malformed record(s) rejected" in summary.describe()
    assert any("colour" in e for e in events) and len(events) == 3
    assert len(list(read_timeline(tmp_path / "timeline.jsonl"))) == 2


def test_locust_is_in_the_journal_so_rollback_can_kill_it(tmp_path: Path, fake_locust: list[str]) -> None:
    from harness.run.journal import JOURNAL_FILE, Journal

    journal = Journal(tmp_path, "t")
    with TimelineWriter(tmp_path / "timeline.jsonl") as timeline:
        session = LoadSession(_plan(tmp_path), tmp_path, timeline, journal=journal)
        session.start()
        pid = session.pid
        session.stop()
    journal.close()
    entries = [json.loads(line) for line in (tmp_path / JOURNAL_FILE).read_text().splitlines()]
    assert any({"type": "process-start", "name": "locust", "pid": pid}.items() <= e.items() for e in entries)
    assert any(e.get("type") == "process-stop" and e.get("pid") == pid for e in entries)
