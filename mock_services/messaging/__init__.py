"""Mock clinical messaging: an HL7 v2 interface engine over MLLP (Mirth/NextGen Connect in miniature).

One engine per data center (msg-a in dc-a, msg-b in dc-b), both active; senders know a
primary and a backup (:class:`.sender.MllpSender`). Run with ``python -m
mock_services.messaging`` (flags in :mod:`.__main__`). Modules, one concept each:

``mllp`` (framing) -> ``hl7v2`` (parsing) -> ``validation`` (what is accepted) -> ``ack``
(codes, modes, the ACK message) -> ``listener`` (connections, the per-message pipeline) ->
``store`` (SQLite, group commit, the queue) -> ``forwarder`` (the queue loop: retry, rotate,
give up) -> ``destination`` (HTTP to the FHIR server, conditional create/update) with
``fhir_mapping`` (HL7 -> FHIR); ``app`` (wiring and the HTTP admin API), ``metrics``,
``config``, ``eventlog``; ``sender`` (the client side), ``samples`` (realistic messages),
``testing`` (in-process engines, a fake FHIR receiver, raw MLLP helpers).

The contract in short
=====================

*Receive.* MLLP frames ``0x0B msg 0x1C 0x0D``, several per connection, split anyhow across
reads; garbage between frames skipped up to a limit; oversized frames and idle connections
closed. Accepted: ADT^A01/A03/A08, ORM^O01, OML^O21, ORU^R01, a published HL7 v2 version
(2.1 .. 2.9). Original mode (MSH-15/16 empty): AA / AE (content error: missing PID-3, no
OBR/OBX, an OBX before its OBR, two patients, a value that cannot be forwarded, ...) / AR
(unsupported type or version, blank MSH-10, unusable separators, unreadable structure,
store failure). Enhanced mode (MSH-15 or MSH-16 set): commit ACK CA / CE / CR sent per
MSH-15 (AL, ER, SU, NE); *no application ACK is ever sent* (MSH-16 is read and ignored).
Every non-accept carries ERR segments naming segment, field, the HL7 table 0357 code and a
text. An ACK copies nothing unchecked: a published version, P/T/D, a trigger event code,
usable separators (else the standard ones), escaped texts -- any HL7 parser reads it (see
:mod:`.ack`). A frame without a readable MSH header gets no ACK: the connection is closed.

*Durability before ACK.* An accepted message is committed to SQLite (WAL) before its ACK is
written; concurrent messages share one commit (group commit). ``synchronous=FULL`` by default
(survives kernel crash and power cut); ``--synchronous normal`` survives SIGKILL only. A
duplicate (same MSH-10 and MSH-3: MSH-10 is unique per sending application) is acknowledged
AA/CA again and stored once (its ``duplicates`` count goes up). A blank MSH-10 is never a
key: such a message is refused (AR, ERR at ``MSH^1^10``, code 101).

*Forward.* ORU^R01 -> Observations + DiagnosticReport, ADT^A01/A08 -> Patient (created, or
updated with PUT when it exists), ADT^A03 -> finished Encounter, to ``--destination-fhir``;
ORM/OML are stored with status ``no-destination``. In order, with retry every
``--forward-retry-interval`` up to ``--forward-max-attempts`` (0 = forever), ``--rotate``
against head-of-line blocking (a message that could not be mapped is refused at receipt,
never queued). Each resource carries ``urn:hchaos:hl7:msh-10|<MSH-10>[-n]`` (readable, what
read-back searches) and ``urn:hchaos:hl7:message-key|<digest of MSH-3, MSH-10, part>``; with
``--dedup-key on`` it is created with ``If-None-Exist`` on the message key, so at-least-once
delivery becomes exactly-once at a receiver that honours conditional create, and two
messages never share a key; ``off`` sends no condition (duplicates on retry, on purpose).
The queue is the store: it survives restarts, SIGKILL included.

*Inspect.* ``GET /health``, ``/metrics``, ``/messages``, ``/messages/{msh10}`` (see :mod:`.app`).
"""
