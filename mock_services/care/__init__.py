"""The clinicians' care application: the workstation side, the reference system under test.

What clinicians use: the patient list per ward, the chart (demographics, allergies, vitals,
active medications, latest lab results, imaging studies), orders (medications, labs, imaging),
patient registration, the ward's staff rota and its patients' OR/scanner bookings, and printable
documents. It reaches the EHR, the lab portal, imaging and scheduling through the front door;
any of them may be left unconfigured (its section then says so). Users can swap in their own
application: the harness only relies on the HTTP contract in :mod:`.api` and :mod:`.downtime_api`.

Design (a hospital's downtime procedure, made executable):

* *Detection*: a circuit breaker per dependency (:mod:`.breaker`), fed by every call and by
  background probes. When the EHR's breaker opens the application enters *downtime mode* by
  itself and sends a ``downtime`` notification to an out-of-band sink (:mod:`mock_services.notify`,
  outside both data centers); when a half-open probe succeeds it leaves, sends ``restored``, and
  reconciles. Another dependency failing only degrades its own section.
* *Downtime mode* (like Epic's BCA): the chart is read-only from a local snapshot refreshed every
  ``snapshot_interval``; every answer is stamped with the snapshot's as-of time (headers
  ``X-Care-Mode`` / ``X-Snapshot-As-Of``, body ``mode`` / ``as_of``); results after the snapshot
  are "not available", never silently absent. Orders and registrations go to a local durable
  queue with identifiers from reserved ranges (``DT-O-<name>-n`` / ``DT-P-<name>-n``) and keep
  their authored time. MAR, prescriptions and ward schedule print as PDF, every page stamped with
  the patient's identity and the data time.
* *Recovery*: the queue is replayed exactly once with FHIR conditional creates (registrations
  first, then orders with their patient references rewritten), keeping ``authoredOn`` and a
  ``downtime`` tag; the schedule diff shows what changed since the downtime snapshot.
* *Bad input*: a missing or corrupt snapshot, a full queue, a printer failure are each answered
  with a specific error saying so (503 ``downtime-snapshot-unavailable``, 507
  ``downtime-queue-full``, 503 ``printer-failure``) while the rest keeps working; nothing queued
  is lost.

Run with ``python -m mock_services.care`` (flags in :mod:`.__main__`). Modules, one concept each:

* ``config`` (settings), ``context`` (everything one instance holds, built from the config);
* ``breaker`` (circuit breaker, pure), ``dependencies`` (calls through breakers, typed failures),
  ``fetch`` (live reads: census, chart parts, schedule change-feed mirror), ``chart`` (shaping
  FHIR/DICOM answers into sections, pure);
* ``downtime`` (the mode, its transitions and the per-answer stamp), ``snapshot`` (file format,
  atomic write, checked read), ``collect`` (taking a snapshot, bounded);
* ``identifiers`` (systems, reserved ranges), ``orders`` (request validation -> FHIR resources),
  ``queue`` (SQLite durable queue), ``reconcile`` (exactly-once replay), ``notify`` (durable
  notification outbox and sender);
* ``schedule`` (ward view and diff, pure), ``documents`` (MAR, prescriptions, schedule; the
  printer), ``pdf`` (a minimal PDF 1.4 writer);
* ``views`` (what each screen shows, live or snapshot), ``api`` (clinical endpoints),
  ``downtime_api`` (status, queue, reconciliation, ``/_admin/``), ``app`` (wiring, background
  tasks, /health, /metrics), ``testing`` (serving apps and starting real processes in tests);
* shared: ``mock_services.common.service`` (identity headers, metrics, JSON errors),
  ``mock_services.common.serve`` (serving),
  ``mock_services.common.eventlog`` (one stderr line per notable event).

Events logged: ``start``, ``stop``, ``breaker-open`` / ``breaker-closed`` (dependency),
``downtime-entered`` / ``downtime-left``, ``snapshot-refreshed`` (patients, bytes, took) /
``snapshot-failed``, ``notification-queued`` / ``notification-sent`` / ``notify-failed``,
``reconciliation-done`` / ``reconciliation-interrupted`` (counts), ``reconciliation-refused``,
``queue-full``, ``printer-failure``.
"""
