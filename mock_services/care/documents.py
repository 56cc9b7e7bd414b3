"""Printable downtime documents: medication administration record, active prescriptions, ward schedule.

Each document is a title, an identity block, the data time, and body lines, paginated so that
EVERY page repeats (paper gets separated and mixed up -- AP-HP's fear in August 2024):

* the document's title and, for patient documents, the patient's identity: NAME Given, birth
  date, identifier (the application's patient id and the MRN when known);
* ``Données au <as_of UTC>`` -- the snapshot's time in downtime (with "résultats postérieurs
  non disponibles"), the read time in normal mode;
* a footer ``Page i/n`` with the document, the patient id (or ward) and who printed it when.

:class:`Printer` turns a document into PDF bytes (:mod:`.pdf`). Any failure -- the injected
one (``failing``, for tests and experiments: ``/_admin/printer``) or a real error while
rendering -- is a :class:`PrinterFailure` naming the document, which the application answers
as 503 ``printer-failure`` while everything else keeps working.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mock_services.care import pdf
from mock_services.care.pdf import Line

BODY_LINES = 46
MRN_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
ADMINISTRATION_TIMES = ("06h", "12h", "18h", "00h")


class PrinterFailure(Exception):
    def __init__(self, document: str, detail: str) -> None:
        super().__init__(f"the document {document!r} could not be printed: {detail}")
        self.document = document


def format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Document:
    name: str  # e.g. "mar.pdf"
    title: str
    subject: str  # patient id or ward, for the footer
    identity: list[str]  # repeated on every page
    as_of: float
    downtime: bool
    body: list[Line] = field(default_factory=list)


def identity_lines(demographics: dict[str, Any]) -> list[str]:
    """NAME Given, birth date, identifiers -- the patient identity block of a document."""
    mrn = next((i["value"] for i in demographics.get("identifiers") or [] if i.get("system") == MRN_SYSTEM), None)
    ids = f"Identifiant : {demographics.get('id')}" + (f"   IPP/MRN : {mrn}" if mrn else "")
    born = demographics.get("birth_date") or "?"
    return [f"Patient : {demographics.get('name') or '?'}   Né(e) le : {born}", ids]


def paginate(document: Document, source: str, body_lines: int = BODY_LINES) -> list[list[Line]]:
    chunks = [document.body[i : i + body_lines] for i in range(0, len(document.body), body_lines)] or [[]]
    when = f"Données au : {format_time(document.as_of)}"
    when += " (instantané de continuité ; résultats postérieurs non disponibles)" if document.downtime else ""
    printed = format_time(time.time())
    pages = []
    for number, chunk in enumerate(chunks, 1):
        header = [Line(document.title, 13, True), *(Line(text, 10, True) for text in document.identity), Line(when, 9)]
        footer = Line(f"Page {number}/{len(chunks)} -- {document.name} -- {document.subject} -- "
                      f"imprimé le {printed} par {source}", 8)  # fmt: skip
        pages.append([*header, Line("", 6), *chunk, Line("", 8), footer])
    return pages


def _wrapped(text: str, size: float = 10, bold: bool = False, indent: str = "") -> list[Line]:
    lines = pdf.wrap(text, size, pdf.PAGE_WIDTH - 2 * pdf.MARGIN - 6 * len(indent))
    return [Line(indent + line, size, bold) for line in lines]


def _banner(downtime: bool) -> str:
    return "MODE DÉGRADÉ -- " if downtime else ""


def mar(chart: dict[str, Any], queued: list[dict[str, Any]], as_of: float, downtime: bool) -> Document:
    """Medication administration record: each active medication with a 24 h administration grid."""
    body: list[Line] = []
    medications = chart["medications"]["items"]
    for med in medications:
        body += _wrapped(f"{med['display']} -- {med.get('dosage') or 'posologie non précisée'}", bold=True)
        body += _wrapped(f"prescrit le {med.get('authored') or '?'} par {med.get('requester') or '?'}", 9, indent="  ")
        body.append(Line("  " + "   ".join(f"{t} [   ] ____" for t in ADMINISTRATION_TIMES), 10))
        body.append(Line("", 6))
    for entry in queued:
        if entry["kind"] == "medication":
            body += _wrapped(f"{entry['display']} (ordre en attente {entry['downtime_id']}, "
                             f"rédigé {entry['authored']})", bold=True)  # fmt: skip
            body.append(Line("  " + "   ".join(f"{t} [   ] ____" for t in ADMINISTRATION_TIMES), 10))
    if not medications and not any(e["kind"] == "medication" for e in queued):
        body.append(Line("Aucun médicament actif.", 10))
    demographics = chart["demographics"]["items"]
    title = f"{_banner(downtime)}Feuille d'administration des médicaments"
    return Document("mar.pdf", title, str(demographics.get("id")), identity_lines(demographics), as_of, downtime, body)


def prescriptions(chart: dict[str, Any], queued: list[dict[str, Any]], as_of: float, downtime: bool) -> Document:
    """Active prescriptions, then the orders written during downtime (with their downtime ids)."""
    body: list[Line] = []
    for n, med in enumerate(chart["medications"]["items"], 1):
        body += _wrapped(f"{n}. {med['display']}", bold=True)
        body += _wrapped(f"Posologie : {med.get('dosage') or 'non précisée'}", indent="   ")
        body += _wrapped(f"Prescrit le {med.get('authored') or '?'} par {med.get('requester') or '?'}", 9, indent="   ")
    if not chart["medications"]["items"]:
        body.append(Line("Aucune prescription active dans les données ci-dessus.", 10))
    if queued:
        body += [Line("", 8), Line("Ordres saisis en mode dégradé (en attente de réconciliation) :", 10, True)]
        for entry in queued:
            text = f"{entry['downtime_id']} [{entry['kind']}] {entry['display']} -- rédigé {entry['authored']}"
            body += _wrapped(f"{text} -- {entry['state']}", indent="   ")
    body += [Line("", 10), Line("Signature du prescripteur : ______________________", 10)]
    demographics = chart["demographics"]["items"]
    title = f"{_banner(downtime)}Prescriptions en cours"
    return Document("prescriptions.pdf", title, str(demographics.get("id")), identity_lines(demographics), as_of,
                    downtime, body)  # fmt: skip


def ward_schedule(ward: str, schedule: dict[str, Any], as_of: float, downtime: bool) -> Document:
    """The ward's staff rota and its patients' OR/scanner bookings (each with the patient's identity)."""
    body: list[Line] = [Line("Équipes du service", 11, True)]
    for slot in schedule["staff"]:
        crew = ", ".join(f"{p['name']} ({p['role']})" for p in slot.get("staff") or [])
        hours = f"{slot['start'][11:16]}-{slot['end'][11:16]}"
        body += _wrapped(f"{slot['date']} {slot.get('shift') or ''} {hours} : {crew}")
    if not schedule["staff"]:
        body.append(Line("Aucun planning d'équipe.", 10))
    body += [Line("", 8), Line("Bloc opératoire et imagerie -- patients du service", 11, True)]
    for booking in schedule["bookings"]:
        who = booking.get("patient_identity") or booking["patient"]
        when = booking["start"][:16].replace("T", " ")
        body += _wrapped(f"{when} {booking['unit']} : {booking.get('procedure') or ''}")
        body.append(Line(f"      Patient : {who}", 10, True))  # one line: an identity is never split
    if not schedule["bookings"]:
        body.append(Line("Aucune réservation pour les patients du service.", 10))
    title = f"{_banner(downtime)}Planning du service {ward}"
    return Document("schedule.pdf", title, ward, [f"Service : {ward}"], as_of, downtime, body)


class Printer:
    """Renders documents; ``failing`` (with ``reason``) makes every print fail, as a broken printer would."""

    def __init__(self, source: str, failing: bool = False) -> None:
        self.source = source
        self.failing = failing
        self.reason = "printer failure injected (configuration)" if failing else ""
        self.printed = 0
        self.failures = 0

    def set_failing(self, failing: bool, reason: str = "printer failure injected") -> None:
        self.failing, self.reason = failing, reason if failing else ""

    def print(self, document: Document, body_lines: int = BODY_LINES) -> bytes:
        try:
            if self.failing:
                raise RuntimeError(self.reason)
            data = pdf.render(paginate(document, self.source, body_lines), document.title)
        except Exception as error:
            self.failures += 1
            raise PrinterFailure(document.name, str(error)) from error
        self.printed += 1
        return data
