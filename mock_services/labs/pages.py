"""The clinicians' HTML: a patient-id form and a results table. Server-rendered, no JavaScript.

Every value is HTML-escaped. Abnormal values (flag H/L) are bold with the flag shown, so the
page reads without colour. An outage renders its own page (HTTP 503) that says results cannot
be shown -- never an empty table.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;max-width:70em}"
    "table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #999;padding:.2em .6em}"
    ".abn{font-weight:bold;color:#a00}.err{border:2px solid #a00;padding:1em}"
)


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )


def _form(value: str = "") -> str:
    return (
        '<form action="/patients" method="get"><label>Identifiant patient '
        f'<input name="id" value="{escape(value)}" required></label> <button>Afficher</button></form>'
    )


def index_page() -> str:
    return _page("Résultats de biologie", "<h1>Résultats de biologie</h1>" + _form())


def _value(row: dict[str, Any]) -> str:
    if row["missing"]:
        return "<em>absent du DPI</em>"
    text = escape(f"{row['value']} {row['unit'] or ''}".strip())
    return f'<span class="abn">{text} ({escape(row["flag"])})</span>' if row["flag"] in ("H", "L") else text


def _range(row: dict[str, Any]) -> str:
    rr = row["reference_range"]
    if not rr:
        return ""
    if rr.get("text"):
        return escape(str(rr["text"]))
    return escape(f"{rr.get('low', '')} - {rr.get('high', '')}")


def results_page(patient: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """The patient's reports, one table each, newest first."""
    header = (
        f"<h1>Résultats de biologie</h1>{_form(patient['id'] or '')}"
        f"<h2>{escape(patient['name'])} ({escape(patient['id'] or '')})</h2>"
        f"<p>Né(e) le {escape(patient['birth_date'] or '?')}</p>"
    )
    if not results:
        return _page("Résultats de biologie", header + "<p>Aucun résultat de biologie pour ce patient.</p>")
    sections = []
    for report in results:
        rows = "".join(
            f"<tr><td>{escape(row['display'] or row['code'] or row['id'] or '')}</td><td>{_value(row)}</td>"
            f"<td>{_range(row)}</td></tr>"
            for row in report["observations"]
        )
        sections.append(
            f"<h3>{escape(report['display'] or report['code'] or '')}</h3>"
            f"<p>Émis le {escape(report['issued'] or '?')} &middot; statut {escape(report['status'] or '?')}</p>"
            f"<table><tr><th>Analyse</th><th>Résultat</th><th>Valeurs de référence</th></tr>{rows}</table>"
        )
    return _page("Résultats de biologie", header + "".join(sections))


def error_page(title: str, detail: str) -> str:
    message = f'<div class="err"><h2>{escape(title)}</h2><p>{escape(detail)}</p></div>'
    return _page(title, f"<h1>Résultats de biologie</h1>{_form()}{message}")
