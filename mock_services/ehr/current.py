"""The current version of every resource, and what goes with it: the ``resource`` row, the
superseded base version, the search index rows (the tables are described in :mod:`.store`).

:func:`set_current` is the one way a current version changes -- a local write, a replicated
entry, or a resync rewinding a resource -- so that the row, ``base_version`` and the index
can never disagree. It runs inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from mock_services.ehr.index import IndexRows, delete_rows
from mock_services.ehr.logentry import LogEntry
from mock_services.ehr.resources import RESOURCE_TYPES, ResourceType


def set_current(
    db: sqlite3.Connection,
    resource_type: str,
    resource_id: str,
    entry: LogEntry | None,
    new_rid: Callable[[], int],
) -> None:
    """Make ``entry`` the current version of the resource and re-index it.

    ``entry`` None rewinds the resource to its base version, or removes it if it has none.
    A base version being superseded is kept in ``base_version``.
    """
    key = (resource_type, resource_id)
    row = db.execute(
        "SELECT rid, lsn, version_id, last_updated, body FROM resource WHERE resource_type = ? AND resource_id = ?",
        key,
    ).fetchone()
    if row is not None:
        _unindex(db, resource_type, row[4], row[0])
    if entry is None:
        base = db.execute(
            "SELECT version_id, last_updated, body FROM base_version WHERE resource_type = ? AND resource_id = ?",
            key,
        ).fetchone()
        if base is not None and row is not None:
            db.execute(
                "UPDATE resource SET lsn = 0, epoch = 0, version_id = ?, last_updated = ?, body = ? WHERE rid = ?",
                (*base, row[0]),
            )
            db.execute("DELETE FROM base_version WHERE resource_type = ? AND resource_id = ?", key)
            _index(db, resource_type, base[2], row[0])
        elif row is not None and row[1] > 0:
            db.execute("DELETE FROM resource WHERE rid = ?", (row[0],))
        elif row is not None:
            _index(db, resource_type, row[4], row[0])  # already the base version: keep it indexed
        return
    fields = (entry.lsn, entry.epoch, entry.version_id, entry.last_updated, entry.body)
    if row is None:
        rid = new_rid()
        db.execute(
            "INSERT INTO resource (rid, resource_type, resource_id, lsn, epoch, version_id, last_updated, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rid, resource_type, resource_id, *fields),
        )
    else:
        rid = row[0]
        if row[1] == 0:
            db.execute(
                "INSERT OR IGNORE INTO base_version (resource_type, resource_id, version_id, last_updated, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (*key, row[2], row[3], row[4]),
            )
        db.execute(
            "UPDATE resource SET lsn = ?, epoch = ?, version_id = ?, last_updated = ?, body = ? WHERE rid = ?",
            (*fields, rid),
        )
    _index(db, resource_type, entry.body, rid)


def _parsed(resource_type: str, body: str) -> tuple[ResourceType, dict[str, object]] | None:
    known = RESOURCE_TYPES.get(resource_type)
    if known is None:
        return None  # stored and readable, but not searchable (a type this version does not know)
    try:
        resource = json.loads(body)
    except ValueError:
        return None
    return (known, resource) if isinstance(resource, dict) else None


def _index(db: sqlite3.Connection, resource_type: str, body: str, rid: int) -> None:
    parsed = _parsed(resource_type, body)
    if parsed is not None:
        rows = IndexRows()
        rows.add(parsed[0], parsed[1], rid)
        rows.insert(db)


def _unindex(db: sqlite3.Connection, resource_type: str, body: str, rid: int) -> None:
    parsed = _parsed(resource_type, body)
    if parsed is not None:
        delete_rows(db, parsed[0], parsed[1], rid)
