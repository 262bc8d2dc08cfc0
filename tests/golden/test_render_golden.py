"""Config in, exact text out. PNSBOX_UPDATE_GOLDEN=1 rewrites the expected files (then review the diff)."""

import os
from pathlib import Path

import pytest

from pnsbox.load import load_site
from pnsbox.render.net import render_net
from pnsbox.render.nft import render
from pnsbox.render.tc import allocate_slots, full_batch, render_shaping
from pnsbox.validate import build

ROOT = Path(__file__).resolve().parents[2]
CASES = {path.name: path for path in sorted((Path(__file__).parent / "cases").iterdir())}
CASES["province"] = ROOT / "rules" / "examples" / "province"
EXPECTED = Path(__file__).parent / "expected"


def _net_text(net) -> str:
    lines = [f"link {x.device}" + (f" vlan {x.vlan} on {x.trunk}" if x.vlan else "") for x in net.links]
    lines += [f"address {x.address} dev {x.device}" for x in net.addresses]
    lines += [f"route {x.destination} dev {x.device}" + (f" via {x.gateway}" if x.gateway else "")
              for x in net.routes]
    return "\n".join(lines) + "\n"


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
    _compare(render(config).text, EXPECTED / f"{case}.nft")


@pytest.mark.parametrize("case", sorted(CASES))
def test_links_addresses_routes(case):
    config = build(load_site(CASES[case]))
    _compare(_net_text(render_net(config)), EXPECTED / f"{case}.net")


@pytest.mark.parametrize("case", sorted(CASES))
def test_shaping_batch(case):
    config = build(load_site(CASES[case]))
    shaping = render_shaping(config, allocate_slots(config), "fq_codel")
    _compare(full_batch(shaping), EXPECTED / f"{case}.tc")


def test_shaping_during_a_schedule():
    """bappeda's office-hours plan replaces its base plan while the schedule is open."""
    config = build(load_site(CASES["province"]))
    shaping = render_shaping(config, allocate_slots(config), "fq_codel", frozenset({"office-hours"}))
    _compare(full_batch(shaping), EXPECTED / "province-office-hours.tc")
