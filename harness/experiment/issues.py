"""What is wrong with an experiment file, located precisely enough to fix it.

Every problem the experiment layer (or a later layer such as the topology) finds in a file
becomes one :class:`ExperimentIssue`; all issues of one file travel together in one
:class:`ExperimentError`, so the user fixes everything in one round instead of one
problem per run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InvalidInput


@dataclass(frozen=True)
class ExperimentIssue:
    """One problem in an experiment file.

    ``yaml_path`` is rendered like ``faults[1].duration`` (empty for the file as a whole);
    ``line``/``column`` are 1-based and ``None`` when the problem has no position (e.g. the
    file cannot be read). ``expected`` and ``found`` are short phrases ("a duration such as
    '5s'", "'5 parsecs'") for tools; ``message`` is the full sentence for people and
    already contains what matters of both.
    """

    file: Path
    yaml_path: str
    line: int | None
    column: int | None
    expected: str | None
    found: str | None
    message: str

    def __str__(self) -> str:
        """``file:line:column: yaml.path: message`` (the parts that are unknown are left out)."""
        where = str(self.file)
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        path = f" {self.yaml_path}:" if self.yaml_path else ""
        return f"{where}:{path} {self.message}"


MAX_LISTED_ISSUES = 50
"""Issues ``str()`` lists before summing up the rest: aliases can multiply one mistake into
thousands (an 867-byte file gave 5 001), and a screenful is what a person reads."""


class ExperimentError(InvalidInput):
    """An experiment file cannot be used (exit code 2). ``issues`` holds every problem found,
    in file order; ``str()`` gives one issue per line, the first :data:`MAX_LISTED_ISSUES` of
    them and a count of the rest (plus the hint, if any)."""

    def __init__(self, issues: Iterable[ExperimentIssue], *, hint: str | None = None) -> None:
        ordered = sorted(issues, key=lambda i: (i.line or 0, i.column or 0))
        if not ordered:
            raise ValueError("an ExperimentError needs at least one issue")
        lines = [str(issue) for issue in ordered[:MAX_LISTED_ISSUES]]
        if len(ordered) > MAX_LISTED_ISSUES:
            lines.append(f"... and {len(ordered) - MAX_LISTED_ISSUES} more issue(s) in {ordered[0].file}")
        super().__init__("\n".join(lines), hint=hint)
        self.issues: tuple[ExperimentIssue, ...] = tuple(ordered)
