"""Property-based fuzzing of the experiment loader and validator (issue 10).

Whatever the file holds, `hchaos validate` ends in one of two ways: ok (exit 0) or an
``ExperimentError`` (exit 2) whose every issue names the file, a line and column in it, and
a YAML path; never another exception, never a traceback. The files come from:

* the schema's shape: experiments valid by construction (which must be accepted and
  planned), then mutated: a value replaced by a hostile one (huge numbers, markup, dates,
  binary, unicode, infinities), a key dropped or added, a subtree shared (an alias);
* arbitrary YAML documents (nested values of every YAML type, with shared subtrees);
* token soup: YAML punctuation, tags, anchors and fragments of experiments, glued;
* byte-level mutations of the experiments shipped in experiments/ (and duplicated lines,
  hence duplicate keys);
* deep nesting and long numbers at sizes around the limits.

In the suite each test runs the ``ci`` Hypothesis profile (60 derandomized examples);
``make fuzz`` runs ``long`` (2 000 random ones). A bounded sample also goes through the
real CLI as a subprocess. Time and memory are measured by
bench/bench_validate_adversarial.py, not here.
"""

from __future__ import annotations

import atexit
import copy
import datetime
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.experiment import Experiment, ExperimentError, load_experiment
from harness.experiment.limits import MAX_FILE_BYTES
from harness.runner import plan_faults
from harness.runner.targets import topology_for
from tests.campaigns import budget
from tests.experiment.adversarial import ADVERSARIES, Adversary

pytestmark = pytest.mark.campaign

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "experiments").rglob("*.yaml"))
_TOPOLOGY = topology_for(Experiment(version=1, name="x"))
LINKS = list(_TOPOLOGY.link_names)
DATACENTERS = list(_TOPOLOGY.datacenter_names)

_WORK = Path(tempfile.mkdtemp(prefix="hchaos-fuzz-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)  # Hypothesis tests cannot take tmp_path

# Messages of issues that are about the file as a whole (or the YAML text) and so may have
# the root as their path.
_ROOT_MESSAGES = ("invalid YAML", "the file", "expected a mapping at the top level", "number too long",
                  "string too long", "lists and mappings nested", "the document has more than",
                  "more than 100 aliases", "alias *")


def validate_bytes(data: bytes, name: str = "fuzzed.yaml") -> ExperimentError | None:
    """Validate ``data`` as `hchaos validate` does, asserting the outcome is clean: ``None``
    (valid), or the ExperimentError with every issue located. Any other exception escapes
    (and fails the test)."""
    path = _WORK / name
    path.write_bytes(data)
    try:
        plan_faults(load_experiment(path))
    except ExperimentError as error:
        assert_located(error, path, data)
        return error
    return None


def assert_located(error: ExperimentError, path: Path, data: bytes) -> None:
    lines = data.count(b"\n") + 1
    assert error.issues
    for issue in error.issues:
        context = (issue, data[:300])
        assert issue.file == path, context
        assert issue.line is not None and issue.column is not None, context
        assert 1 <= issue.line <= lines and issue.column >= 1, context
        assert str(issue).startswith(f"{path}:{issue.line}:{issue.column}: "), context
        assert issue.message and "Traceback" not in issue.message, context
        assert issue.yaml_path or issue.message.startswith(_ROOT_MESSAGES), context
        # Values are shown as YAML, never as Python reprs.
        assert "datetime.date" not in issue.message and not (issue.found or "").startswith("b'"), context


_runner = CliRunner()


def assert_cli_outcome(data: bytes, name: str = "cli.yaml") -> int:
    """`hchaos validate` in process (click's runner): exit 0 or 2, no exception, no traceback."""
    from harness.cli import main

    path = _WORK / name
    path.write_bytes(data)
    result = _runner.invoke(main, ["validate", str(path)])
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code


# -- hostile values -----------------------------------------------------------------------------


class Raw:
    """A scalar emitted exactly as ``text`` with ``tag`` (plain when the tag is what YAML
    would resolve the text to): how we write 5 000-digit numbers and non-dates."""

    def __init__(self, tag: str, text: str) -> None:
        self.tag, self.text = tag, text


class HostileDumper(yaml.SafeDumper):
    pass


HostileDumper.add_representer(Raw, lambda dumper, raw: dumper.represent_scalar(raw.tag, raw.text))

_INT, _FLOAT, _TIME = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"

raw_scalars = st.one_of(
    st.integers(1, 6000).map(lambda n: Raw(_INT, "9" * n)),
    st.integers(1, 400).map(lambda n: Raw(_FLOAT, "1" + "0" * n + ".0")),
    st.sampled_from([
        Raw(_FLOAT, "1.0e+306"), Raw(_FLOAT, "-1.0e+306"), Raw(_FLOAT, "1e999"), Raw(_FLOAT, ".nan"),
        Raw(_INT, "0x7fffffffffffffffffff"), Raw(_INT, ":".join(["59"] * 12)), Raw(_INT, "1_000_000"),
        Raw(_TIME, "2024-02-30"), Raw(_TIME, "2024-01-01 25:00:00"), Raw(_TIME, "2024-08-03 10:00:00 +99:00"),
        Raw(_INT, "foo"), Raw(_FLOAT, "."), Raw("tag:yaml.org,2002:bool", "maybe"), Raw(_TIME, "never"),
        Raw("tag:yaml.org,2002:null", "nothing"), Raw("!local", "x"),
    ]),
)

markup = st.sampled_from(["[/x]", "[bold]colour[/bold]", "[/]", "[link=file:///etc/passwd]x[/link]", "[[", "]]",
                          "[red", "\\[escaped]", "[bold red on white]", "{x}", "%s", "${HOME}"])

durations = st.one_of(
    st.integers(-10, 10**7), st.floats(allow_nan=True, allow_infinity=True),
    st.from_regex(r"\A[0-9]{1,70}(\.[0-9]{0,3})?(h|m|s|ms)\Z"),
    st.sampled_from(["1" + "0" * 400 + "s", "168h", "168h1ms", "10080m", "1m30s", "250 ms", "-1s", "1h1h"]),
)

python_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), markup, st.text(st.characters(codec="utf-8"), max_size=20),
    st.dates(), st.datetimes(), st.binary(max_size=12), durations,
)

hostile = st.one_of(python_scalars, raw_scalars, st.integers(4000, 6000).map(lambda n: "y" * n))

yaml_values = st.recursive(
    st.one_of(python_scalars, raw_scalars),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8) | markup, inner,
                                                                         max_size=5)),
    max_leaves=25,
)


def dump(data: Any, draw: Callable[..., Any]) -> bytes:
    """``data`` as YAML, in a style drawn at random (block or flow, unicode or escaped)."""
    text = yaml.dump(data, Dumper=HostileDumper, sort_keys=False, allow_unicode=draw(st.booleans()),
                     default_flow_style=draw(st.sampled_from([False, True, None])),
                     width=draw(st.sampled_from([80, 10**6])))
    return text.encode("utf-8")


# -- experiments of the schema's shape ----------------------------------------------------------

_DURATION = st.sampled_from(["250ms", "1s", "5s", "1m30s", 2, 0.5])


def _fault(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    base: dict[str, st.SearchStrategy[Any]] = {"type": st.just(kind), "duration": _DURATION}
    target = st.sampled_from(DATACENTERS if kind == "power_loss" else LINKS)
    extra: dict[str, st.SearchStrategy[Any]] = {"at": _DURATION}
    direction = st.sampled_from(["upstream", "downstream", "both"])
    if kind == "latency":
        base["latency"] = st.sampled_from(["10ms", "200ms", "168h"])
        extra |= {"jitter": st.sampled_from(["0s", "5ms"]), "direction": direction}
    elif kind == "bandwidth":
        base["rate_kbps"] = st.integers(1, 10_000_000)
        extra["direction"] = direction
    elif kind in ("blackhole", "reset_peer"):
        extra["direction"] = direction
    return st.fixed_dictionaries({**base, "target": target}, optional=extra)


def _name_first(faults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first fault named ``fault-0`` (what the reference checks name); others unnamed."""
    return [{**fault, "name": "fault-0"} if index == 0 else fault for index, fault in enumerate(faults)]


faults = st.sampled_from(["power_loss", "latency", "bandwidth", "blackhole", "reset_peer", "link_down"]).flatmap(_fault)

checks = st.one_of(
    st.fixed_dictionaries({"type": st.just("availability")},
                          optional={"phases": st.sampled_from([["steady_state"], ["recovery"],
                                                               ["steady_state", "recovery"]]),
                                    "max_error_rate": st.floats(0, 1), "max_p95": _DURATION}),
    st.fixed_dictionaries({"type": st.just("ledger")}, optional={"fail_on_unexpected": st.booleans()}),
    st.fixed_dictionaries({"type": st.just("split_brain")}),
    st.fixed_dictionaries({"type": st.just("blast_radius"), "service": st.sampled_from(["labs", "imaging"])}),
)

# Checks that measure from a fault (the first one, by default): added when there are faults.
_FAULT_CHECKS = [
    {"type": "failover_time", "max": "10s"},
    {"type": "recovery_order", "order": ["ehr", "labs", "messaging"], "objectives": {"ehr": "5s"}},
    {"type": "reconnection", "within": "5s", "after": "fault-0", "min_fraction": 0.5},
    {"type": "lab_turnaround", "max_ratio": 3},
]

_shapes = st.one_of(
    st.just({"type": "constant"}),
    st.fixed_dictionaries({"type": st.just("ramp")}, optional={"start_users": st.integers(0, 10), "over": _DURATION}),
    st.fixed_dictionaries({"type": st.just("morning_rounds")}, optional={"base": st.floats(0, 1)}),
    st.fixed_dictionaries({"type": st.just("shift_change")},
                          optional={"at": _DURATION, "dip": st.floats(0, 1), "surge": st.floats(1, 5)}),
    st.lists(st.integers(1, 100), min_size=1, max_size=4, unique=True).map(
        lambda untils: {"type": "stages", "stages": [{"until": f"{u}s", "users": 1 + u % 5} for u in sorted(untils)]}),
)

# Personas whose tasks all use services of the default topology (care is not in it).
_personas = st.dictionaries(st.sampled_from(["nurse", "physician", "lab_system", "radiology_modality", "scheduler"]),
                            st.one_of(st.floats(0.1, 10), st.fixed_dictionaries({"weight": st.floats(0.1, 10)})),
                            min_size=1, max_size=3)

loads = st.fixed_dictionaries({}, optional={
    "users": st.integers(1, 100), "spawn_rate": st.floats(0.1, 100), "shape": _shapes, "personas": _personas,
    "think_time": st.just({"min": "100ms", "max": "2s"}), "timeout": _DURATION,
})

experiments = st.fixed_dictionaries(
    {"version": st.just(1), "name": st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z")},
    optional={
        "description": st.text(max_size=200) | markup,
        "topology": st.fixed_dictionaries({}, optional={
            "ehr": st.fixed_dictionaries({}, optional={"replication": st.sampled_from(["sync", "async"]),
                                                       "promote_after": _DURATION, "fencing": st.booleans()}),
            "data": st.fixed_dictionaries({}, optional={"seed": st.integers(0, 2**63 - 1),
                                                        "patients": st.integers(0, 100_000)}),
            "front_door": st.fixed_dictionaries({}, optional={"fall": st.integers(1, 100),
                                                              "rise": st.integers(1, 100)}),
        }),
        "probe": st.fixed_dictionaries({}, optional={"rate": st.floats(0.1, 500), "timeout": _DURATION}),
        "phases": st.fixed_dictionaries({}, optional={"steady_state": _DURATION, "recovery": _DURATION}),
        "faults": st.lists(faults, max_size=4).map(_name_first),
        "checks": st.lists(checks, max_size=3),
        "halt": st.lists(st.fixed_dictionaries({"service": st.just("ehr"), "max_p95": _DURATION}), max_size=2),
        "load": loads,
    },
).map(lambda e: {**e, "checks": [*e.get("checks", []), *(_FAULT_CHECKS if e.get("faults") else [])]})


def _paths(data: Any, prefix: tuple[Any, ...] = (), seen: frozenset[int] = frozenset()) -> list[tuple[Any, ...]]:
    """Every path in ``data`` (a shared subtree is entered once per path, a cycle never)."""
    found = [prefix]
    if id(data) in seen:
        return found
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found += _paths(value, (*prefix, key), seen | {id(data)})
    return found


@st.composite
def mutated_experiments(draw: st.DrawFn) -> bytes:
    """A valid experiment with one to three mutations, dumped in a random style."""
    # A copy: sampled_from hands out the same list objects every time, and mutating them in
    # place would change the strategy itself.
    data = copy.deepcopy(draw(experiments))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)[1:] or [("name",)]))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = draw(st.sampled_from(["replace", "replace", "drop", "add", "share"]))
        if action == "replace":
            parent[last] = draw(hostile | yaml_values)
        elif action == "drop" and isinstance(parent, dict):
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10) | markup)] = draw(hostile)
        elif action == "share" and isinstance(parent, dict | list):
            # The same object twice: the dumper writes an anchor and an alias.
            parent[last] = data.get("topology", data) if isinstance(data, dict) else data
    return dump(data, draw)


# -- the properties -------------------------------------------------------------------------------


@given(experiments, st.data())
def test_experiments_of_the_schema_shape_are_accepted_and_planned(experiment: dict[str, Any],
                                                                  data: st.DataObject) -> None:
    text = dump(experiment, data.draw)
    error = validate_bytes(text)
    assert error is None, f"{text.decode()}\n{error}"


@given(mutated_experiments())
def test_mutated_experiments_validate_cleanly(text: bytes) -> None:
    validate_bytes(text)


@given(st.one_of(yaml_values, st.dictionaries(st.sampled_from(["version", "name", "faults", "checks", "topology",
                                                               "probe", "phases", "halt", "load"]), yaml_values)),
       st.data())
def test_arbitrary_yaml_documents_validate_cleanly(value: Any, data: st.DataObject) -> None:
    validate_bytes(dump(value, data.draw))


_TOKENS = [
    "\n", "\n", "  ", "    ", "- ", ": ", ":", "[", "]", "{", "}", ", ", "&a ", "&b ", "*a", "*b", "<<: ", "? ",
    "!!int ", "!!float ", "!!str ", "!!binary ", "!!timestamp ", "!!set ", "!!omap ", "!!python/object:os.system ",
    "!x ", "'", '"', "|", ">", "# c", "---\n", "...\n", "%YAML 1.1\n", "\t", "\x00", "\u2028", "\ufeff", "\x85",
    "version: 1\n", "name: x\n", "faults:\n", "  - type: latency\n", "    target: frontdoor-ehr-a\n",
    "    duration: 1s\n", "latency: ", "checks:\n", "type: failover_time", "9" * 40, "1e999", ".inf", ".nan",
    "2024-02-30", "2024-08-03 10:00:00", "[/x]", "[bold]", "é", "\U0001f3e5", "0x", "1_0", "59:59", "~", "null",
    "yes", "no", "=", "1s", "10080h",
]


@given(st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join))
def test_token_soup_validates_cleanly(text: str) -> None:
    validate_bytes(text.encode("utf-8", "surrogatepass"))


@st.composite
def mutated_shipped(draw: st.DrawFn) -> bytes:
    """A shipped experiment with bytes inserted, deleted, replaced, or lines duplicated."""
    data = bytearray(draw(st.sampled_from(SHIPPED)).read_bytes())
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "line", "token"]))
        if action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif action == "replace":
            data[at:at + 1] = draw(st.binary(min_size=1, max_size=1))
        elif action == "line":  # duplicate the line at ``at``: often a duplicate key
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            line = bytes(data[start:end + 1 if end >= 0 else len(data)])
            data[start:start] = line
        else:
            data[at:at] = draw(st.sampled_from(_TOKENS)).encode()
    return bytes(data)


@given(mutated_shipped())
def test_mutated_shipped_experiments_validate_cleanly(data: bytes) -> None:
    validate_bytes(data)


@given(st.integers(1, 3000), st.sampled_from(["[", "{a: ", "- ", "[{b: "]), st.booleans())
def test_deep_nesting_validates_cleanly(depth: int, opener: str, closed: bool) -> None:
    closers = {"[": "]", "{a: ": "}", "- ": "", "[{b: ": "}]"}
    if opener == "- ":
        body = "".join("  " * i + "- \n" for i in range(depth)) + "  " * depth + "x\n"
    else:
        body = opener * depth + "1" + (closers[opener] * depth if closed else "") + "\n"
    validate_bytes(b"version: 1\nname: x\ndescription:\n  " + body.encode())


@given(st.integers(1, 120), st.integers(1, 12), st.booleans())
def test_aliases_validate_cleanly(levels: int, width: int, merge: bool) -> None:
    lines = ["version: 1", "name: x", "l0: &l0 {type: link_down, target: frontdoor-ehr-a, duration: 1s}"]
    for level in range(1, levels):
        if merge:
            lines.append(f"l{level}: &l{level} {{<<: *l{level - 1}, k{level}: 1}}")
        else:
            lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    lines.append(f"faults: [*l{levels - 1}]")
    validate_bytes(("\n".join(lines) + "\n").encode())


@given(hostile, st.sampled_from(["name", "description", "probe: {rate: %s}", "phases: {recovery: %s}",
                                 "topology: {data: {seed: %s}}",
                                 "faults: [{type: latency, target: frontdoor-ehr-a, duration: 1s, latency: %s}]",
                                 "faults: [{type: bandwidth, target: frontdoor-ehr-a, duration: 1s, rate_kbps: %s}]",
                                 "%s: 1"]))
def test_hostile_values_in_every_kind_of_field_validate_cleanly(value: Any, where: str) -> None:
    scalar = yaml.dump(value, Dumper=HostileDumper, default_flow_style=True, width=10**6).removesuffix("\n...\n")
    scalar = scalar.strip()
    line = where % scalar if "%s" in where else f"{where}: {scalar}"
    head = "version: 1\n" + ("" if where == "name" else "name: x\n")
    validate_bytes((head + line + "\n").encode())


# -- the adversarial files (their time and memory: bench/bench_validate_adversarial.py) ----------


@pytest.mark.parametrize("adversary", ADVERSARIES, ids=[a.name for a in ADVERSARIES])
def test_adversarial_file_is_judged_within_the_limits(adversary: Adversary) -> None:
    data = adversary.text.encode()
    assert len(data) <= MAX_FILE_BYTES or adversary.name == "too-large"
    error = validate_bytes(data, f"{adversary.name}.yaml")
    if adversary.refused is None:
        assert error is None
    else:
        assert error is not None and adversary.refused in str(error), str(error)[:500]


# -- the CLI --------------------------------------------------------------------------------------


@settings(max_examples=budget(ci=40, long=400), suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_experiments(), mutated_shipped(), st.lists(st.sampled_from(_TOKENS), max_size=40)
                 .map(lambda tokens: "".join(tokens).encode("utf-8", "surrogatepass"))))
def test_cli_validate_exits_0_or_2_in_process(data: bytes) -> None:
    assert_cli_outcome(data)


@settings(max_examples=budget(ci=6, long=60), suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_experiments(), mutated_shipped()))
def test_real_cli_subprocess_exits_0_or_2_without_traceback(data: bytes) -> None:
    path = _WORK / "subprocess.yaml"
    path.write_bytes(data)
    result = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode in (0, 2), (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout


def test_strategies_cover_what_the_campaign_claims() -> None:
    # Guard against a silently weakened generator: the raw scalars really are the hostile
    # forms (a 5 000-digit number stays plain, a non-date stays unquoted).
    assert yaml.dump(Raw(_INT, "9" * 5000), Dumper=HostileDumper).startswith("9999")
    assert yaml.dump(Raw(_TIME, "2024-02-30"), Dumper=HostileDumper).startswith("2024-02-30")
    assert yaml.dump(Raw(_INT, "foo"), Dumper=HostileDumper).startswith("!!int")
    assert yaml.dump(datetime.date(2024, 8, 3), Dumper=HostileDumper).startswith("2024-08-03")
