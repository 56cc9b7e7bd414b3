"""Witness: a tiny third-site service that grants one primary *lease* per cluster (fencing).

Run with ``python -m mock_services.witness --name witness --host 127.0.0.1 --port N [--db PATH]``
(flags in :mod:`.__main__`). It lives at a third site, so that when the two data centers
cannot see each other, at most one of them can still hold the lease. Modules: ``leases``
(the lease table and its rules, persisted in SQLite), ``app`` (HTTP API, /health, /metrics).

The rules (:meth:`.leases.LeaseTable.request`)
=============================================

A lease is ``(cluster, holder, epoch, expires_at)``. ``POST /lease {cluster, holder, epoch,
ttl}`` is granted -- the lease becomes ``(holder, epoch, now + ttl)`` -- only if

* ``epoch`` >= the epoch the witness recorded for the cluster (epochs never go down here
  either: a deposed primary cannot renew with its old term), and
* the lease is free, expired, or already ``holder``'s (a renewal).

Otherwise it is refused (``held`` or ``stale-epoch``) and the answer names the current holder,
its epoch and how long until it expires. The recorded epoch outlives expiry and release.
``POST /lease/release {cluster, holder}`` ends a holder's lease at once (graceful shutdown).

Leases are stored with wall-clock expiry in SQLite (WAL) when ``--db`` is given, and written
before the answer is sent: a witness that restarts still knows who holds what, so a restart
cannot hand out a second lease while the first is still running. Clients must count their
lease from *before* they sent the request, with a safety margin (the EHR does: see
:mod:`mock_services.ehr.lease`); then the holder always stops before the witness lets anyone
else in.

HTTP API (JSON, not FHIR): ``POST /lease`` (200 granted, 409 refused, 400 malformed),
``POST /lease/release`` (200 released, 409 not the holder), ``GET /lease/{cluster}`` (200 or
404), ``GET /leases``, ``GET /health``, ``GET /metrics``. Every answer carries ``X-Served-By``
and ``X-Datacenter``.
"""
