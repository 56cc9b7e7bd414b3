"""Mock EHR: FHIR R4 patient records, run as a primary/standby pair across two data centers.

Run with ``python -m mock_services.ehr`` (flags in :mod:`.__main__`, or a ``--config`` file:
:mod:`.configfile`). Modules, one concept each:

* settings: ``config`` (the frozen Config), ``configfile`` (JSON/TOML -> flags);
* data: ``store`` (SQLite: log, current resources, base snapshot, discarded entries),
  ``index`` (search index tables and search SQL), ``baseload`` (the synthetic base
  snapshot loaded at start-up), ``resources`` (the eight resource types: validation, indexed
  elements, search parameters), ``fhirtypes`` (FHIR datatype checks and date ranges);
* FHIR surface: ``fhir`` (create, conditional create, read, vread, update, search),
  ``search`` (query string -> criteria), ``capability`` (CapabilityStatement, OpenAPI),
  ``outcome`` (FHIR responses, OperationOutcome errors);
* replication: ``protocol`` (messages), ``peer`` (client), ``replication`` (roles and the
  state machine), ``shipping`` (the primary's side: heartbeats, shipping, acknowledging
  writes), ``resync`` (copying the primary's log), ``replication_api`` (server side),
  ``lease`` (fencing: the primary lease held at :mod:`mock_services.witness`);
* service: ``app`` (wiring, /health, /primary, identity headers), ``metrics`` (Prometheus),
  ``eventlog`` (one stderr line per notable event);
* testing seams: ``testing`` (in-process instances, pairs and witness, a fake dataset),
  ``testing_processes`` (real processes), ``tcpproxy`` (a link with latency and cuts).

FHIR resources: Patient, Encounter, Observation, MedicationRequest, DiagnosticReport,
AllergyIntolerance, MedicationAdministration (written by the load's nurses) and ServiceRequest
(lab and imaging orders, written by :mod:`mock_services.care`), with US Core's mandatory
searches (see :mod:`.fhir` and :mod:`.search`).
Every write records who accepted it, in which term: ``meta.source = "<instance>#<epoch>"``;
every response carries ``X-Epoch``. That, ``meta.lastUpdated`` and the discarded entries of
``/_replication/status`` are what a split-brain checker reads.

Replication design (two nodes, log shipping, epochs -- a deliberately simple Raft cousin)
========================================================================================

*The log is the data.* Each write appends one entry (lsn = last + 1, stamped with the current
epoch) and commits it locally before anything else happens. A resource's current version is
its entry with the highest lsn. Replicating the log replicates the data, byte for byte.

*Epoch* (term): persisted in the ``meta`` table, 1 in a fresh file, raised by one at every
promotion, adopted from any primary with a higher one. Epochs never go down.

*Roles*: ``primary`` (accepts writes; ``/primary`` answers 200), ``standby`` (read replica;
applies what the primary ships), and briefly ``starting``. Without ``--peer-url`` an instance
keeps its configured role forever and never replicates.

*Start-up*: a configured standby is a standby at once. A configured primary first asks its
peer's ``/_replication/status`` (within ``peer_timeout``): if the peer is primary at an epoch
>= ours it becomes a standby and resyncs (it was the old primary); otherwise (no answer, or
the peer is a standby) it becomes primary. ``/health`` answers during that check.

*Heartbeats*: every ``heartbeat_interval`` the primary posts ``{name, epoch, lsn}``; the
answer is the peer's status (role, epoch, lsn, epoch of its last entry, resyncing). If the
standby's last entry is not in our log the standby has *diverged*; if it is behind, the
primary *ships* the missing entries in batches (``/_replication/append``, with Raft's
prev-lsn/prev-epoch consistency check). That one path is async mode's shipping, the catch-up
of a standby that was down, and sync mode's synchronous ship.

*Acknowledging writes*: ``async`` -- right after the local commit; shipping is triggered at
once and retried every heartbeat. ``sync`` -- after the standby has applied the entry, waited
for at most ``peer_timeout``. If that fails (peer unreachable, timed out, refusing): with
``--sync-strict`` the client gets 503 (the write stays committed locally: indeterminate);
without it (Patroni's non-strict synchronous_mode) the standby is marked out of sync, the
write is acknowledged, and writes are acknowledged without waiting until background
catch-up has made the standby level again, after which writes wait again. Transitions are
logged (``standby-out-of-sync`` / ``standby-in-sync``).

*Standby*: applies entries idempotently (an lsn it already holds with the same epoch is
skipped), contiguously, and only from a primary whose epoch is >= its own (it adopts a
higher one). Every accepted heartbeat or append resets its timer. After ``promote_after``
seconds without one (counted from its own start, too) it asks the peer's status once as a
*pre-vote* -- if the peer answers that it is primary at an epoch >= ours, the primary is
alive and promotion is vetoed (this matters after the standby was frozen with SIGSTOP; under
a real partition the question fails like the heartbeats did) -- and otherwise promotes: epoch
+ 1, persisted, role primary, logged.

*Step-down*: a primary that learns -- from a heartbeat or append answer, or an incoming
heartbeat or append -- that the peer is primary at a HIGHER epoch becomes a standby, adopts
that epoch and resyncs. A primary receiving a heartbeat from a primary at a lower epoch
answers 409 with its own status, so the sender steps down. Equal epochs with two primaries
(only if both started as primary without seeing each other) are broken by name: the
lexicographically smaller name stays primary (logged as ``tie-break``).

*Resync* (pg_rewind + base backup): copy the primary's whole log from lsn 0 in pages, then
replace the local log with it in ONE transaction (a crash or failure part-way leaves the
old log intact; the resync is retried). Local entries the copy does not contain -- writes
this instance acknowledged as primary that never reached the peer -- are lost on purpose; the
``resync-done`` line states how many and names the first ones, so a checker can detect the
loss. While a resync is pending or running, the instance is a standby that refuses appends
(``resyncing``) and ``/primary`` answers 503.

Discarded entries are also persisted (``discarded`` table) and listed by
``/_replication/status`` (total and most recent) and ``/_replication/discarded`` (all).

*Base snapshot* (``--seed``/``--patients``): synthetic data both instances generate and store
themselves at lsn 0, outside the replicated log -- see :mod:`.baseload` for why and how it
meets replication and resync.

Fencing (``--fencing``)
=======================

*off* (the default, as before): with the replication link cut, the standby promotes while
the old primary keeps accepting writes (split brain, on purpose: the checkers must catch
it); when the link heals, the lower epoch steps down and its writes since the cut are
discarded (and reported).

*on* (``--witness-url``, ``--lease-ttl``): a third-site witness grants one primary lease per
cluster (:mod:`mock_services.witness`, client side :mod:`.lease`). A primary -- at start-up
too -- needs the lease, renews it every heartbeat, and counts it valid only until
``0.9 * ttl`` after it *sent* the renewal; every write checks it synchronously. When the
lease runs out (witness unreachable) or is refused (taken at a newer epoch), the primary stops
accepting writes at once (503; ``/primary`` 503), becomes a standby (``lease-lost``) and
resyncs from whoever becomes primary. A standby promotes only when the witness grants it the
lease at ``max(epoch, highest epoch the witness reported) + 1``, i.e. after the old lease has
expired at the witness, which is after the old primary stopped. So no two epochs ever
acknowledge writes at the same time. The price: without the witness nobody can become
primary, and a replication cut alone never fails over (the primary still holds the lease;
the standby logs ``promotion-blocked``). Sync non-strict mode can still acknowledge writes
the standby does not have (Patroni's non-strict trade-off): fencing prevents split brain,
not that loss; ``--sync-strict`` does.
"""
