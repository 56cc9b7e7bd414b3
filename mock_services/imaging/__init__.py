"""Mock PACS: DICOMweb (QIDO-RS, WADO-RS, STOW-RS), an archive in dc-a and its asynchronous
replica in dc-b.

Run with ``python -m mock_services.imaging`` (flags in :mod:`.__main__`). Modules, one
concept each: ``config`` (settings), ``store`` (Part 10 files + SQLite index + outbox, crash
recovery), ``part10`` (what the index keeps; STOW validation), ``render`` (synthetic Part 10
files), ``seed`` (the synthetic studies), ``qido`` + ``qido_api`` (search), ``wado``
(retrieve, metadata, bulk data, frames), ``rendering`` + ``wado_rendered`` (rendered
images), ``stow`` (store; replication intake), ``replication`` (the archive's shipper),
``multipart`` + ``mediatypes`` (wire formats), ``dicomjson`` (the DICOM JSON model),
``responses`` (errors, negotiation), ``api`` (the OpenAPI description: routes and
``GET /openapi.json`` from one table), ``metrics``, ``service`` (shared state), ``app``
(wiring, /health, /writable, /metrics), ``eventlog``, ``testing`` (helpers for tests).

Roles and replication
=====================

*Archive* (``--role archive``): the only instance that accepts STOW-RS from clients. Every
newly stored instance gets an outbox row in the same SQLite transaction as its index row; a
background shipper sends the outbox, oldest first, to the replica's
``POST /_replication/instances`` (multipart/related, the STOW wire format), and deletes
entries once the replica answered with a Store Instances Response. Replication is
asynchronous: the client's STOW is acknowledged after the local commit, before the replica
has it -- so a power cut of dc-a loses nothing the archive acknowledged (the outbox is
durable) but makes those instances *unavailable* in dc-b until dc-a returns. ``/health``
reports the backlog.

*Replica* (``--role replica``): serves QIDO-RS and WADO-RS from what it holds -- the seed
data plus what the archive shipped; it does not serve what it has not received (QIDO finds
nothing, WADO answers 404). It refuses client STOW with 503 + Retry-After (see :mod:`.stow`
for why 503). Roles never change: there is no promotion, on purpose -- a PACS replica in a
second data center is typically a read-only copy, and "images can be viewed but not
acquired into the archive" is the degraded mode the experiments look at.

Storage and crash safety (details in :mod:`.store`): files are written to ``tmp/``, the
index rows (+ outbox rows) commit, then files are renamed into ``studies/<study>/``. Start-up
recovery rolls a committed-but-unrenamed file forward and deletes uncommitted ones, so after
a SIGKILL at any instant the index and the files agree, and a refused or interrupted STOW
leaves nothing behind. STOW is idempotent per SOP Instance UID (identical bytes are
acknowledged again; different bytes are refused as a duplicate, 0111H).

Seed data (``--seed N --patients N``): both instances index the same synthetic studies at
start-up (rows only, seconds for 10 000 patients); each file is rendered deterministically
on first access, so both serve identical bytes and nothing seeded is ever shipped.

Compared with a real PACS: the behaviour was measured side by side with Orthanc 1.10 + its
DICOMweb plugin (tests/mock_services/test_imaging_vs_orthanc.py). Where Orthanc deviates from
PS3.18 the mock follows the standard; where servers legitimately differ, the mock's choice is
an option: ``--qido-empty-status`` (200 ``[]`` like Orthanc, the default, or the 204 of
PS3.18 8.3.4.4.1).

Deviations from PS3.18, deliberate: no transcoding (a ``transfer-syntax`` other than ``*``
or the stored one is a 406); no XML (``application/dicom+xml``) and no JSON+bulk-data STOW
(415); no thumbnails; a rendered study or series is its first image (as Orthanc), not every
instance; person-name matching is case-insensitive; a request without ``Accept`` is served
the default media type (PS3.18 8.7.5 says 406; every common client sends an Accept).
"""
