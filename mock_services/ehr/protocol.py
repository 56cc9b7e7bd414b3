"""The replication protocol's messages and their JSON form (``/_replication/*``).

All messages are JSON objects. ``from_json`` functions accept ``object`` (whatever
``json.loads`` returned) and raise :class:`ProtocolError` naming the offending field, so a
server can answer 400 and a client can treat a nonsensical answer like an unreachable peer.
Integers are 64-bit signed (what SQLite stores): an epoch of 2**70 is a ProtocolError, not
an epoch every later write would fail to log.

Messages (see the package docstring for when each is sent):

* ``NodeStatus`` -- ``{"name", "datacenter", "role", "epoch", "lsn", "last_epoch",
  "resyncing", "base"}``: who an instance is and how far its log goes. ``last_epoch`` is the
  epoch of its entry at ``lsn`` (0 when the log is empty), which lets the primary tell a
  standby that is merely behind from one whose log diverged. ``base`` is the descriptor of
  its base snapshot ("" if none; optional in messages, so older peers still parse).
* ``Heartbeat`` -- ``{"name", "epoch", "lsn"}``, sent by a primary.
* ``AppendRequest`` -- ``{"name", "epoch", "prev_lsn", "prev_epoch", "entries": [LogEntry]}``:
  ``entries`` continue the sender's log after ``prev_lsn``, whose entry has ``prev_epoch``
  on the sender (-1 = "the sender has no such entry", which always mismatches). This is
  Raft's prevLogIndex/prevLogTerm consistency check.
* ``Reply`` -- a ``NodeStatus`` plus ``"accepted"`` (bool) and ``"reason"`` (str, empty when
  accepted): the answer to heartbeat and append; HTTP 200 when accepted, 409 when not.
* ``LogPage`` -- ``{"status": NodeStatus, "entries": [LogEntry]}``: a page of the log.
* ``LogEntry`` -- ``{"lsn", "epoch", "resource_type", "resource_id", "version_id",
  "last_updated", "body"}`` with ``body`` the resource's JSON *text*, shipped verbatim so both
  instances store byte-identical resources.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

from mock_services.ehr.store import LogEntry


class Role(StrEnum):
    """An instance's live role. ``starting`` lasts until a configured primary has asked its
    peer who is primary (at most ``peer_timeout``); it accepts no writes meanwhile."""

    STARTING = "starting"
    PRIMARY = "primary"
    STANDBY = "standby"


class ProtocolError(ValueError):
    """A replication message did not have the expected shape."""


def _field(data: object, key: str) -> object:
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object, got {type(data).__name__}")
    if key not in data:
        raise ProtocolError(f"missing field {key!r}")
    return data[key]


INT64 = range(-(2**63), 2**63)  # SQLite INTEGER: an lsn or epoch outside it can never be stored


def _int(data: object, key: str) -> int:
    value = _field(data, key)
    # bool is an int subclass in Python; JSON true is not an lsn.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"field {key!r} must be an integer, got {value!r}")
    if value not in INT64:
        raise ProtocolError(f"field {key!r} must be a 64-bit integer, got {value}")
    return value


def _str(data: object, key: str) -> str:
    value = _field(data, key)
    if not isinstance(value, str):
        raise ProtocolError(f"field {key!r} must be a string, got {value!r}")
    return value


def _bool(data: object, key: str) -> bool:
    value = _field(data, key)
    if not isinstance(value, bool):
        raise ProtocolError(f"field {key!r} must be a boolean, got {value!r}")
    return value


def _list(data: object, key: str) -> list[object]:
    value = _field(data, key)
    if not isinstance(value, list):
        raise ProtocolError(f"field {key!r} must be a list")
    return value


def entry_to_json(entry: LogEntry) -> dict[str, object]:
    return asdict(entry)


def entry_from_json(data: object) -> LogEntry:
    return LogEntry(
        lsn=_int(data, "lsn"),
        epoch=_int(data, "epoch"),
        resource_type=_str(data, "resource_type"),
        resource_id=_str(data, "resource_id"),
        version_id=_str(data, "version_id"),
        last_updated=_str(data, "last_updated"),
        body=_str(data, "body"),
    )


@dataclass(frozen=True)
class NodeStatus:
    name: str
    datacenter: str
    role: Role
    epoch: int
    lsn: int
    last_epoch: int
    resyncing: bool
    base: str = ""

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "role": self.role.value}

    @classmethod
    def from_json(cls, data: object) -> NodeStatus:
        role = _str(data, "role")
        try:
            parsed_role = Role(role)
        except ValueError:
            raise ProtocolError(f"unknown role {role!r}") from None
        return cls(
            name=_str(data, "name"),
            datacenter=_str(data, "datacenter"),
            role=parsed_role,
            epoch=_int(data, "epoch"),
            lsn=_int(data, "lsn"),
            last_epoch=_int(data, "last_epoch"),
            resyncing=_bool(data, "resyncing"),
            base=_str(data, "base") if isinstance(data, dict) and "base" in data else "",
        )


@dataclass(frozen=True)
class Heartbeat:
    name: str
    epoch: int
    lsn: int

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Heartbeat:
        return cls(name=_str(data, "name"), epoch=_int(data, "epoch"), lsn=_int(data, "lsn"))


@dataclass(frozen=True)
class AppendRequest:
    name: str
    epoch: int
    prev_lsn: int
    prev_epoch: int
    entries: tuple[LogEntry, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "epoch": self.epoch,
            "prev_lsn": self.prev_lsn,
            "prev_epoch": self.prev_epoch,
            "entries": [entry_to_json(entry) for entry in self.entries],
        }

    @classmethod
    def from_json(cls, data: object) -> AppendRequest:
        return cls(
            name=_str(data, "name"),
            epoch=_int(data, "epoch"),
            prev_lsn=_int(data, "prev_lsn"),
            prev_epoch=_int(data, "prev_epoch"),
            entries=tuple(entry_from_json(item) for item in _list(data, "entries")),
        )


@dataclass(frozen=True)
class Reply:
    accepted: bool
    reason: str
    status: NodeStatus

    def to_json(self) -> dict[str, object]:
        return {**self.status.to_json(), "accepted": self.accepted, "reason": self.reason}

    @classmethod
    def from_json(cls, data: object) -> Reply:
        return cls(accepted=_bool(data, "accepted"), reason=_str(data, "reason"), status=NodeStatus.from_json(data))


@dataclass(frozen=True)
class LogPage:
    status: NodeStatus
    entries: tuple[LogEntry, ...]

    def to_json(self) -> dict[str, object]:
        return {"status": self.status.to_json(), "entries": [entry_to_json(entry) for entry in self.entries]}

    @classmethod
    def from_json(cls, data: object) -> LogPage:
        return cls(
            status=NodeStatus.from_json(_field(data, "status")),
            entries=tuple(entry_from_json(item) for item in _list(data, "entries")),
        )
