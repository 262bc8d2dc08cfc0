"""One vocabulary of errors: each kind crosses the control API and comes back as itself, with the
exit code and HTTP status it has everywhere."""

import re
from pathlib import Path

import pytest

from pnsbox import errors
from pnsbox.cli import main
from pnsbox.problems import Problem

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("cls", [c for c in errors.KINDS.values() if c is not errors.ConfigError])
def test_every_error_comes_back_from_an_api_answer_as_itself(cls):
    sent = cls("it went wrong because of opds.dinkes")
    back = errors.from_reply(sent.http_status, sent.reply())
    assert type(back) is cls and str(back) == str(sent)
    assert (back.exit_code, back.http_status) == (cls.exit_code, cls.http_status)


def test_a_config_error_keeps_every_problem_across_the_wire():
    sent = errors.ConfigError([Problem("pnsbox.yaml", 3, "site.name", "x"), Problem("opds/a.yaml", 1, "opds.a", "y")])
    back = errors.from_reply(422, sent.reply())
    assert isinstance(back, errors.ConfigError) and back.problems == sent.problems
    assert back.lines()[-1] == "2 problem(s); nothing was applied"


def test_an_answer_without_a_kind_is_known_by_its_status():
    assert isinstance(errors.from_reply(404, {"error": "no such endpoint"}), errors.NotFound)
    assert isinstance(errors.from_reply(502, "bad gateway"), errors.InternalError)


def test_the_cli_exits_with_the_errors_own_code(tmp_path, capsys):
    (tmp_path / "pnsbox.yaml").write_text("site: {name: x}\n")
    assert main(["validate", "-c", str(tmp_path)]) == errors.ConfigError.exit_code
    assert "nothing was applied" in capsys.readouterr().err
    assert main(["diff", "1", "2", "--state-dir", str(tmp_path / "state")]) == errors.NotFound.exit_code
    assert "no version 1" in capsys.readouterr().err


def test_no_error_is_recognised_by_its_class_name():
    pattern = re.compile(r"__name__\s*(==|!=|in)|type\([^)]*\)\.__name__\s*(==|!=|in)|\.__class__\.__name__")
    found = [f"{path.relative_to(ROOT)}:{n}" for folder in ("pnsbox", "webui") for path in (ROOT / folder).rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if pattern.search(line) and "__main__" not in line]
    assert not found
