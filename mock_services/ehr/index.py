"""The search index: four SQLite tables, the rows a resource puts in them, and search SQL.

Tables (``WITHOUT ROWID``: each table is its own only index, clustered on what searches
look up, with ``rid`` placed so that "does candidate ``rid`` have this value" is one seek):

* ``idx_token (key, code, rid, system)`` -- codes, identifiers (system|value), plain codes;
* ``idx_string (key, value, rid)`` -- case- and accent-folded strings, matched by prefix;
* ``idx_date (key, rid, lo, hi)`` -- dates as ``[lo, hi)`` UTC epoch-second ranges (a date
  is nearly always a filter on a patient's resources, rarely the driver);
* ``idx_reference (key, target, rid)`` -- ``Type/id`` targets.

``key`` is the :class:`~.resources.IndexSpec` key, e.g. ``Observation.subject``. ``rid`` is
the resource's row id in the ``resource`` table (:mod:`.store`), stable across its versions.
Only current versions are indexed.

A search is a conjunction of :data:`Criterion` values (each a disjunction of the values of
one parameter). The most selective criterion *drives* the query (``rid IN (subquery)``, an
index range scan); the others are checked per candidate with ``EXISTS`` on the ``rid``
index, so ``patient=X&category=laboratory`` costs one patient's rows, not every lab result.
Results come in ``rid`` order (creation order), which is what the paging cursor follows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from mock_services.ehr.resources import Kind, Resource, ResourceType

SCHEMA = """
CREATE TABLE IF NOT EXISTS idx_token (
    key TEXT NOT NULL, code TEXT NOT NULL, rid INTEGER NOT NULL, system TEXT NOT NULL,
    PRIMARY KEY (key, code, rid, system)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_string (
    key TEXT NOT NULL, value TEXT NOT NULL, rid INTEGER NOT NULL,
    PRIMARY KEY (key, value, rid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_date (
    key TEXT NOT NULL, rid INTEGER NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL,
    PRIMARY KEY (key, rid, lo, hi)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_reference (
    key TEXT NOT NULL, target TEXT NOT NULL, rid INTEGER NOT NULL,
    PRIMARY KEY (key, target, rid)) WITHOUT ROWID;
"""

_TABLES = {
    Kind.TOKEN: ("idx_token", "key, code, rid, system", "?, ?, ?, ?"),
    Kind.STRING: ("idx_string", "key, value, rid", "?, ?, ?"),
    Kind.DATE: ("idx_date", "key, rid, lo, hi", "?, ?, ?, ?"),
    Kind.REFERENCE: ("idx_reference", "key, target, rid", "?, ?, ?"),
}
_MAX_CHAR = "\U0010ffff"  # sorts after every other code point: the end of a prefix range


@dataclass
class IndexRows:
    """Rows for the four tables, accumulated so a bulk load can insert them in batches."""

    rows: dict[Kind, list[tuple[object, ...]]] = field(default_factory=lambda: {kind: [] for kind in Kind})

    def add(self, resource_type: ResourceType, resource: Resource, rid: int) -> None:
        """Append the rows of ``resource`` (stored under ``rid``). Malformed values are skipped."""
        for spec in resource_type.indexes:
            values = spec.extract(resource)
            if not values:
                continue
            key, kind = spec.key, spec.kind
            into = self.rows[kind]
            if kind is Kind.TOKEN:  # extractors give (system, code); the table is clustered on code first
                into.extend([(key, code, rid, system) for system, code in values])
            elif kind is Kind.DATE:
                into.extend([(key, rid, lo, hi) for lo, hi in values])
            else:
                into.extend([(key, value, rid) for value in values])

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def insert(self, db: sqlite3.Connection) -> None:
        """Insert and clear. Duplicates (a resource with one code twice) are ignored."""
        for kind, rows in self.rows.items():
            if rows:
                table, columns, marks = _TABLES[kind]
                db.executemany(f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})", rows)
                rows.clear()


def delete_rows(db: sqlite3.Connection, resource_type: ResourceType, resource: Resource, rid: int) -> None:
    """Remove the index rows that ``resource`` (the version stored under ``rid``) put in.

    Rows are found again from the old body rather than through an index on ``rid``: two
    fewer B-tree inserts per indexed value is what keeps a 300 000-resource load fast.
    """
    rows = IndexRows()
    rows.add(resource_type, resource, rid)
    for kind, found in rows.rows.items():
        if found:
            table, columns, _ = _TABLES[kind]
            condition = " AND ".join(f"{column} = ?" for column in columns.split(", "))
            db.executemany(f"DELETE FROM {table} WHERE {condition}", found)


# -- criteria --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenMatch:
    """One FHIR token: ``system|code``; ``None`` means "any" ('' means "no system")."""

    system: str | None
    value: str | None


@dataclass(frozen=True)
class IdCriterion:
    """``_id``: the resource id is one of ``ids``."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class TokenCriterion:
    key: str
    tokens: tuple[TokenMatch, ...]


@dataclass(frozen=True)
class StringCriterion:
    key: str
    prefixes: tuple[str, ...]  # already normalized


@dataclass(frozen=True)
class DateComparison:
    prefix: str  # eq ne gt lt ge le sa eb
    lo: float
    hi: float


@dataclass(frozen=True)
class DateCriterion:
    key: str
    comparisons: tuple[DateComparison, ...]


@dataclass(frozen=True)
class ReferenceCriterion:
    key: str
    targets: tuple[str, ...]  # Type/id


Criterion = IdCriterion | TokenCriterion | StringCriterion | DateCriterion | ReferenceCriterion

_DATE_SQL = {
    "eq": "(x.lo >= ? AND x.hi <= ?)",
    "ne": "NOT (x.lo >= ? AND x.hi <= ?)",
    "gt": "x.hi > ?",  # search range's end
    "lt": "x.lo < ?",  # search range's start
    "ge": "x.hi > ?",  # start
    "le": "x.lo < ?",  # end
    "sa": "x.lo >= ?",  # end
    "eb": "x.hi <= ?",  # start
}
_DATE_USES_END = {"gt", "le", "sa"}


def _rank(criterion: Criterion) -> int:
    """Lower drives the query: how few rows one value of this criterion usually matches."""
    if isinstance(criterion, IdCriterion):
        return 0
    if isinstance(criterion, ReferenceCriterion) or (
        isinstance(criterion, TokenCriterion) and criterion.key.endswith(".identifier")
    ):
        return 1
    if isinstance(criterion, StringCriterion):
        return 2
    if isinstance(criterion, DateCriterion) and criterion.key == "Patient.birthdate":
        return 3
    return 4 if isinstance(criterion, TokenCriterion) else 5


def _condition(criterion: Criterion) -> tuple[str, str, list[object]]:
    """(table, condition on alias ``x``, parameters) for one non-id criterion."""
    ors: list[str] = []
    params: list[object] = []
    if isinstance(criterion, TokenCriterion):
        for token in criterion.tokens:
            parts = []
            if token.value is not None:
                parts.append("x.code = ?")
                params.append(token.value)
            if token.system is not None:
                parts.append("x.system = ?")
                params.append(token.system)
            ors.append("(" + (" AND ".join(parts) or "1") + ")")
        return "idx_token", " OR ".join(ors) or "0", params
    if isinstance(criterion, StringCriterion):
        for prefix in criterion.prefixes:
            ors.append("(x.value >= ? AND x.value < ?)")
            params += [prefix, prefix + _MAX_CHAR]
        return "idx_string", " OR ".join(ors) or "0", params
    if isinstance(criterion, DateCriterion):
        for comparison in criterion.comparisons:
            ors.append(_DATE_SQL[comparison.prefix])
            if comparison.prefix in ("eq", "ne"):
                params += [comparison.lo, comparison.hi]
            else:
                params.append(comparison.hi if comparison.prefix in _DATE_USES_END else comparison.lo)
        return "idx_date", " OR ".join(ors) or "0", params
    if isinstance(criterion, ReferenceCriterion):
        marks = ",".join("?" * len(criterion.targets)) or "NULL"
        return "idx_reference", f"x.target IN ({marks})", list(criterion.targets)
    raise TypeError(f"not an index criterion: {criterion!r}")


def where_clause(resource_type: str, criteria: Sequence[Criterion]) -> tuple[str, list[object]]:
    """``WHERE`` text (on alias ``r`` of ``resource``) and parameters for a conjunction."""
    # With a driving index criterion, "+" keeps the planner off the resource_type index (which would
    # walk every resource of the type in rid order instead of the driver's few candidates).
    driven = bool(criteria) and not isinstance(min(criteria, key=_rank), IdCriterion)
    clauses = ["+r.resource_type = ?" if driven else "r.resource_type = ?"]
    params: list[object] = [resource_type]
    for position, criterion in enumerate(sorted(criteria, key=_rank)):
        if isinstance(criterion, IdCriterion):
            clauses.append(f"r.resource_id IN ({','.join('?' * len(criterion.ids)) or 'NULL'})")
            params.extend(criterion.ids)
            continue
        table, condition, values = _condition(criterion)
        key = criterion.key
        if position == 0:
            clauses.append(f"r.rid IN (SELECT x.rid FROM {table} x WHERE x.key = ? AND ({condition}))")
        else:
            clauses.append(f"EXISTS (SELECT 1 FROM {table} x WHERE x.rid = r.rid AND x.key = ? AND ({condition}))")
        params += [key, *values]
    return " AND ".join(clauses), params
