"""Acknowledgments: which code, whether to send one at all, and the ACK message itself.

Modes (decided by the received MSH-15 accept-ack type and MSH-16 application-ack type):

* *Original* (both empty): one ACK per message, MSA-1 = AA (accepted and stored), AE
  (content error), AR (rejected: unsupported type/version/processing id, unreadable
  structure, or the engine could not store it).
* *Enhanced* (either present): a commit ACK, MSA-1 = CA (stored), CE (content error, or the
  store failed), CR (rejected), sent per MSH-15: AL always (also when MSH-15 is empty but
  MSH-16 is not), ER only when not CA, SU only when CA, NE never. The application ACK that
  MSH-16 asks for is **not** sent: this engine never originates messages back to a sender
  (documented limit); a commit ACK is all a sender of this engine gets.

The ACK copies as little as it can from a message that may be garbage, and nothing it has
not checked, so that any HL7 parser reads it:

* separators: the received ones when usable (:attr:`.hl7v2.Separators.usable`), else the
  standard ``|^~\\&``; every field copied from the message is re-encoded for them;
* MSH-3/4 <-> MSH-5/6 swapped (sender and receiver), MSH-7 now (UTC), a new MSH-10
  (``ControlIds``);
* MSH-9 ``ACK^<trigger>^ACK`` when MSH-9.2 is a trigger event code (three letters or
  digits), else ``ACK``;
* MSH-11 the received processing id when it is P, T or D, else P;
* MSH-12 the received version (MSH-12.1 only) when it is a published one
  (:data:`.validation.KNOWN_VERSIONS`), else the engine's own, :data:`DEFAULT_VERSION`;
* MSA-1 the code, MSA-2 the received MSH-10 (as sent; blank when it was), MSA-3 the first
  problem's text (versions before 2.7, which withdrew MSA-3); one ERR per issue (at most
  ``MAX_ERR``): from v2.5 ERR-2 location ``segment^sequence^field``, ERR-3
  ``code^text^HL70357``, ERR-4 ``E``, ERR-8 the text; before v2.5, ERR-1
  ``segment^sequence^field^code&text&HL70357``. Texts are escaped, control characters
  included (an 0x1C in an ERR text would end the MLLP frame).
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from mock_services.messaging.hl7v2 import STANDARD, Segment
from mock_services.messaging.validation import KNOWN_VERSIONS, PROCESSING_IDS, Issue

MAX_ERR = 10
DEFAULT_VERSION = "2.5.1"
_VERSION_NUMBERS = re.compile(r"\d+")
_TRIGGER = re.compile(r"[A-Z0-9]{3}\Z")


class Outcome(StrEnum):
    """What happened to a message, before choosing the mode-specific code."""

    ACCEPTED = "accepted"  # stored (or already stored: a duplicate)
    ERROR = "error"  # content error (issues of severity "error")
    REJECTED = "rejected"  # issues of severity "reject", broken framing
    FAILED = "failed"  # valid, but the engine could not store it


_ORIGINAL = {Outcome.ACCEPTED: "AA", Outcome.ERROR: "AE", Outcome.REJECTED: "AR", Outcome.FAILED: "AR"}
_ENHANCED = {Outcome.ACCEPTED: "CA", Outcome.ERROR: "CE", Outcome.REJECTED: "CR", Outcome.FAILED: "CE"}


def outcome_of(issues: Sequence[Issue]) -> Outcome:
    """REJECTED if any issue rejects, ERROR if any errs, else ACCEPTED."""
    if any(issue.severity == "reject" for issue in issues):
        return Outcome.REJECTED
    return Outcome.ERROR if issues else Outcome.ACCEPTED


@dataclass(frozen=True)
class AckPolicy:
    """The acknowledgment rules a received MSH asks for (see the module docstring)."""

    enhanced: bool
    accept_ack_type: str = ""

    @classmethod
    def from_header(cls, header: Segment) -> AckPolicy:
        accept = header.value(15).strip().upper()
        application = header.value(16).strip().upper()
        if not accept and not application:
            return cls(enhanced=False)
        return cls(enhanced=True, accept_ack_type=accept or "AL")

    def code(self, outcome: Outcome) -> str:
        """MSA-1 for ``outcome`` in this mode."""
        return (_ENHANCED if self.enhanced else _ORIGINAL)[outcome]

    def should_send(self, outcome: Outcome) -> bool:
        """Whether the sender gets an ACK for ``outcome`` (always in original mode)."""
        if not self.enhanced:
            return True
        if self.accept_ack_type == "NE":
            return False
        if self.accept_ack_type == "ER":
            return outcome is not Outcome.ACCEPTED
        if self.accept_ack_type == "SU":
            return outcome is Outcome.ACCEPTED
        return True  # AL, or a value we do not know: answering is the safe side


class ControlIds:
    """New MSH-10 values for ACKs: ``<6 random hex>-<counter>``, unique per engine run, <= 20 chars."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(3)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"


def version_tuple(version: str) -> tuple[int, ...]:
    """``"2.5.1"`` -> ``(2, 5, 1)``; unparseable -> the default version's tuple."""
    numbers = tuple(int(n) for n in _VERSION_NUMBERS.findall(version))
    return numbers or (2, 5, 1)


_last_stamp: tuple[int, str] = (0, "")


def hl7_timestamp(moment: datetime | None = None) -> str:
    """``YYYYMMDDHHMMSS+0000`` (UTC); now when ``moment`` is None (formatted once per second)."""
    global _last_stamp
    if moment is not None:
        return moment.strftime("%Y%m%d%H%M%S+0000")
    second = int(time.time())
    if _last_stamp[0] != second:
        _last_stamp = (second, datetime.fromtimestamp(second, UTC).strftime("%Y%m%d%H%M%S+0000"))
    return _last_stamp[1]


def build_ack(
    header: Segment,
    code: str,
    issues: Sequence[Issue],
    control_id: str,
    *,
    moment: datetime | None = None,
) -> str:
    """The ACK for the message whose MSH is ``header`` (segments joined by CR, no framing)."""
    received = header.separators
    seps = received if received.usable else STANDARD
    fs = seps.field

    def copied(n: int) -> str:
        return received.transcode(header.field(n), seps)

    trigger = header.value(9, 2).strip().upper()
    processing = header.value(11).strip().upper()
    version = header.value(12).strip()
    version = version if version in KNOWN_VERSIONS else DEFAULT_VERSION
    numbers = version_tuple(version)
    encoding = seps.encoding_characters if numbers >= (2, 7) else seps.encoding_characters[:4]
    enhanced_fields = ["NE", "NE"] if code.startswith("C") else []
    msh = fs.join(
        [
            "MSH",
            encoding,
            copied(5),
            copied(6),
            copied(3),
            copied(4),
            hl7_timestamp(moment),
            "",
            seps.component.join(["ACK", trigger, "ACK"]) if _TRIGGER.match(trigger) else "ACK",
            control_id,
            processing if processing and processing in PROCESSING_IDS else "P",
            version,
            *([""] * 2 if enhanced_fields else []),
            *enhanced_fields,
        ]
    )
    msa = ["MSA", code, copied(10)]
    if issues and numbers < (2, 7):
        msa.append(seps.escape_text(issues[0].text))
    segments = [msh, fs.join(msa)]
    segments += [
        _err(issue, seps.component, seps.subcomponent, fs, seps.escape_text, numbers) for issue in issues[:MAX_ERR]
    ]
    return "\r".join(segments) + "\r"


def _err(issue: Issue, comp: str, sub: str, fs: str, escape: Callable[[str], str], numbers: tuple[int, ...]) -> str:
    position = "" if issue.position is None else str(issue.position)
    code, code_text = str(int(issue.code)), issue.code.text
    if numbers < (2, 5):
        eld = comp.join([issue.segment, str(issue.sequence), position, sub.join([code, code_text, "HL70357"])])
        return fs.join(["ERR", eld])
    # ERL without trailing empty components: "OBX^1" (the segment), "PID^1^3" (a field).
    location = comp.join([issue.segment, str(issue.sequence), position]).rstrip(comp) if issue.segment else ""
    return fs.join(["ERR", "", location, comp.join([code, code_text, "HL70357"]), "E", "", "", "", escape(issue.text)])
