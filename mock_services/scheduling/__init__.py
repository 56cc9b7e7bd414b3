"""Mock staff and OR/scanner scheduling: versioned schedules in SQLite, in dc-a only.

Single data center on purpose: at AP-HP (2024-08-03) scheduling came back last, so the care
application must cope without it -- the harness's degraded-mode checks rely on that, and on
``GET /schedules/changes?since=`` to diff what changed while it was down.

Run with ``python -m mock_services.scheduling`` (flags in :mod:`.__main__`). Modules, one
concept each: ``config`` (settings), ``store`` (SQLite WAL store, versions, change times),
``validation`` (slots, If-Match, query parameters), ``api`` (the schedules endpoints and their
contract), ``app`` (wiring, start-up loading, /health), ``mock_services.common.service`` (identity headers,
metrics, JSON errors),
``mock_services.common.serve`` (serving), ``mock_services.common.eventlog`` (one stderr line per notable event).

Data: at start-up an empty database is loaded with :mod:`mock_services.synthetic`'s staff
rotas, OR and scanner bookings (``--seed``, ``--patients``); a non-empty one is kept as is.
Concurrency: optimistic, HTTP style -- ``ETag: W/"<version>"`` on reads, ``If-Match``
required on PUT (412 on a stale version, 428 without), version + 1 on every write.
"""
