"""What the runner reads after recovery, with every client stopped: the out-of-band
notifications, each write read back from the service holding it, the care workstations'
schedule diffs. Each lands in the run folder (or on the timeline), so a run can be re-judged
offline. Which of them a run reads is decided by its checks (:mod:`harness.runner.collectors`)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import polars as pl

from harness.backends import Backend
from harness.checks.schedule_staleness import SCHEDULE_PREFIX
from harness.interrupt import Interruption
from harness.readback import READBACK_FILE, key_bases, key_locations, read_back, write_readback
from harness.readback.schedules import SCHEDULE_DIFFS_FILE, read_schedule_diffs, write_schedule_diffs
from harness.readback.table import READBACK_TABLE_FILE, write_readback_table
from harness.runner.observer import RunObserver
from harness.timeline import NotificationRecord, TimelineWriter
from harness.timeline.store import load_run_timeline


def collect_notifications(backend: Backend, timeline: TimelineWriter, obs: RunObserver) -> None:
    """Put what the out-of-band notification sink received during the run on the timeline (the
    sink's own receive times: the checks measure when a notification got out, not when sent)."""
    assert backend.endpoints is not None
    sink = backend.endpoints.instance_urls.get("notify")
    if sink is None:
        return
    try:
        answer = httpx.get(f"{sink}/notifications", timeout=5.0)
        answer.raise_for_status()
        received = answer.json()["notifications"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        obs.event(f"[yellow]could not read the notification sink: {type(exc).__name__}: {exc}")
        return
    for item in received:
        timeline.append(NotificationRecord(float(item["received_at"]), str(item["event"]), str(item["source"]),
                                           item.get("t"), item.get("reason")))
    obs.event(f"notifications: {len(received)} received by the out-of-band channel "
              f"({', '.join(sorted({str(i['event']) for i in received})) or 'none'})")


def read_schedule_diffs_into(backend: Backend, run_dir: Path, timeline: TimelineWriter,
                             obs: RunObserver) -> None:
    """After recovery: each care workstation's schedule diff for the wards of the schedules the
    run changed, into the run folder (for the schedule-staleness check, and re-judging)."""
    assert backend.endpoints is not None
    scheduling = backend.endpoints.front_door_urls.get("scheduling")
    if scheduling is None or not backend.endpoints.workstation_urls:
        obs.event("[yellow]schedule diffs: the run has no scheduling service or no care workstation")
        return
    timeline.checkpoint()
    written = load_run_timeline(run_dir).requests.filter(
        pl.col("ok") & pl.col("resource_id").cast(pl.String).str.starts_with(SCHEDULE_PREFIX)
    ).select(pl.col("resource_id").cast(pl.String).str.strip_prefix(SCHEDULE_PREFIX)).unique().collect().to_series()
    diffs = read_schedule_diffs(scheduling, backend.endpoints.workstation_urls, written.to_list())
    write_schedule_diffs(run_dir / SCHEDULE_DIFFS_FILE, diffs)
    obs.event(f"schedule diffs: {len(written)} changed schedule(s), read from "
              f"{len(backend.endpoints.workstation_urls)} workstation(s)")


def read_back_writes(backend: Backend, services: set[str], run_dir: Path, timeline: TimelineWriter,
                     obs: RunObserver, interruption: Interruption) -> None:
    """Read back every write of ``services`` from the service holding it, chosen by what each
    speaks (:mod:`harness.readback.targets`: FHIR creates and HL7 results from the FHIR server,
    images from the DICOMweb archive), into the run folder (for the ledger, and offline
    re-judging). A safe point of ``interruption`` between lookups."""
    assert backend.endpoints is not None
    timeline.checkpoint()  # every request so far in the segments: the keys come from the columns
    written = load_run_timeline(run_dir).requests.filter(
        pl.col("service").cast(pl.String).is_in(sorted(services)) & pl.col("write_key").is_not_null()
    ).select(pl.col("service").cast(pl.String), "write_key").collect()
    bases = {service: key_bases(backend.topology, backend.endpoints, service) for service in sorted(services)}
    obs.event("read back from: " + "; ".join(
        f"{service}'s writes at {where.fhir_holder or 'no'} FHIR server"
        + (f", {where.dicom_holder} DICOMweb" if where.dicom_holder else "") for service, where in bases.items()))
    located = key_locations(written.iter_rows(), bases)
    started = time.monotonic()
    results = read_back(located.get, located,
                        progress=lambda done, total: obs.event(f"read back {done}/{total} writes")
                        if total >= 2000 else None, check=interruption.check)
    write_readback(run_dir / READBACK_FILE, results)
    write_readback_table(run_dir / READBACK_TABLE_FILE, results)
    failed = sum(1 for r in results if r.error)
    obs.event(("[yellow]" if failed else "") + f"read back {len(results)} writes in {time.monotonic() - started:.1f}s"
              + (f" ({failed} could not be read)" if failed else ""))
