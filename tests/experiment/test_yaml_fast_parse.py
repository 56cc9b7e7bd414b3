"""libyaml's C parser gives the same documents, source maps and limits as the pure-Python one
(it only replaces scanning and parsing), on every YAML file of the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.experiment.limits import BoundedLoader, FastBoundedLoader, LimitError
from harness.experiment.source import YamlSyntaxError, _parse, parse_yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*ROOT.glob("experiments/**/*.yaml"), *ROOT.glob("tests/experiment/bad/*.yaml"),
                *ROOT.glob("harness/topology/presets/*.yaml")])


@pytest.mark.skipif(FastBoundedLoader is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_both_parsers_agree(path: Path) -> None:
    assert FastBoundedLoader is not None
    text = path.read_text(encoding="utf-8")
    outcomes = []
    for loader in (BoundedLoader, FastBoundedLoader):
        try:
            parsed = _parse(text, loader)
            outcomes.append(("ok", parsed.data, parsed.source.values, parsed.source.keys, parsed.source.written,
                             parsed.duplicates))
        except LimitError as exc:
            outcomes.append(("limit", exc.loc, exc.line, exc.column, exc.message))
        except YamlSyntaxError:
            outcomes.append(("syntax",))  # worded by each parser its own way: parse_yaml says it in PyYAML's
    assert outcomes[0] == outcomes[1]


def test_a_syntax_error_is_said_in_pyyamls_words() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml("a: [1, 2\nb: 3\n")
    assert caught.value.location is not None and caught.value.location.line == 2
    assert "expected ',' or ']'" in caught.value.problem
    assert len(FILES) > 20
