"""Downtime documents: valid PDF (read back with pypdf, an independent parser), every page stamped."""

from __future__ import annotations

import io
from typing import Any

import pypdf
import pytest

from mock_services.care import documents, pdf
from mock_services.care.documents import Printer, PrinterFailure, format_time

AS_OF = 1722672000.0  # 2024-08-03 08:00:00 UTC


def chart(medications: int) -> dict[str, Any]:
    meds = [{"display": f"Médicament n°{n} (comprimé)", "dosage": "1 cp matin et soir", "authored": "2024-08-01T10:00Z",
             "requester": "Dr Lefèvre"} for n in range(1, medications + 1)]  # fmt: skip
    demographics = {"id": "p000042", "name": "DURAND Éloïse", "birth_date": "1950-02-03",
                    "identifiers": [{"system": documents.MRN_SYSTEM, "value": "MRN00000042"}]}  # fmt: skip
    return {"demographics": {"items": demographics}, "medications": {"items": meds}}


def pages_text(data: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    return [page.extract_text() for page in reader.pages]


def test_mar_spans_pages_and_every_page_carries_identity_and_snapshot_time() -> None:
    queued = [{"kind": "medication", "display": "Amoxicilline 1 g", "downtime_id": "DT-O-care-1-000007",
               "authored": "2024-08-03T09:12:00.000Z", "state": "queued"}]  # fmt: skip
    document = documents.mar(chart(40), queued, AS_OF, downtime=True)
    data = Printer("care-1").print(document)
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    texts = pages_text(data)
    assert len(texts) >= 3
    for number, text in enumerate(texts, 1):
        assert "DURAND Éloïse" in text and "1950-02-03" in text and "p000042" in text and "MRN00000042" in text
        assert f"Données au : {format_time(AS_OF)}" in text and "2024-08-03 08:00:00 UTC" in text
        assert "MODE DÉGRADÉ" in text and f"Page {number}/{len(texts)}" in text
    everything = "\n".join(texts)
    assert all(f"Médicament n°{n} (comprimé)" in everything for n in range(1, 41))
    assert "DT-O-care-1-000007" in everything


def test_prescriptions_list_downtime_orders_with_their_ids() -> None:
    queued = [{"kind": "lab", "display": "NFS", "downtime_id": "DT-O-care-1-000001",
               "authored": "2024-08-03T09:00:00.000Z", "state": "queued"}]  # fmt: skip
    texts = pages_text(Printer("care-1").print(documents.prescriptions(chart(2), queued, AS_OF, downtime=False)))
    assert len(texts) == 1
    assert "Prescriptions en cours" in texts[0] and "MODE DÉGRADÉ" not in texts[0]
    assert "DT-O-care-1-000001 [lab] NFS" in texts[0] and "Signature du prescripteur" in texts[0]


def test_ward_schedule_names_each_booked_patient() -> None:
    view = {
        "staff": [{"date": "2024-08-03", "shift": "morning", "start": "2024-08-03T07:00:00+02:00",
                   "end": "2024-08-03T15:00:00+02:00", "staff": [{"name": "Léa Bonnet", "role": "médecin"}]}],
        "bookings": [{"start": "2024-08-03T08:00:00+02:00", "unit": "Bloc opératoire salle 1",
                      "procedure": "Appendicectomie", "patient": "p000042",
                      "patient_identity": "DURAND Éloïse, né(e) le 1950-02-03, id p000042"}],
    }  # fmt: skip
    texts = pages_text(Printer("care-1").print(documents.ward_schedule("cardiologie", view, AS_OF, downtime=True)))
    assert "Planning du service cardiologie" in texts[0] and "Léa Bonnet (médecin)" in texts[0]
    assert "DURAND Éloïse, né(e) le 1950-02-03, id p000042" in texts[0]


def test_printer_failure_names_the_document_and_the_printer_recovers() -> None:
    printer = Printer("care-1", failing=True)
    document = documents.mar(chart(1), [], AS_OF, downtime=True)
    with pytest.raises(PrinterFailure, match=r"mar\.pdf") as failure:
        printer.print(document)
    assert failure.value.document == "mar.pdf" and printer.failures == 1
    printer.set_failing(False)
    assert printer.print(document).startswith(b"%PDF")


def test_a_rendering_error_is_a_printer_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise MemoryError("out of toner")

    monkeypatch.setattr(pdf, "render", broken)
    with pytest.raises(PrinterFailure, match="out of toner"):
        Printer("care-1").print(documents.mar(chart(1), [], AS_OF, downtime=True))


def test_pdf_writer_escapes_and_keeps_offsets_exact() -> None:
    data = pdf.render([[pdf.Line("a (tricky) \\ line", 12, True)], [pdf.Line("€ and ✓")]], "t(i)tle")
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    assert [p.extract_text() for p in reader.pages] == ["a (tricky) \\ line", "€ and ?"]
    assert reader.metadata is not None and reader.metadata.title == "t(i)tle"
    xref = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert data[xref:].startswith(b"xref\n")
    with pytest.raises(ValueError):
        pdf.render([], "empty")
