"""Every file in tests/experiment/bad/ must fail with the errors its header announces.

Header format (comment lines at the top of each file)::

    # error: LINE:COLUMN [YAML.PATH]      one per expected issue, in any order
    # expect: text the error message must contain (e.g. expected/found words)

The test asserts the exact number of issues, and that each announced
``file:line:column: path:`` prefix and each expected text appears in ``str(error)``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.experiment import ExperimentError, load_experiment

BAD = Path(__file__).parent / "bad"
BAD_FILES = sorted(BAD.glob("*.yaml"))

_ERROR = re.compile(r"^# error: (\d+):(\d+)(?: (\S+))?$", re.MULTILINE)
_EXPECT = re.compile(r"^# expect: (.+)$", re.MULTILINE)


def test_there_are_bad_files() -> None:
    assert len(BAD_FILES) >= 15


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_file_fails_as_announced(path: Path) -> None:
    header = path.read_text(encoding="utf-8")
    announced = _ERROR.findall(header)
    expected_texts = _EXPECT.findall(header)
    assert announced, f"{path.name} announces no error"
    assert expected_texts, f"{path.name} announces no message text"

    with pytest.raises(ExperimentError) as caught:
        load_experiment(path)
    message = str(caught.value)

    assert len(caught.value.issues) == len(announced), message
    for line, column, yaml_path in announced:
        prefix = f"{path}:{line}:{column}: " + (f"{yaml_path}: " if yaml_path else "")
        assert prefix in message, f"missing {prefix!r} in:\n{message}"
    for text in expected_texts:
        assert text in message, f"missing {text!r} in:\n{message}"
    for issue in caught.value.issues:
        assert issue.file == path
        assert issue.line is not None and issue.column is not None
