"""One version of a resource: :class:`LogEntry`, the unit of the log and of replication.

Its own module because both sides of the storage use it: :mod:`.store` (the log, reads) and
:mod:`.current` (making an entry the current version, which the store calls). With the class
in :mod:`.store`, ``current`` had to import ``store`` back (an import cycle, hidden behind
``TYPE_CHECKING``). :mod:`.store` re-exports it, so ``from mock_services.ehr.store import
LogEntry`` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogEntry:
    """One version of a resource; a write in the log (the unit of replication) when lsn > 0.

    ``body`` is the resource's JSON text. Reads return base versions as entries at lsn 0,
    epoch 0.
    """

    lsn: int
    epoch: int
    resource_type: str
    resource_id: str
    version_id: str
    last_updated: str
    body: str
