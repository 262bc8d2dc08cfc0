"""Admins cap what an OPD's plans may ask (site.opd_limit, or an OPD's own `limit`); a plan over
the cap is refused in words an operator understands."""

from pathlib import Path

import pytest

from pnsbox.load import load_site
from pnsbox.problems import ConfigError
from pnsbox.validate import build

EXAMPLE = Path(__file__).resolve().parents[2] / "rules" / "examples" / "province"


def _example(tmp_path, replace: dict[str, tuple[str, str]]) -> Path:
    site = tmp_path / "site"
    for path in EXAMPLE.rglob("*.yaml"):
        name = str(path.relative_to(EXAMPLE))
        text = path.read_text()
        if name in replace:
            old, new = replace[name]
            assert old in text
            text = text.replace(old, new)
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    return site


def _problems(site: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build(load_site(site))
    return [str(p) for p in caught.value.problems]


def test_an_operator_cannot_take_most_of_the_pipe(tmp_path):
    site = _example(tmp_path, {"opds/health-and-planning.yaml": ("    guaranteed: 50mbit", "    guaranteed: 150mbit")})
    (problem,) = _problems(site)
    assert problem.endswith("opds.dinkes.bandwidth.guaranteed: 150mbit is more than the admins allow dinkes: "
                            "a guarantee of at most 100mbit (10% of the 1gbit pipe), set in site.opd_limit; "
                            "ask an admin for more")
    assert "health-and-planning.yaml:6:" in problem


def test_an_opds_own_limit_wins_over_the_sites(tmp_path):
    site = _example(tmp_path, {"opds/health-and-planning.yaml": (
        "  link: {interface: opd-dinkes}\n", "  link: {interface: opd-dinkes}\n  limit: {guaranteed: 40mbit}\n")})
    (problem,) = _problems(site)
    assert "opds.dinkes.bandwidth.guaranteed: 50mbit is more than the admins allow dinkes: a guarantee of at " \
           "most 40mbit, set in its own `limit`" in problem


def test_a_scheduled_plan_is_held_to_the_limit_too(tmp_path):
    site = _example(tmp_path, {"opds/health-and-planning.yaml": (
        "office-hours: {guaranteed: 60mbit, ceiling: 300mbit}", "office-hours: {guaranteed: 60mbit, ceiling: 600mbit}")})
    (problem,) = _problems(site)
    assert "opds.bappeda.bandwidth.during.office-hours.ceiling: 600mbit is more than the admins allow bappeda: " \
           "a ceiling of at most 500mbit (50% of the 1gbit pipe)" in problem


def test_a_limit_is_a_rate_or_a_share(tmp_path):
    site = _example(tmp_path, {"pnsbox.yaml": ("opd_limit: {guaranteed: 10%, ceiling: 50%}",
                                               "opd_limit: {guaranteed: lots, ceiling: 150%}")})
    problems = _problems(site)
    assert any("site.opd_limit.guaranteed" in p and "'lots' is not a rate" in p for p in problems)
    assert any("site.opd_limit.ceiling" in p and "at most 100%" in p for p in problems)


def test_the_example_site_keeps_within_its_limits():
    assert build(load_site(EXAMPLE)).site.opd_limit.guaranteed == "10%"
