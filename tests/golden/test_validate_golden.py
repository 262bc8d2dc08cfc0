"""Validation messages as goldens: tests/golden/NN-validate-*/ holds a broken `site/` and
`expected.problems`, exactly what `pnsbox validate -c site` prints (file names relative to the
case). PNSBOX_UPDATE_GOLDEN=1 (make golden-update) rewrites the expected files; review the diff."""

import os
import re
from pathlib import Path

import pytest

from pnsbox.cli import main

HERE = Path(__file__).resolve().parent
CASES = sorted(HERE.glob("[0-9][0-9]-validate-*"))
# What pydantic says when pnsbox has not said it better; none of it may reach an admin.
SCHEMA_LIBRARY = re.compile(r"Input should|Value error|Field required|Extra inputs|should have at least|"
                            r"valid (integer|number|string|IPv4)|Assertion failed")


def problems_printed(case: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["validate", "-c", str(case / "site")]) == 1
    captured = capsys.readouterr()
    assert not captured.out
    return captured.err.replace(f"{case}/", "")


def test_there_are_validation_goldens():
    assert len(CASES) >= 5


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validate_prints_exactly_the_expected_problems(case, capsys):
    printed = problems_printed(case, capsys)
    expected = case / "expected.problems"
    if os.environ.get("PNSBOX_UPDATE_GOLDEN"):
        expected.write_text(printed)
    assert printed == expected.read_text()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_problem_names_file_line_and_path_in_pnsboxs_own_words(case):
    *problems, summary = (case / "expected.problems").read_text().splitlines()
    assert summary == f"{len(problems)} problem(s); nothing was applied"
    for line in problems:
        assert re.match(r"site/(pnsbox\.yaml|opds/[a-z0-9_-]+\.yaml):[1-9]\d*: [^ ]+: \S", line), line
        assert not SCHEMA_LIBRARY.search(line), line
