"""The golden suite: config and kernel facts in, exact text out (nft, tc, links, iptables, plan).
PNSBOX_UPDATE_GOLDEN=1 (make golden-update) rewrites the expected files; review the diff."""

from __future__ import annotations

import os

import pytest
from golden import HA_PARTS, PARTS, Case, case_dirs

from pnsbox.cli import main
from pnsbox.plan import PlanError, StepKind

CASES = {path.name: Case(path) for path in case_dirs()}
PLAN_CASES = sorted(name for name, case in CASES.items() if case.observed_spec is not None)


def compare(actual: str, expected_file):
    if os.environ.get("PNSBOX_UPDATE_GOLDEN"):
        expected_file.write_text(actual)
    assert expected_file.is_file(), f"no golden file {expected_file}; run make golden-update and review it"
    assert actual == expected_file.read_text(), f"{expected_file} differs (make golden-update, then review)"


def test_the_suite_covers_twenty_cases_or_more():
    assert len(CASES) >= 20 and len(PLAN_CASES) >= 4


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_render_gives_the_expected_text(name, part):
    case = CASES[name]
    compare(getattr(case.desired(case.config()), part), case.path / f"expected.{part}")


HA_CASES = sorted(name for name, case in CASES.items() if case.peer)


@pytest.mark.parametrize("part", HA_PARTS)
@pytest.mark.parametrize("name", HA_CASES)
def test_an_ha_hub_renders_the_expected_keepalived_and_conntrackd_configs(name, part):
    case = CASES[name]
    compare(getattr(case.desired(case.config()), part), case.path / f"expected.{part}")


@pytest.mark.parametrize("name", PLAN_CASES)
def test_plan_gives_the_expected_steps(name):
    compare(CASES[name].plan_text(), CASES[name].path / "expected.plan")


@pytest.mark.parametrize("name", sorted(CASES))
def test_pnsbox_render_prints_byte_for_byte_what_apply_loads(name, capsys):
    """The CLI command, given the case's facts and moment, against the apply pipeline's render."""
    case = CASES[name]
    loads = case.desired(case.config())
    peer = ["--peer", case.peer] if case.peer else []
    for part in PARTS + (HA_PARTS if case.peer else ()):
        assert main(["render", "-c", str(case.site), "--facts", str(case.facts_file), "--at", case.at,
                     "--part", part, *peer]) == 0
        assert capsys.readouterr().out == getattr(loads, part), f"{name}: render --part {part}"


@pytest.mark.parametrize("name", [n for n in PLAN_CASES if CASES[n].previous() is None])
def test_on_a_fresh_box_apply_sends_the_rendered_tc_and_iptables(name):
    """The tc lines and queue rules a fresh box's plan sends are the rendered ones, in order."""
    case = CASES[name]
    try:
        steps = case.plan_steps()
    except PlanError as exc:  # a refused plan sends nothing: only the refusal its golden records
        assert (case.path / "expected.plan").read_text() == f"error: {exc}\n"
        return
    loads = case.desired(case.config())
    sent_tc = [line for step in steps if step.kind is StepKind.TC for line in step.args]
    assert sent_tc == loads.tc.splitlines()
    sent_queue = [step.args[0] for step in steps if step.kind is StepKind.CLASSIFY]
    assert sent_queue == ([loads.queue_rules] if loads.queue_rules else [])


def test_a_golden_comparison_fails_on_one_changed_byte(tmp_path, monkeypatch):
    monkeypatch.delenv("PNSBOX_UPDATE_GOLDEN", raising=False)
    expected = tmp_path / "expected.nft"
    expected.write_text("table inet pnsbox {\n}\n")
    with pytest.raises(AssertionError):
        compare("table inet pnsbox {\n }\n", expected)
    with pytest.raises(AssertionError):
        compare("", tmp_path / "missing.nft")
