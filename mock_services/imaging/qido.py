"""QIDO-RS (PS3.18 10.6): search studies, series and instances over the SQLite index.

Resources: ``/studies``, ``/series``, ``/instances`` (all of the archive),
``/studies/{study}/series``, ``/studies/{study}/instances`` and
``/studies/{study}/series/{series}/instances``. Query parameters:

* Matching, by keyword or by tag (``PatientID`` or ``00100020``), on the query level's
  attributes and those of the levels above (e.g. ``/series?PatientID=...``):

  - UIDs (Study/Series/SOP Instance UID, SOP Class UID): a list, separated by ``,`` or
    ``\\`` (UID list matching);
  - PatientName: case-insensitive, ``*`` and ``?`` wildcards;
  - other strings (PatientID, AccessionNumber, ...): exact, case-sensitive, ``*``/``?``
    wildcards; code strings (Modality, PatientSex) also take a ``,`` list;
  - dates and times: ``V``, ``A-B``, ``A-``, ``-B`` (inclusive; YYYYMMDD / HHMMSS);
  - ``ModalitiesInStudy`` -- and ``Modality`` at study level, which many clients send --
    match studies with at least one series of one of the listed modalities;
  - an empty value matches everything (and asks for the attribute, as PS3.4 says);
  - a matching key we do not support, or one below the query level, is a 400 that names it
    (silently ignoring it would return more than the client asked for).

* ``includefield``: keywords or tags (repeated or comma-separated) or ``all``; attributes
  the index does not hold are ignored. ``limit`` / ``offset`` (at most :data:`MAX_LIMIT`
  results per request; a ``Warning: 299`` header says when more remain). ``fuzzymatching``
  is accepted; ``true`` adds the standard's ``Warning: 299`` that only literal matching was
  performed.

Response: 200 with a JSON array of DICOM JSON data sets (``application/dicom+json``), or 204
with no body when nothing matches -- PS3.18 8.3.4.4.1 as published (CP-2473 proposes 200
with an empty array; dicomweb-client accepts both). Result order is index insertion order,
so ``offset`` pages are stable. Accept must allow ``application/dicom+json`` or
``application/json`` (else 406).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from mock_services.imaging.dicomjson import JsonDataset, element

MAX_LIMIT = 1000


class Level(IntEnum):
    STUDY = 1
    SERIES = 2
    INSTANCE = 3


class QueryError(ValueError):
    """A query the service will not run (400), with a message naming the parameter."""


@dataclass(frozen=True)
class Attribute:
    """A QIDO attribute: where it comes from in SQL and how it matches (``match`` is None for
    attributes that can be returned but not matched). Every attribute of a returned level is
    returned by default; ``includefield`` adds those of the other levels."""

    keyword: str
    tag: str
    vr: str
    level: Level
    column: str  # SQL expression over aliases st (studies), se (series), i (instances)
    match: str | None  # "uid" | "text" | "code" | "pn" | "date" | "time" | "int" | "modalities"


_MODALITIES_SQL = "(SELECT group_concat(DISTINCT x.modality) FROM series x WHERE x.study_uid = st.study_uid)"
_ATTRIBUTES = [
    Attribute("StudyInstanceUID", "0020000D", "UI", Level.STUDY, "st.study_uid", "uid"),
    Attribute("StudyDate", "00080020", "DA", Level.STUDY, "st.study_date", "date"),
    Attribute("StudyTime", "00080030", "TM", Level.STUDY, "st.study_time", "time"),
    Attribute("AccessionNumber", "00080050", "SH", Level.STUDY, "st.accession", "text"),
    Attribute("ModalitiesInStudy", "00080061", "CS", Level.STUDY, _MODALITIES_SQL, "modalities"),
    Attribute("ReferringPhysicianName", "00080090", "PN", Level.STUDY, "''", None),
    Attribute("StudyDescription", "00081030", "LO", Level.STUDY, "st.description", "text"),
    Attribute("PatientName", "00100010", "PN", Level.STUDY, "st.patient_name", "pn"),
    Attribute("PatientID", "00100020", "LO", Level.STUDY, "st.patient_id", "text"),
    Attribute("PatientBirthDate", "00100030", "DA", Level.STUDY, "st.birth_date", "date"),
    Attribute("PatientSex", "00100040", "CS", Level.STUDY, "st.sex", "code"),
    Attribute("StudyID", "00200010", "SH", Level.STUDY, "''", None),
    Attribute(
        "NumberOfStudyRelatedSeries", "00201206", "IS", Level.STUDY,
        "(SELECT COUNT(*) FROM series x WHERE x.study_uid = st.study_uid)", None,
    ),
    Attribute(
        "NumberOfStudyRelatedInstances", "00201208", "IS", Level.STUDY,
        "(SELECT COUNT(*) FROM instances x WHERE x.study_uid = st.study_uid)", None,
    ),
    Attribute("SeriesInstanceUID", "0020000E", "UI", Level.SERIES, "se.series_uid", "uid"),
    Attribute("Modality", "00080060", "CS", Level.SERIES, "se.modality", "code"),
    Attribute("SeriesDescription", "0008103E", "LO", Level.SERIES, "se.description", "text"),
    Attribute("SeriesNumber", "00200011", "IS", Level.SERIES, "se.series_number", "int"),
    Attribute(
        "NumberOfSeriesRelatedInstances", "00201209", "IS", Level.SERIES,
        "(SELECT COUNT(*) FROM instances x WHERE x.series_uid = se.series_uid)", None,
    ),
    Attribute("SOPClassUID", "00080016", "UI", Level.INSTANCE, "i.sop_class_uid", "uid"),
    Attribute("SOPInstanceUID", "00080018", "UI", Level.INSTANCE, "i.sop_uid", "uid"),
    Attribute("InstanceNumber", "00200013", "IS", Level.INSTANCE, "i.instance_number", "int"),
    Attribute("NumberOfFrames", "00280008", "IS", Level.INSTANCE, "i.frames", None),
    Attribute("Rows", "00280010", "US", Level.INSTANCE, "i.n_rows", None),
    Attribute("Columns", "00280011", "US", Level.INSTANCE, "i.n_columns", None),
    Attribute("BitsAllocated", "00280100", "US", Level.INSTANCE, "i.bits_allocated", None),
]
BY_KEYWORD: Mapping[str, Attribute] = {a.keyword: a for a in _ATTRIBUTES}
_CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")


@dataclass(frozen=True)
class Query:
    """A parsed search: SQL ready to run plus what to put in each result."""

    level: Level
    sql: str
    params: tuple[object, ...]
    returned: tuple[Attribute, ...]
    limit: int
    offset: int
    fuzzy_requested: bool


def _keyword(name: str) -> str:
    """A query parameter name as a DICOM keyword (tags accepted); QueryError if neither."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        keyword = keyword_for_tag(int(name, 16))
        if not keyword:
            raise QueryError(f"unknown attribute tag {name}")
        return keyword
    if tag_for_keyword(name) is None:
        raise QueryError(f"unknown query parameter {name!r} (not a DICOM keyword or tag)")
    return name


def _wildcard(value: str, like: bool) -> tuple[str, str]:
    """(SQL operator, pattern) for a DICOM wildcard value: LIKE (case-insensitive) or GLOB."""
    if like:
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "LIKE ? ESCAPE '\\'", escaped.replace("*", "%").replace("?", "_")
    escaped = "".join(f"[{ch}]" if ch in "[]" else ch for ch in value)
    return "GLOB ?", escaped


def _range(attr: Attribute, value: str, pattern: re.Pattern[str]) -> tuple[str, list[object]]:
    low, dash, high = value.partition("-")
    for bound in (low, high) if dash else (low,):
        if bound and not pattern.match(bound):
            raise QueryError(f"{attr.keyword}={value!r}: expected {attr.vr} value or range (e.g. 20240101-20240131)")
    if not dash:
        return f"{attr.column} = ?", [low]
    if not low and not high:
        raise QueryError(f"{attr.keyword}={value!r}: a range needs at least one bound")
    clauses: list[str] = []
    params: list[object] = []
    if low:
        clauses.append(f"{attr.column} >= ?")
        params.append(low)
    if high:
        clauses.append(f"{attr.column} <= ?")
        params.append(high)
    return " AND ".join(clauses), params


def _values(value: str, separators: str) -> list[str]:
    return [v.strip() for v in re.split(f"[{re.escape(separators)}]", value) if v.strip()]


def _condition(attr: Attribute, value: str, level: Level) -> tuple[str, list[object]]:
    kind = attr.match
    if kind == "uid":
        uids: list[object] = list(_values(value, ",\\"))
        return f"{attr.column} IN ({','.join('?' * len(uids))})", uids
    if kind in ("code", "modalities"):
        codes = _values(value, ",\\")
        marks = ",".join("?" * len(codes))
        if kind == "modalities" or (attr.keyword == "Modality" and level is Level.STUDY):
            sql = f"EXISTS (SELECT 1 FROM series x WHERE x.study_uid = st.study_uid AND x.modality IN ({marks}))"
            return sql, list(codes)
        return f"{attr.column} IN ({marks})", list(codes)
    if kind in ("text", "pn"):
        if "*" in value or "?" in value:
            operator, pattern = _wildcard(value, like=kind == "pn")
            return f"{attr.column} {operator}", [pattern]
        return (f"{attr.column} = ? COLLATE NOCASE" if kind == "pn" else f"{attr.column} = ?"), [value]
    if kind == "date":
        return _range(attr, value, _DATE)
    if kind == "time":
        return _range(attr, value, _TIME)
    if kind == "int":
        try:
            return f"{attr.column} = ?", [int(value)]
        except ValueError:
            raise QueryError(f"{attr.keyword}={value!r}: expected an integer") from None
    raise QueryError(f"matching on {attr.keyword} is not supported")


def _integer(params: Mapping[str, list[str]], name: str, default: int) -> int:
    values = params.get(name)
    if not values:
        return default
    try:
        number = int(values[-1])
    except ValueError:
        raise QueryError(f"{name}={values[-1]!r}: expected a non-negative integer") from None
    if number < 0:
        raise QueryError(f"{name}={number}: expected a non-negative integer")
    return number


_FROM = {
    Level.STUDY: "studies st",
    Level.SERIES: "series se JOIN studies st ON st.study_uid = se.study_uid",
    Level.INSTANCE: (
        "instances i JOIN series se ON se.series_uid = i.series_uid JOIN studies st ON st.study_uid = i.study_uid"
    ),
}
_ORDER = {Level.STUDY: "st.rowid", Level.SERIES: "se.rowid", Level.INSTANCE: "i.rowid"}


def build_query(
    level: Level, params: Mapping[str, list[str]], fixed: Mapping[str, str], returned_levels: Sequence[Level]
) -> Query:
    """Parse ``params`` (name -> values, in request order) for a search at ``level``.

    ``fixed``: UIDs from the URL path (``StudyInstanceUID``, ``SeriesInstanceUID``).
    ``returned_levels``: the levels whose default attributes each result carries (the query
    level, plus the levels above it that the URL does not fix). Raises :class:`QueryError`.
    """
    conditions: list[str] = []
    values: list[object] = []
    for keyword, uid in fixed.items():
        conditions.append(f"{BY_KEYWORD[keyword].column} = ?")
        values.append(uid)
    requested: set[str] = set()
    include_all = False
    for raw in params.get("includefield", []):
        for name in _values(raw, ","):
            if name.lower() == "all":
                include_all = True
            else:
                requested.add(_keyword(name))
    for name, raw_values in params.items():
        if name in _CONTROL:
            continue
        keyword = _keyword(name)
        attr = BY_KEYWORD.get(keyword)
        study_modality = keyword == "Modality" and level is Level.STUDY
        if attr is None or attr.match is None:
            raise QueryError(f"matching on {keyword} is not supported")
        if attr.level > level and not study_modality:
            raise QueryError(
                f"{keyword} is a {attr.level.name.lower()}-level attribute; not usable in a {level.name.lower()} search"
            )
        value = ",".join(v for v in raw_values if v)
        requested.add("ModalitiesInStudy" if study_modality else keyword)
        if value:
            condition, condition_values = _condition(attr, value, level)
            conditions.append(condition)
            values.extend(condition_values)
    levels = set(returned_levels)

    def wanted(a: Attribute) -> bool:
        if a.level > level:
            return False
        # Study and Series Instance UIDs are always returned: clients need them to follow up.
        always = a.keyword in ("StudyInstanceUID", "SeriesInstanceUID")
        return always or include_all or a.keyword in requested or a.level in levels

    returned = tuple(a for a in _ATTRIBUTES if wanted(a))
    limit = min(_integer(params, "limit", MAX_LIMIT), MAX_LIMIT)
    offset = _integer(params, "offset", 0)
    fuzzy = params.get("fuzzymatching", ["false"])[-1].lower()
    if fuzzy not in ("true", "false"):
        raise QueryError(f"fuzzymatching={fuzzy!r}: expected true or false")
    columns = ", ".join(f"{a.column} AS c{index}" for index, a in enumerate(returned))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = f"SELECT {columns} FROM {_FROM[level]}{where} ORDER BY {_ORDER[level]} LIMIT ? OFFSET ?"
    return Query(level, sql, (*values, limit + 1, offset), returned, limit, offset, fuzzy == "true")


def _json_value(attr: Attribute, raw: Any) -> dict[str, Any]:
    if raw is None or raw == "":
        return element(attr.vr)
    if attr.keyword == "ModalitiesInStudy":
        return element(attr.vr, *sorted(str(raw).split(",")))
    if attr.vr in ("IS", "US"):
        return element(attr.vr, int(raw))
    return element(attr.vr, raw)


def to_results(
    query: Query, rows: Sequence[Sequence[Any]], retrieve_url: Callable[[dict[str, str]], str]
) -> list[JsonDataset]:
    """DICOM JSON data sets for ``rows`` (at most ``query.limit``), each with its Retrieve URL
    and Instance Availability (always ONLINE: every indexed file is on disk or renderable)."""
    results = []
    for row in rows[: query.limit]:
        dataset: JsonDataset = {}
        uids: dict[str, str] = {}
        for index, attr in enumerate(query.returned):
            dataset[attr.tag] = _json_value(attr, row[index])
            if attr.match == "uid" and row[index]:
                uids[attr.keyword] = str(row[index])
        dataset["00080056"] = element("CS", "ONLINE")
        dataset["00081190"] = element("UR", retrieve_url(uids))
        results.append(dict(sorted(dataset.items())))
    return results
