"""The public API (:mod:`harness.api`): its names pinned, each resolving, cheap to import, and
its docstring example true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import harness
import harness.api as api

REPO = Path(__file__).resolve().parents[1]

PUBLIC = [
    "Backend", "EXIT_ABORTED", "EXIT_CHECK_FAILED", "EXIT_INFRASTRUCTURE", "EXIT_INVALID_INPUT", "EXIT_PASS",
    "Endpoints", "Experiment", "ExperimentError", "ExperimentIssue", "FaultPlan", "HarnessError",
    "InfrastructureError", "Instance", "Interrupted", "Interruption", "InvalidInput", "Journal", "Link",
    "LoadedExperiment", "LocalBackend", "LocalOptions", "Nemesis", "Outcome", "ProbeTarget", "Prober",
    "ProberSettings", "RollbackResult", "RunObserver", "RunPlan", "RunResult", "Service", "SilentObserver", "Site",
    "TimelineWriter", "ToolMissing", "Topology", "TopologyProblems", "Verdict", "build_run_plan", "build_topology",
    "default_runs_dir", "experiment_json_schema", "judge_run", "load_experiment", "make_prober", "parse_experiment",
    "plan_fault", "plan_faults", "read_timeline", "reference_topology", "request_abort", "rollback_run",
    "run_experiment", "unfinished_runs", "validate_topology", "worst",
]  # fmt: skip
"""The API, sorted. Changing it is an API change: say so in the changelog, not only here."""


def test_the_public_names_are_pinned() -> None:
    assert sorted(api.__all__) == PUBLIC
    assert len(set(api.__all__)) == len(api.__all__)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_name_resolves_to_the_object_where_it_lives(name: str) -> None:
    home = importlib.import_module(api._WHERE[name])
    assert getattr(api, name) is getattr(home, name)
    obj = getattr(api, name)
    if isinstance(obj, type) or callable(obj):  # classes and functions: the library's own, re-exported
        assert obj.__module__.startswith("harness."), (name, obj.__module__)
    else:
        assert name.startswith("EXIT_") and isinstance(obj, int)


def test_star_import_gives_exactly_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from harness.api import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'PhaseName'"):
        _ = api.PhaseName  # type: ignore[attr-defined]
    assert set(PUBLIC) <= set(dir(api))


def _imported_after(code: str) -> set[str]:
    """The heavy third-party modules imported by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in ('polars', 'httpx', 'locust') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
                         check=True).stdout
    return set(out.split())


def test_importing_the_api_imports_nothing_heavy() -> None:
    assert _imported_after("import harness.api") == set()


def test_validating_through_the_api_imports_neither_polars_nor_httpx() -> None:
    # The contract of `hchaos validate` (an answer in a fraction of a second), kept for scripts.
    code = ("from harness import api\n"
            "loaded = api.load_experiment('experiments/dc-a-power-loss.yaml')\n"
            "api.plan_faults(loaded)\napi.validate_topology(loaded)")
    assert _imported_after(code) == set()


def test_the_docstring_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the example's paths are relative to the repository's root
    tests = doctest.DocTestFinder().find(api)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0
    assert results.attempted >= 6


def test_the_running_example_compiles_and_uses_only_public_names() -> None:
    # It cannot run here (it brings a topology up for a minute): at least it must stay Python
    # and name nothing the API does not export.
    doc = api.__doc__ or ""
    used = set(re.findall(r"\bapi\.(\w+)", doc))
    assert used and used <= set(api.__all__), used - set(api.__all__)
    blocks = [b for b in re.findall(r"::\n\n((?:    .*\n|\n)+)", doc) if ">>>" not in b]
    assert blocks, "the running example is no longer a literal block"
    for block in blocks:
        compile(textwrap.dedent(block), "harness.api example", "exec")


def _harness_packages() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(harness.__path__, "harness.") if m.ispkg]


def test_no_two_public_names_of_the_library_mean_different_things() -> None:
    # The collisions (two PhaseName, two ProbeConfig, three Link): a name exported by
    # two packages is one object re-exported, never two things that share a name.
    meaning: dict[str, tuple[str, object]] = {}
    for package in ["harness.api", *_harness_packages()]:
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            first = meaning.setdefault(name, (package, obj))
            assert first[1] is obj, f"{name!r} is one thing in {first[0]} and another in {package}"
