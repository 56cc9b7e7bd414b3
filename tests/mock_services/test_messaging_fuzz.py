"""HL7 v2 fuzzing campaign: the real engine process, real MLLP over TCP, a real EHR downstream.

``python -m mock_services.messaging`` forwards to ``python -m mock_services.ehr`` (a lone
primary). Each case opens one connection and sends one to three frames built from a realistic
message (:mod:`mock_services.messaging.samples`) with mutations: fields replaced by random
bytes, very long text, separator soup, unicode, escape sequences, dates and numbers that are
not; segments dropped, repeated, swapped, a second patient, an OBX before its OBR; broken MSH-1
/ MSH-2, odd versions, processing ids and enhanced-mode flags; blank, duplicate, shared and
awkward control ids (FHIR search characters, a suffix another message uses). Framing: missing
start or end blocks, no CR after the end block, garbage between frames, frames split across
writes, frames larger than the engine's limit, half-open connections held to the end.

Every ``PARALLEL_EVERY``-th case uses ``PARALLEL`` connections at once. After sending, a
connection half-closes its side and reads every ACK until the engine closes, so no
case waits on a timer. What the engine received is worked out here, independently of the
engine's code: the frames (MLLP rules in :func:`frames_of`), and per frame its MSH-3, MSH-10,
type, and OBR / OBX / PID lines (plain string splitting on the frame's own separators).

Invariants (each violation is collected with the case number; the test fails listing them):

* every ACK parses with the independent ``hl7`` package; MSH-9 is ``ACK`` (with a trigger),
  MSH-12 a published HL7 v2 version, MSA-1 a known code, MSA-2 the MSH-10 of a frame sent on
  that connection, ACKs in frame order; a blank MSH-10 is never accepted;
* the engine never stops answering: every ``LIVENESS_EVERY`` cases a fresh valid message
  gets AA; at the end the process is alive, its log has no traceback and no connection
  error, the half-open connections were closed by its idle timeout;
* nothing acknowledged is lost, nothing is duplicated: after the forwarding queue drains,
  every accepted (MSH-3, MSH-10) is stored, ``delivered`` (ORM/OML: ``no-destination``), and
  the EHR holds exactly one DiagnosticReport per OBR, one Observation per OBX, one
  Encounter per ADT^A03 of every stored message (by their ``urn:hchaos:hl7:msh-10``
  identifiers), no two Patients with the same identifier, each report about the patient of
  its own PID; the engine stored nothing that was not sent.

Size: :func:`tests.campaigns.budget` cases (seeded in the suite; ``make fuzz`` runs many more
from a fresh seed, printed for replay).
"""

from __future__ import annotations

import re
import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any
from urllib.parse import quote

import hl7
import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from mock_services.common.testing import ServiceProcess
from mock_services.messaging import samples
from mock_services.messaging.testing import EngineProcess, free_port, wait_until
from tests.campaigns import budget, rng

pytestmark = [pytest.mark.campaign, pytest.mark.integration]

CASES = budget(ci=500, long=6000)
LIVENESS_EVERY = 25
PARALLEL_EVERY, PARALLEL = 10, 4
HALF_OPEN_EVERY = 40
MAX_FRAME = 64 * 1024
IDLE_TIMEOUT = 3.0
READ_TIMEOUT = 30.0  # a hang detector, not a performance bound: a case is answered in milliseconds
SB, EB, CR = b"\x0b", b"\x1c", b"\r"
KNOWN_VERSIONS = {"2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1",
                  "2.8.2", "2.9"}
ACK_CODES = {"AA", "AE", "AR", "CA", "CE", "CR"}
DEDUP = "urn:hchaos:hl7:msh-10"
STORED_ONLY = {"ORM^O01", "OML^O21"}

# -- what the engine received (worked out independently of its code) ----------------------


def frames_of(data: bytes, max_frame: int = MAX_FRAME) -> list[tuple[bytes, bool]]:
    """The frames an MLLP receiver sees in ``data``: (payload, complete). A start block inside
    a frame cuts it (incomplete); a frame over ``max_frame`` ends the connection."""
    found: list[tuple[bytes, bool]] = []
    position = data.find(SB)
    while position >= 0:
        end, restart = data.find(EB, position + 1), data.find(SB, position + 1)
        if restart >= 0 and (end < 0 or restart < end):
            found.append((data[position + 1 : restart], False))
            position = restart
            continue
        payload = data[position + 1 : end if end >= 0 else len(data)]
        if len(payload) > max_frame:
            found.append((payload[:4096], False))  # NAKed when its header is readable; the connection ends
            break
        found.append((payload, end >= 0))
        if end < 0:
            break
        position = data.find(SB, end + 1)
    return found


def decode(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


@dataclass
class Received:
    """One frame as the engine got it: header fields by plain splitting, segment lines."""

    text: str
    complete: bool
    field_separator: str = ""
    component: str = "^"
    repetition: str = "~"
    subcomponent: str = "&"
    msh: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, payload: bytes, complete: bool) -> Received:
        text = decode(payload)
        received = cls(text, complete)
        stripped = text.lstrip("\r\n \t")
        if stripped.startswith("MSH") and len(stripped) > 3:
            fs = received.field_separator = stripped[3]
            received.lines = [line for line in re.split(r"\r\n|\r|\n", stripped) if line]
            received.msh = ["MSH", fs, *received.lines[0][4:].split(fs)]
            encoding = received.msh[2] if len(received.msh) > 2 else ""
            received.component = encoding[0:1] or "^"
            received.repetition = encoding[1:2] or "~"
            received.subcomponent = encoding[3:4] or "&"
        return received

    @property
    def usable(self) -> bool:
        """Whether the separators could be written back (printable, not alphanumeric, distinct)."""
        encoding = self.header(2)
        chars = self.field_separator + encoding + "^~\\&"[len(encoding) :]
        return len(set(chars)) == len(chars) and all("!" <= c <= "~" and not c.isalnum() for c in chars)

    def header(self, n: int) -> str:
        return self.msh[n] if n < len(self.msh) else ""

    @property
    def control_id(self) -> str:
        return self.header(10)

    @property
    def key(self) -> tuple[str, str]:
        return self.header(3), self.control_id

    @property
    def kind(self) -> str:
        parts = self.header(9).split(self.component)
        return "^".join(p.strip().upper() for p in parts[:2])

    def segments(self, name: str) -> list[list[str]]:
        fs = self.field_separator
        return [line.split(fs) for line in self.lines[1:] if line[:3] == name and line[3:4] in ("", fs)]


# -- the cases ------------------------------------------------------------------------------

UNICODE = ["é", "ü", "ß", "中文", "🧪", "\u202e", "e\u0301", "\ufeff", "\x00", "Ω≈ç√", "\U0001f600" * 3]
ESCAPES = ["\\F\\", "\\S\\", "\\T\\", "\\R\\", "\\E\\", "\\X1C\\", "\\X0B\\", "\\X0D0A\\", "\\.br\\", "\\H\\x\\N\\",
           "\\", "\\Xzz\\", "\\X\\", "\\Z99\\", "\\C2842\\"]
NUMBERS = ["1e5", "-0", "1.", ".5", "99999999999999999999999", "NaN", "+", "1,5", " 7 ", "0x10", "--1"]
DATES = ["20241399", "2024", "20240230", "202408031015+9999", "99999999999999", "0000", "2024080310155",
         "20240803101530.1234+0200", "19000101", "202408032500", "2024-08-03"]
SPECIAL_IDS = [",", "$", "\\E\\", "é", " ", "&", "^X", "~2", "\\F\\", "%20", "+", "|"]


def random_value(r: Random) -> str:
    pick = r.randrange(10)
    if pick == 0:
        return r.randbytes(r.randint(1, 40)).decode("latin-1")
    if pick == 1:
        return r.choice("xX9") * r.choice([300, 5000, 20000, 40000])
    if pick == 2:
        return "".join(r.choice("|^~\\&") for _ in range(r.randint(1, 8)))
    if pick == 3:
        return "".join(r.choice(UNICODE) for _ in range(r.randint(1, 4)))
    if pick == 4:
        return "A" + "".join(r.choice(ESCAPES) for _ in range(r.randint(1, 3))) + "B"
    if pick == 5:
        return r.choice(NUMBERS)
    if pick == 6:
        return r.choice(DATES)
    if pick == 7:
        return r.choice(["", " ", "   ", "\t"])
    if pick == 8:
        return "".join(chr(r.randrange(0x20, 0x7F)) for _ in range(r.randint(1, 30)))
    return r.choice(["F", "NM", "ST", "CE", "MR", "I", "X", "A01", "P", "UCUM", "LN"])


@dataclass
class Campaign:
    """The generator: remembers the keys it used so that later cases can collide with them."""

    r: Random
    used: list[tuple[str, str]] = field(default_factory=list)

    def message(self, n: int) -> str:
        r = self.r
        cid, mrn = f"FZ{n:05d}", f"FZ{n:07d}"
        sender = r.choice(["LIS"] * 6 + ["LIS2", "LAB^1.2.3^ISO", ""])
        kind = r.choice(["oru"] * 5 + ["a01", "a03", "a08", "orm", "oml"])
        header: dict[str, str] = {"sending_application": sender}
        if r.random() < 0.08:
            header["accept_ack"], header["application_ack"] = r.choice([("AL", "NE"), ("SU", "AL"), ("AL", ""),
                                                                         ("", "AL"), ("ER", "NE"), ("NE", "NE")])
        if r.random() < 0.06:
            header["version"] = r.choice(["3.0", "2.5.1^FRA", "2.9", "2.3", "", "2.0", "2.4", "2.7.1", "2.5.9", "v2"])
        if kind == "oru":
            results = list(samples.DEFAULT_RESULTS[: r.randint(1, 2)])
            text = samples.oru(cid, mrn, results, **header)
        elif kind in ("a01", "a03", "a08"):
            text = samples.adt(kind.upper(), cid, mrn, **header)
        else:
            text = getattr(samples, kind)(cid, mrn, **header)
        lines = text.split("\r")
        for _ in range(r.choice([0, 0, 1, 1, 2, 3])):
            lines = self.mutate(lines)
        if r.random() < 0.2:
            lines = self.control_id(lines)
        text = "\r".join(lines)
        if r.random() < 0.04:
            text = self.separators(text)
        if r.random() < 0.05:
            text = text.replace("\r", r.choice(["\n", "\r\n"]))
        return text

    def mutate(self, lines: list[str]) -> list[str]:
        r = self.r
        pick = r.randrange(10)
        if pick < 6:  # a field
            index = r.randrange(len(lines)) if r.random() < 0.9 else 0
            fields = lines[index].split("|")
            position = r.randint(2, 16) if index == 0 else r.randint(1, 25)
            if index == 0 and position == 9:
                position = 8  # MSH-10 is the control id mutations' business
            fields += [""] * max(0, position + 1 - len(fields))
            fields[position] = random_value(r)
            lines[index] = "|".join(fields)
        elif pick == 6 and len(lines) > 2:  # drop, duplicate or swap segments
            i, j = r.randrange(1, len(lines)), r.randrange(1, len(lines))
            choice = r.randrange(3)
            if choice == 0:
                del lines[i]
            elif choice == 1:
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
        elif pick == 7:  # a second patient, or an OBX before the first OBR
            if r.random() < 0.5:
                lines.insert(r.randrange(2, len(lines) + 1), samples.pid(f"OTHER{r.randrange(10**6):06d}"))
            else:
                obx = [i for i, line in enumerate(lines) if line.startswith("OBX|")]
                obr = next((i for i, line in enumerate(lines) if line.startswith("OBR|")), None)
                if obx and obr is not None:
                    lines.insert(obr, lines.pop(obx[-1]))
        elif pick == 8:  # unknown segments and lines that are none
            lines.insert(r.randrange(1, len(lines) + 1), r.choice(["ZZZ|1|x", "NTE|1||note", "??? junk", "obx|1",
                                                                   "PID", "OBX"]))
        else:  # whole segment replaced by noise
            lines[r.randrange(1, len(lines))] = random_value(r)
        return lines

    def control_id(self, lines: list[str]) -> list[str]:
        r = self.r
        fields = lines[0].split("|")
        if len(fields) < 10:
            return lines
        own = fields[9]
        pick = r.randrange(6)
        if pick == 0:
            fields[9] = r.choice(["", " ", "   ", "\t", "  \t "])
        elif pick == 1 and self.used:  # a resend (same sender) or another sender's id
            used_sender, used_id = r.choice(self.used)
            fields[9] = used_id
            fields[2] = used_sender if r.random() < 0.6 else r.choice(["LIS", "LIS2", "OTHER"])
        elif pick == 2 and self.used:  # an id another message's resources derive theirs from
            fields[9] = r.choice(self.used)[1] + r.choice(["-R2", "-1", "-2"])
        elif pick == 3 and self.used:
            fields[9] = own + "," + r.choice(self.used)[1]
        elif pick == 4:
            fields[9] = own + r.choice(SPECIAL_IDS) if r.random() < 0.7 else r.choice(SPECIAL_IDS) + own
        else:
            fields[9] = own * r.choice([2, 15, 60])
        lines[0] = "|".join(fields)
        self.used.append((fields[2], fields[9]))
        return lines

    def separators(self, text: str) -> str:
        r = self.r
        if r.random() < 0.6:  # another field separator, used throughout
            separator = r.choice(["#", "!", "\t", " ", "^", "\x01", "~", "\\", "é"])
            return "MSH" + separator + text[4:].replace("|", separator)
        return text.replace("^~\\&", r.choice(["^~\\&#", "^", "^^\\&", "", "abcd", "^~\\", "^~\\&!?"]), 1)

    def encode(self, text: str) -> bytes:
        r = self.r
        if r.random() < 0.05:
            return text.encode("latin-1", errors="replace")
        data = text.encode("utf-8")
        if r.random() < 0.03:
            at = r.randrange(len(data))
            data = data[:at] + b"\xff\xfe\xc3" + data[at:]
        return data

    def wire(self, payloads: list[bytes]) -> bytes:
        """Frame the payloads, with framing faults and garbage between frames."""
        r = self.r
        out = bytearray()
        for payload in payloads:
            pick = r.random()
            if pick < 0.04:
                out += payload + EB + CR  # no start block: garbage to the receiver
            elif pick < 0.08:
                out += SB + payload  # no end block: cut by the next start block, or by the close
            elif pick < 0.13:
                out += SB + payload + EB  # no CR after the end block (real senders do this)
            elif pick < 0.15:
                out += SB + payload + b"\nNTE|1||" + b"x" * (MAX_FRAME + 10) + EB + CR  # over the limit
            else:
                out += SB + payload + EB + CR
            if r.random() < 0.1:
                out += r.choice([b"\r\n", b"  ", bytes(b for b in r.randbytes(r.randint(1, 200)) if b != 0x0B)])
        return bytes(out)


# -- the wire ---------------------------------------------------------------------------------


def pieces(data: bytes, r: Random) -> list[tuple[bytes, bool]]:
    """How ``data`` is written: (piece, pause after it). Drawn before any I/O, so that the
    random sequence -- and the campaign -- does not depend on when the engine closes."""
    if r.random() >= 0.3 or len(data) <= 2:
        return [(data, False)]
    cuts = sorted(r.sample(range(1, len(data)), min(len(data) - 1, r.randint(1, 6))))
    return [(data[start:end], r.random() < 0.3) for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def converse(address: tuple[str, int], writes: list[tuple[bytes, bool]]) -> tuple[list[str], str | None]:
    """Write the pieces, half-close, read ACK frames until the engine closes.

    Returns (ACK texts, problem): problem says how the engine failed to finish the exchange."""
    acks: list[str] = []
    with socket.create_connection(address, timeout=READ_TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for piece, pause in writes:
                sock.sendall(piece)
                if pause:
                    time.sleep(0.002)  # lets the engine read a partial frame
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # EPIPE, ECONNRESET, ENOTCONN: the engine closed first (oversized frame, garbage)
            pass  # read what it answered
        buffer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                return acks, f"no close within {READ_TIMEOUT} s after the half-close"
            if not chunk:
                break
            buffer += chunk
        for payload, complete in frames_of(buffer, max_frame=10 * MAX_FRAME):
            if not complete:
                return acks, f"an ACK frame without its end block: {payload[:200]!r}"
            acks.append(decode(payload))
        leftover = buffer[buffer.rfind(EB) + 2 :] if EB in buffer else buffer
        if leftover.strip(b"\r\n"):
            return acks, f"bytes outside ACK frames: {leftover[:200]!r}"
    return acks, None


def latin1(text: str) -> str:
    return text.encode("utf-8").decode("latin-1")


def to_standard(raw: str, received: Received) -> str:
    """``raw`` with the frame's component and repetition characters written as the standard ones."""
    table: dict[str, str | int | None] = {received.component: "^", received.repetition: "~"}
    return raw.translate(str.maketrans(table))


@dataclass
class Ledger:
    """What was sent and how it was answered, for the final checks."""

    sent: dict[tuple[str, str], list[Received]] = field(default_factory=dict)
    accepted: dict[tuple[str, str], Received] = field(default_factory=dict)  # the first accepted receipt
    silent: set[tuple[str, str]] = field(default_factory=set)  # may be stored without an accept ACK
    violations: list[str] = field(default_factory=list)
    acks: Counter[str] = field(default_factory=Counter)
    frames: int = 0

    def check_acks(self, case: int, frames: list[Received], acks: list[str]) -> None:
        candidates = [f for f in frames if f.msh]
        pointer = 0
        for text in acks:
            try:
                parsed = hl7.parse(text.strip("\r\n"))
                msh, msa = parsed.segment("MSH"), parsed.segment("MSA")
                code, version, kind = str(msa[1]), str(msh[12]), str(msh[9])
            except Exception as error:  # the hl7 package's own errors vary
                self.violations.append(f"case {case}: the hl7 package cannot read the ACK ({error!r}): {text[:300]!r}")
                continue
            # MSA-2 raw from the text: the hl7 package strips whitespace at the end of a segment.
            ack = Received.of(text.encode(), True)
            acked = next((s[2] for s in ack.segments("MSA") if len(s) > 2), "")
            echoed = (ack.header(5), acked)  # an ACK swaps sender and receiver: MSH-5 is the message's MSH-3
            if echoed[0].isascii() and echoed[1].isascii():
                alternatives = [echoed]
            else:  # the ACK is in the message's encoding: Latin-1 when it was no UTF-8 (read here as UTF-8)
                alternatives = [echoed, (latin1(echoed[0]), latin1(echoed[1]))]
            self.acks[code] += 1
            if version not in KNOWN_VERSIONS:
                self.violations.append(f"case {case}: ACK MSH-12 {version!r} is not an HL7 v2 version")
            if not re.fullmatch(r"ACK(\^[A-Z0-9]{3}\^ACK)?", kind):
                self.violations.append(f"case {case}: ACK MSH-9 {kind!r}")
            if code not in ACK_CODES:
                self.violations.append(f"case {case}: MSA-1 {code!r}")
            # (An ACK to a frame whose separators are unusable is written with the standard ones, its
            # copied fields re-encoded: matched by position; such a frame must be refused.)
            match = next(
                (i for i in range(pointer, len(candidates))
                 if any(e in (candidates[i].key, tuple(to_standard(v, candidates[i]) for v in candidates[i].key))
                        for e in alternatives)
                 or (not candidates[i].usable and code not in ("AA", "CA"))),
                None,
            )
            if match is None:
                sent = [c.key for c in candidates]
                self.violations.append(f"case {case}: ACK for {echoed!r}: no such (MSH-3, MSH-10) sent, in order "
                                       f"({sent!r})")
                continue
            pointer = match + 1
            frame = candidates[match]
            if code in ("AA", "CA"):
                if not frame.control_id.strip():
                    self.violations.append(f"case {case}: blank MSH-10 {frame.control_id!r} acknowledged {code}")
                if not frame.complete:
                    self.violations.append(f"case {case}: an incomplete frame acknowledged {code}")
                self.accepted.setdefault(frame.key, frame)

    def record(self, frames: list[Received]) -> None:
        for frame in frames:
            if frame.msh:
                self.frames += 1
                self.sent.setdefault(frame.key, []).append(frame)
                if frame.header(15).strip().upper() in ("NE", "ER"):
                    self.silent.add(frame.key)


def valid_ack(address: tuple[str, int], control_id: str) -> str:
    acks, problem = converse(address, [(SB + samples.oru(control_id).encode() + EB + CR, False)])
    if problem or len(acks) != 1:
        return f"{problem or 'no ACK'} ({acks!r})"
    msa = hl7.parse(acks[0].strip("\r")).segment("MSA")
    return "" if (str(msa[1]), str(msa[2])) == ("AA", control_id) else f"answered {acks[0]!r}"


# -- downstream -------------------------------------------------------------------------------


def every(http: httpx.Client, url: str) -> Iterator[dict[str, Any]]:
    """Every resource of a search, following ``next`` links."""
    next_url: str | None = url
    while next_url:
        bundle = http.get(next_url).raise_for_status().json()
        yield from (entry["resource"] for entry in bundle.get("entry") or [])
        next_url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)


def dedup_values(resources: list[dict[str, Any]]) -> Counter[str]:
    return Counter(i["value"] for r in resources for i in r.get("identifier", []) if i.get("system") == DEDUP)


def expected_resources(stored: list[Received]) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """(DiagnosticReport, Observation, Encounter) msh-10 identifier values the EHR must hold."""
    reports: Counter[str] = Counter()
    observations: Counter[str] = Counter()
    encounters: Counter[str] = Counter()
    for frame in stored:
        cid = frame.control_id
        if frame.kind == "ORU^R01":
            for k in range(1, len(frame.segments("OBR")) + 1):
                reports[cid if k == 1 else f"{cid}-R{k}"] += 1
            for n in range(1, len(frame.segments("OBX")) + 1):
                observations[f"{cid}-{n}"] += 1
        elif frame.kind == "ADT^A03":
            encounters[cid] += 1
    return reports, observations, encounters


def report_patients(frame: Received) -> list[set[str]]:
    """Per OBR, the PID-3 values (every repetition's CX.1, its first subcomponent) of the PID before it."""
    fs, patients, current = frame.field_separator, [], set()
    for line in frame.lines[1:]:
        fields = line.split(fs)
        if fields[0] == "PID":
            raw = fields[3] if len(fields) > 3 else ""
            first = [rep.split(frame.component)[0] for rep in raw.split(frame.repetition)]
            current = {cx.split(frame.subcomponent)[0].strip() for cx in first}
        elif fields[0] == "OBR":
            patients.append(set(current))
    return patients


def same_patient(subject: str, pids: set[str]) -> bool:
    """Whether ``subject`` (the engine's reading of a PID-3) is one of ``pids`` (raw): letters and
    digits compared, escape sequences (read their own way by every parser) left out or not."""
    def norm(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9]", "", text)

    return norm(subject) in {norm(p) for p in pids} | {norm(re.sub(r"\\[^\\]*\\", "", p)) for p in pids}


def check_downstream(ledger: Ledger, engine: EngineProcess, ehr_url: str, http: httpx.Client) -> None:
    listed: dict[tuple[str, str], dict[str, Any]] = {}
    after = 0
    while True:
        page = http.get(f"{engine.url}/messages", params={"limit": 1000, "after": after}).json()
        listed.update({(m["sender"], m["control_id"]): m for m in page["messages"]})
        if page["next_after"] is None:
            break
        after = page["next_after"]
    violations = ledger.violations
    for key in listed.keys() - ledger.sent.keys():
        violations.append(f"stored but never sent: {key!r}")
    for key in listed.keys() - ledger.accepted.keys() - ledger.silent:
        violations.append(f"stored without an accept ACK: {key!r}")
    stored: dict[tuple[str, str], Received] = {}  # what the engine stored: the first receipt of each key
    for key in listed:
        path = f"{engine.url}/messages/{quote(key[1], safe='')}"
        raw = http.get(path, params={"sender": key[0]}).raise_for_status().json()["raw"]
        frame = next((f for f in ledger.sent.get(key, []) if f.text == raw), None)
        if frame is None:
            violations.append(f"{key!r} stored as a text that was not sent with that key: {raw[:200]!r}")
        else:
            stored[key] = frame
    for key in ledger.accepted:
        record = listed.get(key)
        if record is None:
            violations.append(f"acknowledged but not stored: {key!r} ({ledger.accepted[key].kind})")
            continue
        kind = stored[key].kind if key in stored else "?"
        expected = "no-destination" if kind in STORED_ONLY else "delivered"
        if record["status"] != expected:
            violations.append(f"{key!r} ({kind}) is {record['status']}, not {expected}: {record['last_error']}")
    want_reports, want_observations, want_encounters = expected_resources(list(stored.values()))
    reports = list(every(http, f"{ehr_url}/DiagnosticReport?_count=1000"))
    observations = list(every(http, f"{ehr_url}/Observation?_count=1000"))
    encounters = list(every(http, f"{ehr_url}/Encounter?_count=1000"))
    for kind, want, found in [
        ("DiagnosticReport", want_reports, dedup_values(reports)),
        ("Observation", want_observations, dedup_values(observations)),
        ("Encounter", want_encounters, dedup_values(encounters)),
    ]:
        for value in sorted((want - found).keys()):
            violations.append(f"{kind} {value!r}: {found[value]} at the EHR, {want[value]} acknowledged")
        for value in sorted((found - want).keys()):
            violations.append(f"{kind} {value!r}: {found[value]} at the EHR, {want[value]} acknowledged")
    patients = list(every(http, f"{ehr_url}/Patient?_count=1000"))
    # Valid for a strict FHIR server too (HAPI): the mock EHR checks only what it indexes.
    for kind, resources in (("DiagnosticReport", reports), ("Observation", observations),
                            ("Encounter", encounters), ("Patient", patients)):
        for resource in resources:
            try:
                get_fhir_model_class(kind).model_validate(resource)
            except ValueError as error:
                violations.append(f"not valid FHIR R4B: {kind} {resource.get('identifier')}: {str(error)[:500]}")
    owners = Counter((i.get("system"), i.get("value")) for p in patients for i in p.get("identifier", []))
    violations += [f"{count} Patients with identifier {token!r}" for token, count in owners.items() if count > 1]
    by_value: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        for value in dedup_values([report]):
            by_value.setdefault(value, []).append(report)
    for frame in stored.values():
        if frame.kind != "ORU^R01":
            continue
        for k, pids in enumerate(report_patients(frame), start=1):
            value = frame.control_id if k == 1 else f"{frame.control_id}-R{k}"
            if want_reports[value] > 1:
                continue  # several messages' reports read so (two senders, "X-R2"): which is whose is unknown here
            for report in by_value.get(value, []):
                subject = report.get("subject", {}).get("identifier", {}).get("value", "")
                if not same_patient(subject, pids):
                    violations.append(f"DiagnosticReport {value!r} is about {subject!r}, its PID says {pids!r}")


# -- the campaign -------------------------------------------------------------------------------


@pytest.fixture
def downstream(tmp_path: Path) -> Iterator[tuple[EngineProcess, ServiceProcess]]:
    port = free_port()
    args = ["--name", "ehr-a", "--datacenter", "dc-a", "--role", "primary", "--host", "127.0.0.1",
            "--port", str(port), "--db", str(tmp_path / "ehr.sqlite")]
    ehr = ServiceProcess("ehr-a", "mock_services.ehr", args, port, tmp_path / "ehr.log")
    ehr.start()
    engine = EngineProcess(
        "msg-a",
        tmp_path / "msg-a.sqlite",
        tmp_path / "msg-a.log",
        ["--destination-fhir", ehr.url, "--forward-retry-interval", "0.05", "--max-frame-bytes", str(MAX_FRAME),
         "--idle-timeout", str(IDLE_TIMEOUT)],
    )
    try:
        wait_until(lambda: httpx.get(f"{ehr.url}/health", timeout=1).status_code == 200, 20, "ehr-a ready")
        engine.start(ready_timeout=20)
        yield engine, ehr
    finally:
        engine.kill()
        ehr.kill()


def run_cases(engine: EngineProcess, r: Random, ledger: Ledger) -> list[socket.socket]:
    """Every case, a liveness probe every ``LIVENESS_EVERY``; returns the half-open connections."""
    campaign, half_open = Campaign(r), []
    for case in range(CASES):
        if case % HALF_OPEN_EVERY == 0:  # a frame begun and never finished, or nothing at all
            held = socket.create_connection(engine.mllp, timeout=5)
            held.sendall(SB + samples.oru(f"HALF{case}").encode()[: r.randint(0, 200)])
            half_open.append(held)
        # Most cases one connection; some, several at once (their messages share group commits).
        connections = PARALLEL if case % PARALLEL_EVERY == PARALLEL_EVERY - 1 else 1
        planned = []
        for number in range(connections):
            count = r.choice([1, 1, 1, 2, 3, 8])
            payloads = [campaign.encode(campaign.message((case * PARALLEL + number) * 8 + k)) for k in range(count)]
            data = campaign.wire(payloads)
            frames = [Received.of(payload, complete) for payload, complete in frames_of(data)]
            ledger.record(frames)
            planned.append((frames, pieces(data, r)))
        with ThreadPoolExecutor(connections) as pool:
            answers = list(pool.map(lambda plan: converse(engine.mllp, plan[1]), planned))
        for (frames, _), (acks, problem) in zip(planned, answers, strict=True):
            if problem:
                ledger.violations.append(f"case {case}: {problem}")
            ledger.check_acks(case, frames, acks)
        if case % LIVENESS_EVERY == LIVENESS_EVERY - 1:
            control_id = f"ALIVE{case}"
            verdict = valid_ack(engine.mllp, control_id)
            if verdict:
                ledger.violations.append(f"case {case}: a valid message after it: {verdict}")
            else:
                received = Received.of(samples.oru(control_id).encode(), True)
                ledger.record([received])
                ledger.accepted[received.key] = received
        assert engine.popen is not None and engine.popen.poll() is None, f"the engine exited after case {case}"
    return half_open


def check_half_open(half_open: list[socket.socket], violations: list[str]) -> None:
    """The engine closes idle connections: none of those held open may hang for ever."""
    for held in half_open:
        held.settimeout(IDLE_TIMEOUT + 15)
        try:
            leftover = held.recv(65536)
        except (TimeoutError, ConnectionResetError) as error:
            leftover = repr(error).encode()
        finally:
            held.close()
        if leftover:
            violations.append(f"half-open connection: {leftover[:100]!r} instead of a close")


def drain(engine: EngineProcess, http: httpx.Client, violations: list[str]) -> None:
    try:
        wait_until(lambda: http.get(f"{engine.url}/health").json()["queue_depth"] == 0, 60, "the queue drained")
    except AssertionError:
        queued = http.get(f"{engine.url}/messages", params={"status": "queued", "limit": 20}).json()["messages"]
        violations += [f"still queued: {(m['sender'], m['control_id'])!r}: {m['last_error']}" for m in queued]


def check_logs(logs: dict[str, Path], violations: list[str]) -> None:
    for name, path in logs.items():
        log = path.read_text(errors="replace")
        if any(sign in log for sign in ("Traceback", "event=connection-error", "event=forwarder-error")):
            violations.append(f"{name} logged an error:\n{log[-3000:]}")


def test_hl7_fuzz_campaign(downstream: tuple[EngineProcess, ServiceProcess]) -> None:
    engine, ehr = downstream
    ledger = Ledger()
    started = time.monotonic()
    half_open = run_cases(engine, rng("messaging-hl7"), ledger)
    sending = time.monotonic() - started
    check_half_open(half_open, ledger.violations)
    with httpx.Client(timeout=10) as http:
        drain(engine, http, ledger.violations)
        check_downstream(ledger, engine, ehr.url, http)
    check_logs({"msg-a": engine.log, "ehr-a": ehr.log}, ledger.violations)
    print(f"HL7 campaign: {CASES} cases, {ledger.frames} frames with a header, {len(ledger.accepted)} accepted "
          f"(MSH-3, MSH-10), ACKs {dict(ledger.acks)}, {sending:.1f} s sending, {len(ledger.violations)} violations")
    assert not ledger.violations, f"{len(ledger.violations)} violations:\n" + "\n".join(ledger.violations[:60])
