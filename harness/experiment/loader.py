"""Load an experiment file: read it, parse the YAML, validate it, or say exactly what is wrong.

Every failure is an :class:`~harness.experiment.issues.ExperimentError` (exit code 2) that
lists every problem found at that stage, each with file, line, column and YAML path. The
stages are: reading the file, YAML syntax and the limits on size and structure
(:mod:`harness.experiment.limits`), duplicate keys, the shape of the document (pydantic),
then cross-field rules. A later stage runs only when the earlier ones pass,
because its errors would be noise otherwise (e.g. a duplicate key hides one of two values).

Layers that validate further (the topology checks target names) keep the
:class:`LoadedExperiment` and report through :func:`raise_issues` so that their errors
look the same and point into the same file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from harness.experiment.base import Loc, Problem, format_yaml_path
from harness.experiment.diagnostics import describe_value, issues_from_validation_error, locate_problem
from harness.experiment.files import read_text
from harness.experiment.issues import ExperimentError, ExperimentIssue
from harness.experiment.limits import LimitError
from harness.experiment.model import Experiment
from harness.experiment.source import Location, SourceMap, YamlSyntaxError, parse_yaml
from harness.experiment.topology_file import TopologySource, merge_topology_file


@dataclass(frozen=True)
class LoadedExperiment:
    """A valid experiment together with where it came from.

    ``path`` is the path as given by the caller (so messages show what the user typed);
    ``source`` maps YAML paths of the file to lines and columns.
    """

    experiment: Experiment
    path: Path
    source: SourceMap
    topology_source: TopologySource | None = None
    """The topology file the ``topology`` section's other keys came from (``topology.file``)."""

    @property
    def services_dir(self) -> Path:
        """The folder of the file that declares the topology's services (the topology file when
        ``services`` came from it, else the experiment's): user services' relative ``command``
        and ``workdir`` start there, at validation and at run time alike."""
        source = self.topology_source
        if source is not None and "services" in source.keys:
            return source.path.resolve().parent
        return self.path.resolve().parent

    def issue(
        self, loc: Loc, message: str, *, expected: str | None = None, found: str | None = None
    ) -> ExperimentIssue:
        """An issue about the value at ``loc`` (e.g. ``("faults", 0, "target")``) of this file,
        or of the topology file when ``loc`` is under a ``topology`` key that came from it."""
        problem = Problem(loc, message, expected, found)
        extra = self.topology_source
        if extra is not None and len(loc) >= 2 and loc[0] == "topology" and loc[1] in extra.keys:
            return locate_problem(Problem(loc[1:], message, expected, found), file=extra.path, source=extra.source)
        return locate_problem(problem, file=self.path, source=self.source)


def raise_issues(loaded: LoadedExperiment, problems: Iterable[Problem | tuple[Loc, str]]) -> NoReturn:
    """Report semantic problems found after loading, located in the experiment's file.

    Each problem is a :class:`Problem` or a ``(loc, message)`` pair, ``loc`` being a path
    in the document such as ``("faults", 0, "target")``; paths the file does not spell out
    (a defaulted field) are placed at their nearest written ancestor.

    Raises:
        ExperimentError: always, listing every problem.
        ValueError: if ``problems`` is empty (a caller bug: there is nothing to report).
    """
    issues = [loaded.issue(p.loc, p.message, expected=p.expected, found=p.found)
              for p in (p if isinstance(p, Problem) else Problem(*p) for p in problems)]
    if not issues:
        raise ValueError("raise_issues() needs at least one problem")
    raise ExperimentError(issues)


def load_experiment(path: str | Path) -> LoadedExperiment:
    """Read, parse and validate the experiment file at ``path``.

    Raises:
        ExperimentError: the file is missing, unreadable, larger than 64 KiB, not UTF-8,
            empty, not YAML, over a limit of :mod:`harness.experiment.limits` (nesting,
            aliases, number or string length), has duplicate keys, is not a mapping at the
            top level, or does not follow the experiment format; ``issues`` lists every
            problem found. Nothing else escapes, whatever the file holds.
    """
    file = Path(path)
    return parse_experiment(read_text(file), file)


def parse_experiment(text: str, path: str | Path = "<string>") -> LoadedExperiment:
    """Like :func:`load_experiment` for text already in memory; ``path`` only names it in messages."""
    file = Path(path)
    try:
        parsed = parse_yaml(text)
    except LimitError as exc:
        raise ExperimentError([_over_limit(file, exc)]) from None
    except YamlSyntaxError as exc:
        where = exc.location or Location(1, 1)
        raise ExperimentError([ExperimentIssue(file, format_yaml_path(exc.loc), where.line, where.column,
                                               "valid YAML", None, f"invalid YAML: {exc.problem}")]) from None
    if parsed.duplicates:
        raise ExperimentError(
            ExperimentIssue(
                file, format_yaml_path(d.loc), d.second.line, d.second.column, "each key once per mapping",
                repr(d.loc[-1]),
                f"duplicate key {d.loc[-1]!r} (first on line {d.first.line}, again on line "
                f"{d.second.line}); YAML would silently keep only the last value",
            )
            for d in parsed.duplicates
        )
    data = parsed.data
    if data is None:
        raise ExperimentError([_whole_file(
            file, "the file is empty; expected an experiment mapping with at least 'version: 1' and 'name'",
            found="nothing",
        )])
    if not isinstance(data, dict):
        shown = describe_value(data, parsed.source.written.get(()))
        kind = "a list" if isinstance(data, list) else f"the value {shown}"
        raise ExperimentError([_whole_file(
            file, f"expected a mapping at the top level (version:, name:, faults:, ...), found {kind}",
            found=kind, at=parsed.source.locate(()),
        )])
    topology_source = merge_topology_file(data, file, parsed.source)
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(
            issues_from_validation_error(exc, root=Experiment, file=file, data=data, source=parsed.source)
        ) from None
    return LoadedExperiment(experiment, file, parsed.source, topology_source)


def _over_limit(file: Path, exc: LimitError) -> ExperimentIssue:
    return ExperimentIssue(file, format_yaml_path(exc.loc), exc.line, exc.column, exc.expected, exc.found,
                           exc.message)


def _whole_file(file: Path, message: str, *, found: str | None = None,
                at: Location | None = None) -> ExperimentIssue:
    where = at or Location(1, 1)
    return ExperimentIssue(file, "", where.line, where.column, "an experiment mapping", found, message)
