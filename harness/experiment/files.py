"""Reading the text of an experiment or topology file, or saying plainly why it cannot be had."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import NoReturn

from harness.experiment.base import format_yaml_path
from harness.experiment.issues import ExperimentError, ExperimentIssue
from harness.experiment.limits import MAX_FILE_BYTES, LimitError, check_size
from harness.experiment.source import Location


def read_text(file: Path) -> str:
    """The file's text, or an ExperimentError saying plainly why it cannot be had (also used
    for topology files)."""
    def fail(message: str, hint: str | None = None, at: Location | None = None) -> NoReturn:
        raise ExperimentError([ExperimentIssue(file, "", at.line if at else None, at.column if at else None,
                                               None, None, message)], hint=hint)

    if file.is_dir():
        fail("is a directory, not an experiment file", hint="give the path of a .yaml file inside it")
    try:
        with file.open("rb") as stream:
            # Never more than the limit (and one byte to know it is over): the path may be
            # a huge file, or a device that never ends.
            raw = stream.read(MAX_FILE_BYTES + 1)
            total = os.fstat(stream.fileno()).st_size
    except FileNotFoundError:
        fail("no such experiment file", hint=_nearby(file))
    except PermissionError:
        fail("cannot read the experiment file: permission denied")
    except OSError as exc:
        fail(f"cannot read the experiment file: {exc.strerror or exc}")
    try:
        check_size(raw, total)
    except LimitError as exc:
        raise ExperimentError([ExperimentIssue(file, format_yaml_path(exc.loc), exc.line, exc.column, exc.expected,
                                               exc.found, exc.message)]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line_start = before.rfind(b"\n") + 1
        at = Location(before.count(b"\n") + 1, len(before[line_start:].decode("utf-8", "replace")) + 1)
        fail(f"the file is not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at offset {exc.start})", at=at)


def _nearby(file: Path) -> str | None:
    """A hint naming experiment files with a similar name in the same directory."""
    folder = file.parent
    if not folder.is_dir():
        return f"the directory {str(folder)!r} does not exist either"
    candidates = sorted(p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    close = difflib.get_close_matches(file.name, candidates, n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(str(folder / name) for name in close) + "?"
    if candidates:
        return f"experiment files in {folder}: {', '.join(candidates)}"
    return None
