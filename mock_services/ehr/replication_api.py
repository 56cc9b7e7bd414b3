"""The server side of the replication protocol: ``/_replication/*`` (used only by the peer).

* ``GET /_replication/status`` -- 200, a ``NodeStatus`` plus diagnostics: ``replication``,
  ``sync_strict``, ``in_sync`` (primary: whether writes currently wait for the standby),
  ``since_primary_contact`` (seconds since the last valid heartbeat or append; null on a
  primary) and ``peer`` (the primary's view of its standby: ``url``, ``reachable``, ``role``,
  ``epoch``, ``lsn``, ``matched_lsn``, ``diverged``). Tests and the harness may poll it to
  know when a pair is in sync (``in_sync`` and ``peer.matched_lsn == lsn``).
* ``POST /_replication/heartbeat`` -- body ``Heartbeat``; answer ``Reply``: 200 accepted,
  409 refused (``reason``: ``not-standby`` = I am a primary that outranks you, step down;
  ``stale-epoch`` = your epoch is below mine).
* ``POST /_replication/append`` -- body ``AppendRequest``; answer ``Reply``: 200 applied, 409
  refused (the reasons above, plus ``resyncing``, ``gap`` = ship from my ``lsn``,
  ``diverged`` = my log differs from yours, I am resyncing).
* ``GET /_replication/log?after=N&limit=M`` -- 200 ``LogPage``: entries with lsn > N
  (default 0, at most 2**63 - 1), at most M (default 500, max 5000). Served by every role.
* ``GET /_replication/discarded?after=N&limit=M`` -- 200 ``{"total", "entries": [...]}``:
  the log entries resyncs discarded (writes this instance held that the primary's log did
  not), oldest first, skipping N, at most M (default 500, max 5000). Each entry: ``lsn``,
  ``epoch``, ``resource_type``, ``resource_id``, ``version_id``, ``last_updated``,
  ``discarded_at``, ``new_epoch``. Persistent: it survives restarts, for post-run checkers.
  ``/_replication/status`` carries the total and the most recent ones (``discarded``), plus
  ``fencing`` (the lease as this instance sees it), ``replication_lag``, ``promotions``,
  ``step_downs`` and ``base`` (the base snapshot descriptor).

Message shapes are in :mod:`mock_services.ehr.protocol`. A body or query that does not fit
gets a 400 OperationOutcome naming the field.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mock_services.common import jsonbody
from mock_services.ehr.outcome import dumps, operation_outcome
from mock_services.ehr.protocol import AppendRequest, Heartbeat, ProtocolError, Reply
from mock_services.ehr.replication import Node

DEFAULT_PAGE = 500
MAX_PAGE = 5000
MAX_OFFSET = 2**63 - 1  # SQLite INTEGER: a larger lsn or offset cannot name a row


def _json(document: object, status_code: int = 200) -> Response:
    return Response(dumps(document), status_code=status_code, media_type="application/json")


def _reply(reply: Reply) -> Response:
    return _json(reply.to_json(), 200 if reply.accepted else 409)


def replication_routes(node: Node) -> list[Route]:
    """The endpoints above, bound to ``node``."""

    async def status(request: Request) -> Response:
        return _json(node.status_document())

    async def heartbeat(request: Request) -> Response:
        try:
            message = Heartbeat.from_json(jsonbody.loads(await request.body()))
        except ValueError as error:  # ProtocolError and InvalidJson are ValueErrors
            return operation_outcome(400, f"invalid heartbeat: {error}")
        return _reply(node.on_heartbeat(message))

    async def append(request: Request) -> Response:
        try:
            message = AppendRequest.from_json(jsonbody.loads(await request.body()))
        except ValueError as error:
            return operation_outcome(400, f"invalid append: {error}")
        return _reply(node.on_append(message))

    async def log(request: Request) -> Response:
        try:
            after = _int_param(request, "after", 0, maximum=MAX_OFFSET)
            limit = _int_param(request, "limit", DEFAULT_PAGE, maximum=MAX_PAGE)
        except ProtocolError as error:
            return operation_outcome(400, str(error))
        return _json(node.log_page(after, limit).to_json())

    async def discarded(request: Request) -> Response:
        try:
            after = _int_param(request, "after", 0, maximum=MAX_OFFSET)
            limit = _int_param(request, "limit", DEFAULT_PAGE, maximum=MAX_PAGE)
        except ProtocolError as error:
            return operation_outcome(400, str(error))
        entries = [entry.to_json() for entry in node.store.discarded(after, limit)]
        return _json({"total": node.store.discarded_total, "entries": entries})

    return [
        Route("/_replication/status", status, methods=["GET"]),
        Route("/_replication/heartbeat", heartbeat, methods=["POST"]),
        Route("/_replication/append", append, methods=["POST"]),
        Route("/_replication/log", log, methods=["GET"]),
        Route("/_replication/discarded", discarded, methods=["GET"]),
    ]


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    """ASCII digits only (``'²'.isdigit()`` is true, yet ``int('²')`` fails), at most ``maximum``."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > maximum:
        raise ProtocolError(f"query parameter {name!r} must be an integer 0..{maximum}, got {raw!r}")
    return int(raw)
