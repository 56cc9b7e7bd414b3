"""Files that crashed the validator (issue 10): every one is now a located ExperimentError.

The limits (file size, nesting, aliases, number and string length) are enforced while the
YAML is composed, before anything expands an alias, so a hostile 2 KB file cannot cost
minutes or gigabytes. The figures they guarantee (any file <= 64 KiB validated in <= 1 s
and <= 200 MB) are measured by bench/bench_validate_adversarial.py, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.experiment import ExperimentError, ExperimentIssue, load_experiment, parse_experiment
from harness.runner import plan_faults

FILE = "experiments/x.yaml"
HEAD = "version: 1\nname: x\n"


def error_of(text: str) -> ExperimentError:
    """The ExperimentError of validating ``text`` as `hchaos validate` does (load, then plan)."""
    with pytest.raises(ExperimentError) as caught:
        plan_faults(parse_experiment(text, FILE))
    return caught.value


def only_issue(text: str) -> ExperimentIssue:
    error = error_of(text)
    assert len(error.issues) == 1, str(error)
    issue = error.issues[0]
    assert issue.line is not None and issue.column is not None, str(error)
    return issue


def alias_bomb(levels: int, width: int) -> str:
    """The billion laughs: each level is a list of ``width`` aliases of the level below."""
    lines = [HEAD + "description: x", 'l0: &l0 ["lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


# -- rich markup: user text stays verbatim ------------------------------------------------------


@pytest.mark.parametrize(("text", "markup"), [
    (HEAD.replace("name: x", 'name: "[/x]"'), "[/x]"),
    (HEAD + '"[bold]colour[/bold]": 1\n', "[bold]colour[/bold]"),
])
def test_markup_in_user_text_is_kept_verbatim(text: str, markup: str) -> None:
    # Printing is the CLI's business (it escapes); the error's text must be the user's own.
    error = error_of(text)
    assert f"'{markup}'" in str(error)
    assert f"'{markup}'" in error.issues[0].message


# -- nesting, numbers, strings ------------------------------------------------------------------


def test_deep_nesting_is_refused_at_the_level_that_crosses_the_limit() -> None:
    issue = only_issue(HEAD + "description: " + "[" * 600 + "]" * 600 + "\n")
    # The root mapping is level 1, so the 32nd '[' is the 33rd level.
    assert (issue.line, issue.column) == (3, 14 + 31)
    assert issue.yaml_path == "description" + "[0]" * 31
    assert "nested more than 32 levels deep" in issue.message
    assert issue.expected == "at most 32 levels of nested lists and mappings"


def test_nesting_up_to_the_limit_is_judged_by_the_schema() -> None:
    issue = only_issue(HEAD + "description: " + "[" * 31 + "]" * 31 + "\n")
    assert issue.message == "expected a string, found a list"


def test_integer_of_5000_digits_is_refused_before_it_is_converted() -> None:
    issue = only_issue(HEAD + "topology: {data: {seed: " + "9" * 5000 + "}}\n")
    assert (issue.line, issue.column, issue.yaml_path) == (3, 25, "topology.data.seed")
    assert "a number of at most 32 characters" in issue.message
    assert "found a number of 5000 characters" in issue.message


def test_sexagesimal_and_explicit_tag_numbers_are_bounded_too() -> None:
    # YAML 1.1 reads 1:2:3 as a base-60 integer: length, not digits, is what is bounded.
    assert "at most 32 characters" in only_issue(HEAD + "description: " + ":".join(["59"] * 20) + "\n").message
    assert "at most 32 characters" in only_issue(HEAD + "description: !!int '" + "1" * 40 + "'\n").message


def test_long_string_is_refused_with_its_length() -> None:
    issue = only_issue(HEAD + "description: " + "y" * 5000 + "\n")
    assert (issue.line, issue.yaml_path) == (3, "description")
    assert "a string of at most 4096 characters" in issue.message
    assert "found one of 5000 characters" in issue.message


def test_long_key_is_refused_like_a_long_string() -> None:
    # An explicit key ("? "): PyYAML refuses implicit keys of more than 1024 characters itself.
    issue = only_issue(HEAD + "? " + "k" * 5000 + "\n: 1\n")
    assert (issue.line, issue.column) == (3, 3)
    assert "a string of at most 4096 characters" in issue.message


# -- aliases ------------------------------------------------------------------------------------


def test_alias_bomb_is_refused_before_it_expands() -> None:
    # 1.6 KB: 9 levels of 9 aliases = 9**8 copies of "lol". It took 26.5 s and 1.7 GB in
    # the source-map walk; now the composer counts the expansion and stops at 10 000.
    text = alias_bomb(levels=9, width=9)
    assert len(text) < 2000
    issue = only_issue(text)
    assert issue.yaml_path == "l4[5]"          # the alias that takes the count past the limit
    assert issue.line == 8
    assert "more than 10000 values once aliases are expanded" in issue.message


def test_too_many_aliases_are_refused_at_the_first_one_over() -> None:
    text = HEAD + "a: &a 1\nl: [" + ", ".join(["*a"] * 101) + "]\n"
    issue = only_issue(text)
    assert (issue.line, issue.yaml_path) == (4, "l[100]")
    assert "more than 100 aliases" in issue.message


def test_a_few_aliases_and_merge_keys_still_work() -> None:
    loaded = parse_experiment(HEAD + (
        "faults:\n"
        "  - &cut {type: link_down, target: frontdoor-ehr-a, duration: 2s}\n"
        "  - {<<: *cut, name: again, at: 5s}\n"
    ), FILE)
    assert [f.label for f in loaded.experiment.faults] == ["link_down-0", "again"]
    assert len(plan_faults(loaded)) == 2


def test_recursive_alias_is_refused_where_it_points_back() -> None:
    issue = only_issue(HEAD + "faults: &a [*a]\n")
    assert (issue.line, issue.column, issue.yaml_path) == (3, 13, "faults[0]")
    assert "alias *a refers to a node that contains it" in issue.message


def test_deep_alias_counts_its_expanded_depth() -> None:
    deep = "[" * 20 + "]" * 20
    issue = only_issue(HEAD + f"a: &a {deep}\nb: {'[' * 20}*a{']' * 20}\n")
    assert issue.line == 4
    assert "nested more than 32 levels deep" in issue.message


# -- file size ----------------------------------------------------------------------------------


def test_file_larger_than_64_kib_is_refused_where_it_crosses_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    comment = "# " + "c" * 98 + "\n"                      # 101 bytes a line
    path.write_text(HEAD + comment * 700, encoding="utf-8")
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path)
    (issue,) = caught.value.issues
    crossing = 65_536 - len(HEAD)                         # the first byte past the limit is byte 65 537
    assert (issue.line, issue.column) == (3 + crossing // 101, crossing % 101 + 1)
    assert "larger than 64 KiB (65536 bytes)" in issue.message
    assert issue.found == f"{len(HEAD) + 101 * 700} bytes"


def test_text_larger_than_64_kib_is_refused_too() -> None:
    # In memory, the limit is on the UTF-8 size: 30 000 'é' are 60 000 bytes, 35 000 are not.
    parse_experiment(HEAD + "description: " + "é" * 4000 + "\n" + "#" + "é" * 26_000 + "\n", FILE)
    issue = only_issue(HEAD + "#" + "é" * 35_000 + "\n")
    assert "larger than 64 KiB" in issue.message


def test_file_of_exactly_64_kib_is_read(tmp_path: Path) -> None:
    path = tmp_path / "full.yaml"
    path.write_bytes((HEAD + "#" * (65_536 - len(HEAD) - 1) + "\n").encode())
    assert path.stat().st_size == 65_536
    assert load_experiment(path).experiment.name == "x"


# -- values the planner could not turn into Toxiproxy attributes ---------------------------------


def test_latency_beyond_seven_days_is_refused_by_the_schema() -> None:
    issue = only_issue(HEAD + "faults:\n  - {type: latency, target: frontdoor-ehr-a, duration: 1s, "
                       "latency: 1.0e+306}\n")
    assert issue.yaml_path == "faults[0].latency"
    assert issue.message == ("duration 1.0e+306 is longer than 7 days ('168h'), the longest an experiment may use")
    assert issue.found == "1.0e+306"


def test_bandwidth_rate_is_bounded() -> None:
    issue = only_issue(HEAD + "faults:\n  - {type: bandwidth, target: frontdoor-ehr-a, duration: 1s, "
                       "rate_kbps: 99999999999999999999}\n")
    assert issue.yaml_path == "faults[0].rate_kbps"
    assert "at most 10000000" in issue.message


def test_infinite_duration_string_is_refused_and_shortened() -> None:
    issue = only_issue(HEAD + 'faults:\n  - {type: link_down, target: frontdoor-ehr-a, duration: "1'
                       + "0" * 400 + 's"}\n')
    assert issue.yaml_path == "faults[0].duration"
    assert "at most 64 characters" in issue.message
    assert len(issue.message) < 250 and "0" * 60 not in issue.message


def test_integer_duration_of_401_digits_is_refused() -> None:
    # 401 digits pass no number limit of Python, but are more than 32 characters of YAML.
    issue = only_issue(HEAD + "phases: {recovery: " + "9" * 401 + "}\n")
    assert issue.yaml_path == "phases.recovery"
    assert "at most 32 characters" in issue.message


def test_integer_duration_of_30_digits_is_refused_with_the_bound() -> None:
    issue = only_issue(HEAD + "phases: {recovery: " + "9" * 30 + "}\n")
    assert issue.message.endswith("is longer than 7 days ('168h'), the longest an experiment may use")


# -- values shown as written ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), [
    ("2024-08-03 10:00:00", "2024-08-03 10:00:00"),
    ("2024-08-03", "2024-08-03"),
    ("2024-08-03T10:00:00Z", "2024-08-03T10:00:00Z"),
    (".inf", ".inf"),
    ("0x1F", "0x1F"),
    ("1_000", "1_000"),
    ("!!binary aGVsbG8=", "!!binary aGVsbG8="),
])
def test_found_values_are_shown_as_written(value: str, shown: str) -> None:
    issue = only_issue(HEAD + f"topology: {{ehr: {{replication: {value}}}}}\n")
    assert issue.found == shown
    assert issue.message.startswith(f"invalid value {shown}; expected one of: sync, async")
    assert "datetime" not in issue.message and "b'" not in issue.message


def test_a_date_where_a_string_is_expected_gets_a_hint() -> None:
    issue = only_issue(HEAD.replace("name: x", "name: 2024-08-03"))
    assert issue.message == "expected a string, found 2024-08-03 (YAML reads it as a date; put the value in quotes)"


def test_duration_found_values_are_shown_as_written() -> None:
    issue = only_issue(HEAD + "phases: {recovery: .nan}\n")
    assert issue.message.startswith("cannot parse duration .nan: a duration must be finite")


@pytest.mark.parametrize("value", [
    "2024-02-30", "2024-01-01 25:00:00", "!!timestamp foo", "!!timestamp ''", "!!int foo", "!!int '0x'",
    "!!int '_'", "!!int ''", "!!int ':'", "!!float foo", "!!float '.'", "!!float '1e'", "!!bool foo",
])
def test_scalars_that_cannot_be_constructed_are_located(value: str) -> None:
    issue = only_issue(HEAD + f"description: {value}\n")
    assert (issue.line, issue.column) == (3, 14)
    assert issue.message.startswith("invalid YAML: ")


@pytest.mark.parametrize(("body", "path", "bound"), [
    ("topology: {data: {seed: 9223372036854775808}}", "topology.data.seed", "at most 9223372036854775807"),
    ("topology: {data: {seed: -1}}", "topology.data.seed", "at least 0"),
    ("topology: {care: {breaker_failures: 1001}}", "topology.care.breaker_failures", "at most 1000"),
    ("topology: {care: {max_patients: 100001}}", "topology.care.max_patients", "at most 100000"),
    ("topology: {front_door: {fall: 101}}", "topology.front_door.fall", "at most 100"),
    ("topology: {front_door: {rise: 101}}", "topology.front_door.rise", "at most 100"),
    ("probe: {mix: {read: 1.0e+308, create: 1.0e+308}}", "probe.mix.read", "at most 1000000"),
    ("load: {spawn_rate: 1.0e+300}", "load.spawn_rate", "at most 100000"),
    ("load: {personas: {nurse: 1.0e+308}}", "load.personas.nurse.weight", "at most 1000000"),
    ("load: {personas: {nurse: {tasks: {chart_review: 1.0e+308}}}}", "load.personas.nurse.tasks.chart_review",
     "at most 1000000"),
    ("load: {shape: {type: ramp, start_users: 100001}}", "load.shape.start_users", "at most 100000"),
    ("load: {shape: {type: stages, stages: [{until: 1s, users: 100001}]}}", "load.shape.stages[0].users",
     "at most 100000"),
    ("halt: [{service: ehr, max_p95: 1s, min_requests: 1000001}]", "halt[0].min_requests", "at most 1000000"),
    ("faults: [{type: link_down, target: frontdoor-ehr-a, duration: 1s}]\n"
     "checks: [{type: lab_turnaround, max_ratio: 1.0e+300}]", "checks[0].max_ratio", "at most 1000000"),
    ("faults: [{type: link_down, target: frontdoor-ehr-a, duration: 1s, name: " + "a" * 65 + "}]",
     "faults[0].name", "at most 64 characters"),
], ids=lambda value: value if "." in value and " " not in value else None)
def test_numbers_and_names_are_bounded_with_the_bound_in_the_message(body: str, path: str, bound: str) -> None:
    issues = error_of(HEAD + body + "\n").issues
    assert issues[0].yaml_path == path, issues
    assert bound in issues[0].message


def test_experiment_name_is_at_most_64_characters() -> None:
    # It becomes a directory name (runs/<time>-<name>), and file systems stop at 255 bytes.
    assert "a string of at most 64 characters" in only_issue(HEAD.replace("name: x", "name: " + "a" * 65)).message
    assert parse_experiment(HEAD.replace("name: x", "name: " + "a" * 64), FILE).experiment.name == "a" * 64


def test_unknown_fault_among_many_lists_a_few_names_and_still_suggests() -> None:
    # 400 faults x 500 checks: every check's message used to list all 400 names (1 MB of
    # errors), and the did-you-mean compared each check with every name.
    faults = "".join(f"  - {{type: link_down, target: frontdoor-ehr-a, duration: 1s, name: cut-{i}}}\n"
                     for i in range(400))
    error = error_of(HEAD + "faults:\n" + faults + "checks:\n  - {type: failover_time, max: 1s, fault: cut-39x}\n")
    (issue,) = error.issues
    assert issue.message == ("unknown fault 'cut-39x'; did you mean 'cut-39'? expected one of: cut-0, cut-1, cut-2, "
                             "cut-3, cut-4, cut-5, cut-6, cut-7, cut-8, cut-9 (and 390 more)")


def test_only_the_first_twenty_unknown_faults_get_a_suggestion() -> None:
    faults = "".join(f"  - {{type: link_down, target: frontdoor-ehr-a, duration: 1s, name: cut-{i}}}\n"
                     for i in range(30))
    checks = "".join(f"  - {{type: failover_time, max: 1s, fault: cut-{i}x}}\n" for i in range(25))
    issues = error_of(HEAD + "faults:\n" + faults + "checks:\n" + checks).issues
    assert ["did you mean" in i.message for i in issues] == [True] * 20 + [False] * 5


# -- found by the fuzz campaign (test_experiment_fuzz.py) -----------------------------------------


def test_non_utf8_byte_is_located(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\nname: \xc3\xa9-\xe9x\n")  # a UTF-8 'e acute', then a Latin-1 one
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path)
    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (2, 9)        # 'é' before it is one character
    assert "invalid byte 0xe9" in issue.message


@pytest.mark.parametrize("separator", ["\u2028", "\u0085", "\r"])
def test_lines_are_counted_as_editors_count_them(separator: str) -> None:
    # PyYAML also breaks lines at U+2028, NEL and a lone CR; editors (and we) only at \n.
    issue = only_issue(f"version: 1\nname: x\ndescription: 'a{separator}b'\nprobe: {{rate: 0}}\n")
    assert (issue.line, issue.column, issue.yaml_path) == (4, 15, "probe.rate")


def test_syntax_error_after_a_unicode_line_separator_is_on_the_editors_line() -> None:
    issue = only_issue("version: 1\nname: x\ndescription: [\u2028\n")
    assert issue.line == 4


@pytest.mark.parametrize(("key", "path"), [("", "['']"), ("a.b", "['a.b']"), ("[bold]x[/bold]", "['[bold]x[/bold]']"),
                                           ("two words", "['two words']")])
def test_keys_that_are_not_plain_words_are_quoted_in_paths(key: str, path: str) -> None:
    assert only_issue(HEAD + f'"{key}": 1\n').yaml_path == path
    assert only_issue(HEAD + f'probe: {{"{key}": 1}}\n').yaml_path == "probe" + path


def test_a_file_that_never_ends_is_read_only_up_to_the_limit() -> None:
    # A device (or a pipe) has no size: the loader reads 64 KiB and one byte, then stops.
    with pytest.raises(ExperimentError) as caught:
        load_experiment("/dev/zero")
    (issue,) = caught.value.issues
    assert issue.found == "more than 65536 bytes"
    assert (issue.line, issue.column) == (1, 65537)
