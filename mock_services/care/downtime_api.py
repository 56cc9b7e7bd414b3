"""Endpoints about the downtime machinery itself, for people on call and for the harness's checkers.

* ``GET /downtime/status`` -- ``{"mode", "since", "reason", "downtime_enabled", "as_of",
  "snapshot": {"state": ok|missing|corrupt, "as_of", "age", "stale", "max_age", "detail",
  "patients", "wards", "last_refresh"}, "pinned_snapshot_as_of", "breakers": {dependency:
  {"state", "recent_failures", ...}}, "queue": {"queued", "reconciled", "failed", "capacity"},
  "reconciliation": {"state": idle|running|done|interrupted, "reconciled", "existed", "failed",
  "waiting", "pending", ...}, "notifications": {"url", "pending", "sent", "last_error",
  "recent"}, "printer": {...}, "history": [mode changes]}``.
* ``GET /downtime/queue?state=queued|reconciled|failed`` -- ``{"entries": [...]}`` in queue
  order (fields: :meth:`.queue.Entry.to_json`).
* ``GET /downtime/reconciliation`` -- every reconciled entry ``{"downtime_id", "kind",
  "patient", "permanent_id", "authored", "reconciled_at", "existed", ...}`` plus the failed
  ones and the progress: what a checker reads for "exactly once, authored time kept".

Admin (``/_admin/``; tests and experiments):

* ``POST /_admin/printer`` ``{"failing": true|false, "reason"?}`` -- inject / heal a printer failure.
* ``POST /_admin/snapshot`` -- refresh the snapshot now (200 ``{"refreshed": bool, "snapshot"}``).
* ``POST /_admin/reconcile`` -- run reconciliation now (409 in downtime mode).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from mock_services.care.api import fail, json_body, respond
from mock_services.care.context import Care, breaker_status
from mock_services.care.description import care_error
from mock_services.care.queue import FAILED, QUEUED, RECONCILED
from mock_services.care.views import ScreenError
from mock_services.common import openapi
from mock_services.common.openapi import Operation, query, ref, response

STATES = (QUEUED, RECONCILED, FAILED)


def operations(care: Care) -> list[Operation]:
    """The endpoints above and their OpenAPI description (:mod:`.description`)."""
    def wrap(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ScreenError as error:
                return fail(care, error.status, error.error, error.detail, **error.extra)

        return endpoint

    async def status(request: Request) -> Response:
        pinned = care.snapshots.pinned
        body = {
            **care.controller.status(),
            "snapshot": care.snapshots.status(care.config.max_snapshot_age),
            "pinned_snapshot_as_of": None if pinned is None else pinned.as_of,
            "breakers": breaker_status(care),
            "queue": {**care.queue.counts(), "capacity": care.queue.capacity},
            "reconciliation": care.reconciler.progress,
            "notifications": {**care.notifier.status(), "recent": care.notifier.recent(10)},
            "printer": {
                "failing": care.printer.failing,
                "reason": care.printer.reason,
                "printed": care.printer.printed,
                "failures": care.printer.failures,
            },
        }
        body.pop("mode")  # the stamp's, so headers and body agree
        return respond(care, body)

    async def queue(request: Request) -> Response:
        state = request.query_params.get("state")
        if state is not None and state not in STATES:
            raise ScreenError(400, "invalid-parameter", f"state must be one of {', '.join(STATES)}, got {state!r}")
        entries = [entry.to_json() for entry in care.queue.entries(state)]
        return respond(care, {"entries": entries, "counts": care.queue.counts(), "capacity": care.queue.capacity})

    async def reconciliation(request: Request) -> Response:
        reconciled = [e.to_json() for e in care.queue.entries(RECONCILED)]
        failed = [e.to_json() for e in care.queue.entries(FAILED)]
        return respond(care, {"progress": care.reconciler.progress, "reconciled": reconciled, "failed": failed,
                              "patient_map": care.queue.patient_map()})  # fmt: skip

    async def printer(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("failing"), bool):
            raise ScreenError(400, "invalid-request", 'the body must be {"failing": true|false, "reason"?: "..."}')
        reason = body.get("reason")
        care.printer.set_failing(body["failing"], reason if isinstance(reason, str) else "printer failure injected")
        return respond(care, {"failing": care.printer.failing, "reason": care.printer.reason})

    async def snapshot(request: Request) -> Response:
        if not care.config.downtime_mode:
            raise ScreenError(409, "downtime-mode-off", "this workstation takes no snapshots (--downtime-mode off)")
        refreshed = await care.snapshotter.refresh()
        return respond(care, {"refreshed": refreshed,
                              "snapshot": care.snapshots.status(care.config.max_snapshot_age)})  # fmt: skip

    async def reconcile(request: Request) -> Response:
        if care.downtime:
            raise ScreenError(409, "in-downtime", "reconciliation runs once the EHR is back (downtime mode now)")
        return respond(care, {"progress": await care.reconciler.run()})

    body = {400: care_error("invalid-json / invalid-request"), 413: care_error("body-too-large"),
            415: care_error("unsupported-media-type")}  # fmt: skip
    return [
        Operation("GET", "/downtime/status", wrap(status), "the downtime machinery, for people on call",
                  {200: response("mode, snapshot, breakers, queue, reconciliation...", ref("DowntimeStatus"))}),
        Operation("GET", "/downtime/queue", wrap(queue), "the local order queue, in queue order",
                  {200: response("entries", ref("Queue")), 400: care_error("invalid-parameter")},
                  [query("state", {"type": "string", "enum": list(STATES)})]),
        Operation("GET", "/downtime/reconciliation", wrap(reconciliation), "what reconciliation did",
                  {200: response("reconciled and failed entries, progress", ref("Reconciliation"))}),
        Operation("POST", "/_admin/printer", wrap(printer), "inject or heal a printer failure",
                  {200: response("the printer now", ref("Printer")), **body},
                  body=openapi.json_body(ref("PrinterRequest"))),
        Operation("POST", "/_admin/snapshot", wrap(snapshot), "refresh the downtime snapshot now",
                  {200: response("refreshed or not, and the snapshot", ref("SnapshotRefresh")),
                   409: care_error("downtime-mode-off")}),
        Operation("POST", "/_admin/reconcile", wrap(reconcile), "run reconciliation now",
                  {200: response("the progress", ref("Reconciled")), 409: care_error("in-downtime")}),
    ]  # fmt: skip
