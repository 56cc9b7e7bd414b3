"""The loader: YAML -> models, and errors that name file, line, column, path, expected, found."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import EXIT_INVALID_INPUT, InvalidInput
from harness.experiment import (
    ExperimentError,
    ExperimentIssue,
    Location,
    Problem,
    load_experiment,
    parse_experiment,
    raise_issues,
)
from harness.experiment.source import parse_yaml

FILE = "experiments/x.yaml"


def load_error(text: str) -> ExperimentError:
    """The ExperimentError for ``text`` (dedented) loaded as experiments/x.yaml."""
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(textwrap.dedent(text), FILE)
    return caught.value


def only_issue(text: str) -> ExperimentIssue:
    error = load_error(text)
    assert len(error.issues) == 1, str(error)
    return error.issues[0]


def test_error_is_invalid_input_with_exit_code_2() -> None:
    error = load_error("version: 1\n")
    assert isinstance(error, InvalidInput)
    assert error.exit_code == EXIT_INVALID_INPUT


def test_issue_str_format() -> None:
    issue = ExperimentIssue(Path("experiments/x.yaml"), "faults[1].type", 12, 11, "one of: a", "'b'", "msg")
    assert str(issue) == "experiments/x.yaml:12:11: faults[1].type: msg"
    assert str(ExperimentIssue(Path("a.yaml"), "", None, None, None, None, "gone")) == "a.yaml: gone"
    assert str(ExperimentIssue(Path("a.yaml"), "", 3, 1, None, None, "top")) == "a.yaml:3:1: top"


def test_error_needs_issues() -> None:
    with pytest.raises(ValueError):
        ExperimentError([])


def test_unknown_fault_type_message_matches_the_contract() -> None:
    issue = only_issue("""\
        version: 1
        name: x
        faults:
          - type: power_loss
            target: dc-a
            duration: 10s
          - type: powerloss
            target: dc-a
            duration: 10s
        """)
    assert str(issue) == (
        "experiments/x.yaml:7:11: faults[1].type: unknown fault type 'powerloss'; expected one of: "
        "action, bandwidth, blackhole, clock_skew, disk_full, kill, latency, link_down, partition, pause, power_loss, "
        "reset_peer, restart (did you mean 'power_loss'?)"
    )
    assert issue.file == Path(FILE)
    assert (issue.line, issue.column, issue.yaml_path) == (7, 11, "faults[1].type")
    assert issue.expected == ("one of: action, bandwidth, blackhole, clock_skew, disk_full, kill, latency, link_down, "
                              "partition, pause, power_loss, reset_peer, restart")
    assert issue.found == "'powerloss'"


def test_unknown_check_type_says_check() -> None:
    issue = only_issue("""\
        version: 1
        name: x
        checks:
          - {type: rto, max: 1s}
        """)
    assert issue.yaml_path == "checks[0].type"
    assert issue.message.startswith(
        "unknown check type 'rto'; expected one of: availability, blast_radius, downtime_orders, failover_time, "
        "lab_turnaround, ledger, patient_identity, reconnection, recovery_order, schedule_staleness, split_brain, "
        "staleness, time_to_degraded")
    assert (issue.line, issue.column) == (4, 12)


def test_missing_discriminator() -> None:
    issue = only_issue("""\
        version: 1
        name: x
        faults:
          - target: dc-a
            duration: 10s
        """)
    assert (issue.line, issue.column, issue.yaml_path) == (4, 5, "faults[0]")
    assert "missing field 'type'" in issue.message
    assert issue.expected == ("one of: action, bandwidth, blackhole, clock_skew, disk_full, kill, latency, link_down, "
                              "partition, pause, power_loss, reset_peer, restart")
    assert issue.message.endswith(f"expected {issue.expected}")


def test_item_that_is_not_a_mapping() -> None:
    issue = only_issue("""\
        version: 1
        name: x
        faults:
          - power_loss
        """)
    assert (issue.line, issue.column, issue.yaml_path) == (4, 5, "faults[0]")
    assert issue.message == "expected a mapping (key: value pairs), found 'power_loss'"


def test_extra_field_points_at_the_key_with_suggestion_and_allowed_fields() -> None:
    error = load_error("""\
        version: 1
        name: x
        faults:
          - type: power_loss
            target: dc-a
            duration: 10s
            durration: 5s
        """)
    (issue,) = error.issues
    assert (issue.line, issue.column, issue.yaml_path) == (7, 5, "faults[0].durration")
    assert issue.message == (
        "unknown field 'durration'; did you mean 'duration'? "
        "allowed fields for type power_loss: at, duration, name, target, type"
    )
    assert issue.found == "'durration'"


def test_extra_top_level_field_without_close_match() -> None:
    issue = only_issue("version: 1\nname: x\nzzz: 1\n")
    assert (issue.line, issue.column, issue.yaml_path) == (3, 1, "zzz")
    assert "did you mean" not in issue.message
    assert issue.message.startswith("unknown field 'zzz'; allowed fields: allow, backend, checks, compose, description")


def test_missing_required_field_is_placed_at_the_parent() -> None:
    issue = only_issue("""\
        version: 1
        name: x
        faults:
          - type: latency
            target: frontdoor-ehr-a
            duration: 10s
        """)
    assert (issue.line, issue.column, issue.yaml_path) == (4, 5, "faults[0].latency")
    assert issue.message.startswith("missing required field 'latency'")


def test_missing_top_level_fields() -> None:
    error = load_error("description: nothing else\n")
    assert [i.yaml_path for i in error.issues] == ["version", "name"]
    assert all((i.line, i.column) == (1, 1) for i in error.issues)


def test_bad_duration_carries_the_parser_message() -> None:
    issue = only_issue("""\
        version: 1
        name: x
        phases:
          steady_state: 5 parsecs
        """)
    assert (issue.line, issue.column, issue.yaml_path) == (4, 17, "phases.steady_state")
    assert "cannot parse duration '5 parsecs': unknown unit 'parsecs'" in issue.message
    assert issue.found == "'5 parsecs'"
    assert issue.expected is not None and "'250ms'" in issue.expected


def test_literal_mismatch_lists_allowed_values() -> None:
    issue = only_issue("""\
        version: 1
        name: x
        topology:
          ehr: {replication: asyncc}
        """)
    assert (issue.line, issue.column, issue.yaml_path) == (4, 22, "topology.ehr.replication")
    assert issue.message == "invalid value 'asyncc'; expected one of: sync, async (did you mean 'async'?)"
    assert issue.expected == "one of: sync, async"


def test_direction_literal() -> None:
    issue = only_issue("""\
        version: 1
        name: x
        faults:
          - {type: blackhole, target: l, duration: 1s, direction: sideways}
        """)
    assert issue.yaml_path == "faults[0].direction"
    assert "expected one of: upstream, downstream, both" in issue.message


def test_type_errors_use_plain_words() -> None:
    issue = only_issue("version: 1\nname: x\nprobe: {rate: fast}\n")
    assert issue.message == "expected a number, found 'fast'"
    assert (issue.expected, issue.found) == ("a number", "'fast'")


def test_yaml_boolean_for_a_string_gets_a_hint() -> None:
    issue = only_issue("version: 1\nname: x\ndescription: no\n")
    assert issue.found == "false"
    assert "put the value in quotes" in issue.message


def test_empty_value_is_described() -> None:
    issue = only_issue("version: 1\nname: x\nprobe:\n  rate:\n")
    assert issue.message == "expected a number, found an empty value"


def test_long_found_values_are_cut() -> None:
    issue = only_issue(f"version: 1\nname: x\nprobe: {{rate: {'y' * 200}}}\n")
    assert issue.found is not None and len(issue.found) <= 60 and issue.found.endswith("...'")


def test_every_issue_is_listed_one_per_line_in_file_order() -> None:
    error = load_error("""\
        version: 1
        name: x
        phases:
          recovery: -1s
        probe:
          rate: 0
        topology:
          ehr: {replication: semi}
        """)
    lines = str(error).splitlines()
    assert len(lines) == 3 == len(error.issues)
    assert lines[0].startswith("experiments/x.yaml:4:13: phases.recovery: cannot parse duration '-1s'")
    assert lines[1] == "experiments/x.yaml:6:9: probe.rate: expected a number greater than 0, found 0"
    assert lines[2].startswith("experiments/x.yaml:8:22: topology.ehr.replication: invalid value 'semi'")


def test_cross_field_problems_are_located_individually() -> None:
    error = load_error("""\
        version: 1
        name: x
        faults:
          - {type: link_down, target: l, duration: 1s, name: cut}
          - {type: link_down, target: l, duration: 1s, name: cut}
        checks:
          - type: failover_time
            max: 8s
            fault: cat
        """)
    assert [(i.line, i.column, i.yaml_path) for i in error.issues] == [
        (5, 54, "faults[1].name"),
        (9, 12, "checks[0].fault"),
    ]
    assert "did you mean 'cut'?" in error.issues[1].message


# -- YAML level ------------------------------------------------------------------------------


def test_duplicate_keys_name_both_lines() -> None:
    error = load_error("""\
        version: 1
        name: x
        phases:
          recovery: 1s
          recovery: 2s
        name: y
        """)
    assert [(i.line, i.column, i.yaml_path) for i in error.issues] == [
        (5, 3, "phases.recovery"),
        (6, 1, "name"),
    ]
    assert "duplicate key 'recovery' (first on line 4, again on line 5)" in error.issues[0].message
    assert "duplicate key 'name' (first on line 2, again on line 6)" in error.issues[1].message


def test_duplicate_keys_in_flow_mappings() -> None:
    issue = only_issue("version: 1\nname: x\nprobe: {mix: {read: 1, read: 2}}\n")
    assert (issue.line, issue.yaml_path) == (3, "probe.mix.read")


def test_keys_that_differ_only_in_type_are_not_duplicates() -> None:
    parsed = parse_yaml("1: a\n'1': b\n")
    assert parsed.duplicates == ()
    assert parsed.data == {1: "a", "1": "b"}


def test_syntax_error_has_line_and_column() -> None:
    issue = only_issue("version: 1\nname: x\nprobe: {rate: 1\nphases: {}\n")
    assert issue.yaml_path == "probe"  # where the parser was: inside probe's flow mapping
    assert issue.line == 4
    assert issue.column is not None
    assert issue.message.startswith("invalid YAML: while parsing a flow mapping (line 3):")


def test_mapping_value_error_position() -> None:
    issue = only_issue("version: 1\nname: x: y\n")
    assert (issue.line, issue.column) == (2, 8)
    assert "mapping values are not allowed here" in issue.message


def test_several_documents_are_refused() -> None:
    issue = only_issue("version: 1\nname: x\n---\nversion: 1\n")
    assert issue.line == 3
    assert "expected a single document" in issue.message


def test_top_level_must_be_a_mapping() -> None:
    issue = only_issue("- a\n- b\n")
    assert (issue.line, issue.column) == (1, 1)
    assert "expected a mapping at the top level" in issue.message
    assert issue.found == "a list"


@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n", "~\n"])
def test_empty_document(text: str) -> None:
    issue = only_issue(text)
    assert "the file is empty" in issue.message


def test_control_characters_are_reported_with_position() -> None:
    issue = only_issue("version: 1\nname: \x07\n")
    assert (issue.line, issue.column) == (2, 7)
    assert "special characters are not allowed" in issue.message


def test_recursive_alias_does_not_hang() -> None:
    issue = only_issue("version: 1\nname: x\nfaults: &a [*a]\n")
    assert issue.yaml_path.startswith("faults")


# -- files -----------------------------------------------------------------------------------


def test_load_from_file_keeps_the_given_path(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("version: 1\nname: ok\n", encoding="utf-8")
    loaded = load_experiment(str(path))
    assert loaded.path == path
    assert loaded.experiment.name == "ok"


def test_missing_file_suggests_neighbours(tmp_path: Path) -> None:
    (tmp_path / "dc-a-power-loss.yaml").write_text("version: 1\nname: x\n", encoding="utf-8")
    with pytest.raises(ExperimentError) as caught:
        load_experiment(tmp_path / "dc-a-power-los.yaml")
    (issue,) = caught.value.issues
    assert issue.line is None
    assert issue.message == "no such experiment file"
    assert caught.value.hint is not None and "dc-a-power-loss.yaml" in caught.value.hint
    assert str(caught.value).startswith(f"{tmp_path / 'dc-a-power-los.yaml'}: no such experiment file")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError) as caught:
        load_experiment(tmp_path / "nope" / "x.yaml")
    assert caught.value.hint is not None and "does not exist" in caught.value.hint


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="is a directory"):
        load_experiment(tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("version: 1\n", encoding="utf-8")

    def deny(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    # chmod is no use when the tests run as root, so refuse the open itself.
    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(ExperimentError, match="permission denied"):
        load_experiment(path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\nname: caf\xe9\n")
    with pytest.raises(ExperimentError, match=r"not UTF-8 text \(invalid byte 0xe9 at offset 20\)"):
        load_experiment(path)


# -- source map and reporting for later layers ----------------------------------------------

DEMO_LIKE = """\
version: 1
name: x
faults:
  - type: link_down
    target: frontdor-ehr-a
    duration: 10s
"""


def test_source_map_locates_values_keys_and_ancestors() -> None:
    source = parse_experiment(DEMO_LIKE, FILE).source
    assert source.locate(("faults", 0, "target")) == Location(5, 13)
    assert source.locate_key(("faults", 0, "target")) == Location(5, 5)
    assert source.locate(("faults", 0)) == Location(4, 5)
    # Not written in the file (a default): the nearest ancestor that is.
    assert source.locate(("faults", 0, "direction")) == Location(4, 5)
    assert source.locate(("probe", "rate")) == Location(1, 1)
    assert str(Location(5, 13)) == "5:13"


def test_raise_issues_for_semantic_errors() -> None:
    loaded = parse_experiment(DEMO_LIKE, FILE)
    with pytest.raises(ExperimentError) as caught:
        raise_issues(loaded, [
            (("faults", 0, "target"), "unknown link 'frontdor-ehr-a'; valid links: frontdoor-ehr-a"),
            Problem(("probe", "service"), "unknown service 'ehr'", expected="a service", found="'ehr'"),
        ])
    assert str(caught.value).splitlines() == [
        "experiments/x.yaml:1:1: probe.service: unknown service 'ehr'",
        "experiments/x.yaml:5:13: faults[0].target: unknown link 'frontdor-ehr-a'; "
        "valid links: frontdoor-ehr-a",
    ]
    assert caught.value.issues[0].found == "'ehr'"


def test_raise_issues_needs_problems() -> None:
    loaded = parse_experiment(DEMO_LIKE, FILE)
    with pytest.raises(ValueError):
        raise_issues(loaded, [])


def test_loaded_issue_helper() -> None:
    loaded = parse_experiment(DEMO_LIKE, FILE)
    issue = loaded.issue(("faults", 0, "target"), "bad", expected="a link", found="'x'")
    assert (issue.line, issue.column, issue.yaml_path, issue.expected, issue.found) == (
        5, 13, "faults[0].target", "a link", "'x'",
    )


def test_thousands_of_issues_are_listed_up_to_fifty_then_counted(tmp_path: Path) -> None:
    from harness.experiment.issues import MAX_LISTED_ISSUES

    faults = "".join(f"  - {{type: powerloss, target: dc-a, duration: 5s, name: f{i}}}\n" for i in range(120))
    path = tmp_path / "many.yaml"
    path.write_text(f"version: 1\nname: many\nbackend: local\nfaults:\n{faults}")
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path)
    assert len(caught.value.issues) == 120
    lines = str(caught.value).splitlines()
    assert len(lines) == MAX_LISTED_ISSUES + 1 and lines[-1] == f"... and 70 more issue(s) in {path}"
