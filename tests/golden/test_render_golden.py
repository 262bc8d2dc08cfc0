"""Config in, exact text out. PNSBOX_UPDATE_GOLDEN=1 rewrites the expected files (then review the diff)."""

import os
from pathlib import Path

import pytest

from pnsbox.classifier.catalog import default_catalog
from pnsbox.facts import Facts
from pnsbox.load import load_site
from pnsbox.render.site import site
from pnsbox.validate import build

KERNEL = Facts(("fq_codel", "pfifo"))

ROOT = Path(__file__).resolve().parents[2]
CASES = {path.name: path for path in sorted((Path(__file__).parent / "cases").iterdir())}
CASES["province"] = ROOT / "rules" / "examples" / "province"
EXPECTED = Path(__file__).parent / "expected"


def _compare(actual: str, expected_file: Path):
    if os.environ.get("PNSBOX_UPDATE_GOLDEN"):
        expected_file.parent.mkdir(exist_ok=True)
        expected_file.write_text(actual)
    assert expected_file.exists(), f"no golden file {expected_file}; run make golden-update and review it"
    assert actual == expected_file.read_text()


@pytest.mark.parametrize("case", sorted(CASES))
def test_ruleset(case):
    config = build(load_site(CASES[case]))
    # Rendering is pure: no source paths or clocks leak into the text.
    _compare(site(config, KERNEL, default_catalog()).nft, EXPECTED / f"{case}.nft")


@pytest.mark.parametrize("case", sorted(CASES))
def test_links_addresses_routes(case):
    config = build(load_site(CASES[case]))
    _compare(site(config, KERNEL, default_catalog()).links, EXPECTED / f"{case}.net")


@pytest.mark.parametrize("case", sorted(CASES))
def test_shaping_batch(case):
    config = build(load_site(CASES[case]))
    _compare(site(config, KERNEL, default_catalog()).tc, EXPECTED / f"{case}.tc")


def test_shaping_during_a_schedule():
    """bappeda's office-hours plan replaces its base plan while the schedule is open."""
    config = build(load_site(CASES["province"]))
    _compare(site(config, KERNEL, default_catalog(), None, frozenset({"office-hours"})).tc, EXPECTED / "province-office-hours.tc")
