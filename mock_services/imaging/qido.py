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

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword

from mock_services.imaging.dicomjson import JsonDataset, element

MAX_LIMIT = 1000
_MAX_IS = 2**31 - 1  # an IS value is a 32-bit signed integer (PS3.5 6.2)
_MAX_OFFSET = 2**62  # anything larger skips every row; SQLite cannot bind beyond 2**63 - 1


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
    returned by default; ``includefield`` adds those of the other levels. A ``conditional``
    attribute is left out of a result when its value is not known (empty)."""

    keyword: str
    tag: str
    vr: str
    level: Level
    column: str  # SQL expression over aliases st (studies), se (series), i (instances)
    match: str | None  # "uid" | "text" | "code" | "pn" | "date" | "time" | "int" | "modalities"
    conditional: bool = False


_MODALITIES_SQL = "(SELECT group_concat(DISTINCT x.modality) FROM series x WHERE x.study_uid = st.study_uid)"
_STUDY, _SERIES, _INSTANCE = Level.STUDY, Level.SERIES, Level.INSTANCE
_ATTRIBUTES = [
    Attribute("StudyInstanceUID", "0020000D", "UI", _STUDY, "st.study_uid", "uid"),
    Attribute("StudyDate", "00080020", "DA", _STUDY, "st.study_date", "date"),
    Attribute("StudyTime", "00080030", "TM", _STUDY, "st.study_time", "time"),
    Attribute("AccessionNumber", "00080050", "SH", _STUDY, "st.accession", "text"),
    Attribute("ModalitiesInStudy", "00080061", "CS", _STUDY, _MODALITIES_SQL, "modalities"),
    Attribute("ReferringPhysicianName", "00080090", "PN", _STUDY, "st.referring_physician", "pn"),
    Attribute("TimezoneOffsetFromUTC", "00080201", "SH", _STUDY, "st.timezone", None, conditional=True),
    Attribute("StudyDescription", "00081030", "LO", _STUDY, "st.description", "text", conditional=True),
    Attribute("PatientName", "00100010", "PN", _STUDY, "st.patient_name", "pn"),
    Attribute("PatientID", "00100020", "LO", _STUDY, "st.patient_id", "text"),
    Attribute("PatientBirthDate", "00100030", "DA", _STUDY, "st.birth_date", "date"),
    Attribute("PatientSex", "00100040", "CS", _STUDY, "st.sex", "code"),
    Attribute("StudyID", "00200010", "SH", _STUDY, "st.study_id", "text"),
    Attribute("NumberOfStudyRelatedSeries", "00201206", "IS", _STUDY,
              "(SELECT COUNT(*) FROM series x WHERE x.study_uid = st.study_uid)", None),
    Attribute("NumberOfStudyRelatedInstances", "00201208", "IS", _STUDY,
              "(SELECT COUNT(*) FROM instances x WHERE x.study_uid = st.study_uid)", None),
    Attribute("SeriesInstanceUID", "0020000E", "UI", _SERIES, "se.series_uid", "uid"),
    Attribute("Modality", "00080060", "CS", _SERIES, "se.modality", "code"),
    Attribute("SeriesDescription", "0008103E", "LO", _SERIES, "se.description", "text", conditional=True),
    Attribute("SeriesNumber", "00200011", "IS", _SERIES, "se.series_number", "int"),
    Attribute("NumberOfSeriesRelatedInstances", "00201209", "IS", _SERIES,
              "(SELECT COUNT(*) FROM instances x WHERE x.series_uid = se.series_uid)", None),
    Attribute("PerformedProcedureStepStartDate", "00400244", "DA", _SERIES, "se.pps_start_date", "date",
              conditional=True),
    Attribute("PerformedProcedureStepStartTime", "00400245", "TM", _SERIES, "se.pps_start_time", "time",
              conditional=True),
    Attribute("RequestAttributesSequence", "00400275", "SQ", _SERIES, "se.request_attributes", None,
              conditional=True),
    Attribute("SOPClassUID", "00080016", "UI", _INSTANCE, "i.sop_class_uid", "uid"),
    Attribute("SOPInstanceUID", "00080018", "UI", _INSTANCE, "i.sop_uid", "uid"),
    Attribute("InstanceNumber", "00200013", "IS", _INSTANCE, "i.instance_number", "int"),
    Attribute("NumberOfFrames", "00280008", "IS", _INSTANCE, "i.frames", None, conditional=True),
    Attribute("Rows", "00280010", "US", _INSTANCE, "i.n_rows", None, conditional=True),
    Attribute("Columns", "00280011", "US", _INSTANCE, "i.n_columns", None, conditional=True),
    Attribute("BitsAllocated", "00280100", "US", _INSTANCE, "i.bits_allocated", None, conditional=True),
]  # fmt: skip
BY_KEYWORD: Mapping[str, Attribute] = {a.keyword: a for a in _ATTRIBUTES}
_CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
# Returned whatever the query level: clients need the UIDs to follow up, and PS3.18 lists
# Timezone Offset From UTC in the tables of all three levels.
_ALWAYS = {"StudyInstanceUID", "SeriesInstanceUID", "TimezoneOffsetFromUTC"}
# Request Attributes Sequence items, as the index stores them: [[sps_id, rp_id], ...].
_REQUEST_ITEM = {"ScheduledProcedureStepID": ("00400009", 0), "RequestedProcedureID": ("00401001", 1)}
_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")


@dataclass(frozen=True)
class Query:
    """A parsed search: SQL ready to run, what to put in each result, and the parameters
    ignored as unsupported (for the Warning header)."""

    level: Level
    sql: str
    params: tuple[object, ...]
    returned: tuple[Attribute, ...]
    limit: int
    offset: int
    fuzzy_requested: bool
    ignored: tuple[str, ...] = ()


def _attribute_name(name: str) -> str | None:
    """A parameter name (keyword or tag) as a public DICOM keyword, or None if it is not one
    (no keyword or tag of the data dictionary, or a private tag)."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        tag = int(name, 16)
        if (tag >> 16) % 2 == 1:  # a private group: meaningless without its Private Creator
            return None
        return keyword_for_tag(tag) or None
    return name if tag_for_keyword(name) is not None else None


def _sequence_item(name: str) -> str | None:
    """The item keyword of ``RequestAttributesSequence.<item>`` (keywords or tags), or None
    for any other sequence path."""
    head, _, rest = name.partition(".")
    if _attribute_name(head) != "RequestAttributesSequence" or "." in rest:
        return None
    item = _attribute_name(rest)
    return item if item in _REQUEST_ITEM else None


def _wildcard(value: str, like: bool) -> tuple[str, str]:
    """(SQL operator, pattern) for a DICOM wildcard value: LIKE (case-insensitive) or GLOB."""
    if like:
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "LIKE ? ESCAPE '\\'", escaped.replace("*", "%").replace("?", "_")
    escaped = "".join(f"[{ch}]" if ch in "[]" else ch for ch in value)
    return "GLOB ?", escaped


def _text_match(column: str, value: str, case_insensitive: bool) -> tuple[str, list[object]]:
    if "*" in value or "?" in value:
        operator, pattern = _wildcard(value, like=case_insensitive)
        return f"{column} {operator}", [pattern]
    return (f"{column} = ? COLLATE NOCASE" if case_insensitive else f"{column} = ?"), [value]


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
        return _text_match(attr.column, value, case_insensitive=kind == "pn")
    if kind == "date":
        return _range(attr, value, _DATE)
    if kind == "time":
        return _range(attr, value, _TIME)
    if kind == "int":
        try:
            number = int(value)
        except ValueError:
            raise QueryError(f"{attr.keyword}={value!r}: expected an integer") from None
        if abs(number) > _MAX_IS:
            raise QueryError(f"{attr.keyword}={value!r}: expected an integer of at most 32 bits (an IS value)")
        return f"{attr.column} = ?", [number]
    raise QueryError(f"matching on {attr.keyword} is not supported")


def _item_condition(item: str, value: str) -> tuple[str, list[object]]:
    """A series with a Request Attributes Sequence item whose ``item`` matches ``value``."""
    column = f"json_extract(j.value, '$[{_REQUEST_ITEM[item][1]}]')"
    condition, params = _text_match(column, value, case_insensitive=False)
    return f"EXISTS (SELECT 1 FROM json_each(se.request_attributes) j WHERE {condition})", params


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


class _Parser:
    """One request's parameters, read into conditions, requested attributes and what was ignored."""

    def __init__(self, level: Level) -> None:
        self.level = level
        self.conditions: list[str] = []
        self.values: list[object] = []
        self.requested: set[str] = set()
        self.include_all = False
        self.ignored: list[str] = []

    def include(self, raw: str) -> None:
        for name in _values(raw, ","):
            if name.lower() == "all":
                self.include_all = True
            elif "." in name:
                if _sequence_item(name) is None:
                    self.ignored.append(name)
                else:
                    self.requested.add("RequestAttributesSequence")
            elif (keyword := _attribute_name(name)) is None:
                self.ignored.append(name)
            else:
                self.requested.add(keyword)

    def match(self, name: str, raw_values: list[str]) -> None:
        value = ",".join(v for v in raw_values if v)
        if "." in name:
            item = _sequence_item(name)
            if item is None:
                self.ignored.append(name)
                return
            self._check_level("RequestAttributesSequence", Level.SERIES)
            self.requested.add("RequestAttributesSequence")
            if value:
                self._add(*_item_condition(item, value))
            return
        keyword = _attribute_name(name)
        attr = BY_KEYWORD.get(keyword) if keyword else None
        if keyword is None or attr is None or attr.match is None:
            # Not an attribute, or one we do not match on: ignored for matching (PS3.18 8.3;
            # PS3.4 C.2.2.1: an unsupported optional key is a universal match), still
            # returned if the index holds it.
            self.ignored.append(name)
            if attr is not None and attr.level <= self.level:
                self.requested.add(attr.keyword)
            return
        study_modality = keyword == "Modality" and self.level is Level.STUDY
        if not study_modality:
            self._check_level(keyword, attr.level)
        self.requested.add("ModalitiesInStudy" if study_modality else keyword)
        if value:
            self._add(*_condition(attr, value, self.level))

    def _check_level(self, keyword: str, level: Level) -> None:
        if level > self.level:
            raise QueryError(
                f"{keyword} is a {level.name.lower()}-level attribute; not usable in a {self.level.name.lower()}"
                " search (PS3.18 10.6.1.2.1)"
            )

    def _add(self, condition: str, values: list[object]) -> None:
        self.conditions.append(condition)
        self.values.extend(values)


def build_query(
    level: Level, params: Mapping[str, list[str]], fixed: Mapping[str, str], returned_levels: Sequence[Level]
) -> Query:
    """Parse ``params`` (name -> values, in request order) for a search at ``level``.

    ``fixed``: UIDs from the URL path (``StudyInstanceUID``, ``SeriesInstanceUID``).
    ``returned_levels``: the levels whose default attributes each result carries (the query
    level, plus the levels above it that the URL does not fix). Raises :class:`QueryError`.
    """
    parser = _Parser(level)
    for keyword, uid in fixed.items():
        parser.conditions.append(f"{BY_KEYWORD[keyword].column} = ?")
        parser.values.append(uid)
    for raw in params.get("includefield", []):
        parser.include(raw)
    for name, raw_values in params.items():
        if name not in _CONTROL:
            parser.match(name, raw_values)
    levels = set(returned_levels)

    def wanted(a: Attribute) -> bool:
        if a.level > level:
            return False
        return a.keyword in _ALWAYS or parser.include_all or a.keyword in parser.requested or a.level in levels

    returned = tuple(a for a in _ATTRIBUTES if wanted(a))
    limit = min(_integer(params, "limit", MAX_LIMIT), MAX_LIMIT)
    offset = min(_integer(params, "offset", 0), _MAX_OFFSET)
    fuzzy = params.get("fuzzymatching", ["false"])[-1].lower()
    if fuzzy not in ("true", "false"):
        raise QueryError(f"fuzzymatching={fuzzy!r}: expected true or false")
    columns = ", ".join(f"{a.column} AS c{index}" for index, a in enumerate(returned))
    where = f" WHERE {' AND '.join(parser.conditions)}" if parser.conditions else ""
    sql = f"SELECT {columns} FROM {_FROM[level]}{where} ORDER BY {_ORDER[level]} LIMIT ? OFFSET ?"
    return Query(level, sql, (*parser.values, limit + 1, offset), returned, limit, offset, fuzzy == "true",
                 tuple(dict.fromkeys(parser.ignored)))


def _request_items(raw: str) -> list[JsonDataset]:
    items = []
    for sps_id, rp_id in json.loads(raw):
        items.append({"00400009": element("SH", sps_id), "00401001": element("SH", rp_id)})
    return items


def _json_value(attr: Attribute, raw: Any) -> dict[str, Any] | None:
    """The DICOM JSON of one attribute; None when a conditional attribute is not known."""
    if attr.keyword == "RequestAttributesSequence":
        items = _request_items(str(raw or "[]"))
        return {"vr": "SQ", "Value": items} if items else None
    if raw is None or raw == "":
        return None if attr.conditional else element(attr.vr)
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
            found = _json_value(attr, row[index])
            if found is not None:
                dataset[attr.tag] = found
            if attr.match == "uid" and row[index]:
                uids[attr.keyword] = str(row[index])
        dataset["00080056"] = element("CS", "ONLINE")
        dataset["00081190"] = element("UR", retrieve_url(uids))
        results.append(dict(sorted(dataset.items())))
    return results
