"""Out-of-band notification sink: where workstations report "downtime" and "restored".

At AP-HP (2024-08-03) staff lost hours before switching to downtime procedures; the sink is the
channel that tells people at once. It must not live in either data center (the harness puts it
on the witness/third site or on campus), and it is deliberately tiny: it stores what it is sent,
with the time it received it, and lists it back -- the harness's degraded-mode checker reads
"time to downtime notification" from it.

Run with ``python -m mock_services.notify`` (flags in :mod:`.__main__`). Modules, one concept
each: ``config`` (settings), ``store`` (SQLite WAL, or memory, receive times, idempotent ids),
``app`` (the endpoints and their contract, /health, /metrics), ``mock_services.common.service``
(identity headers, metrics, JSON errors),
``mock_services.common.serve`` (serving), ``mock_services.common.eventlog`` (one stderr
line per notable event: ``notification`` per stored notification).
"""
