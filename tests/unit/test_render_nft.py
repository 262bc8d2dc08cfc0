"""Render properties that golden files alone would not make obvious."""

import re

from pnsbox.facts import Facts
from pnsbox.load import load_text
from pnsbox.render.site import site
from pnsbox.validate import build

SITE = """\
site:
  name: t
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
services:
  simpeg: {addresses: [10.0.10.10], ports: [tcp/443], link: {interface: dc0, address: 10.0.10.1/24}}
  mail: {addresses: [10.0.10.20], ports: [tcp/25], link: {interface: dc0, address: 10.0.10.1/24}}
opds:
  a: {name: A, subnet: 10.21.0.0/24, link: {interface: opd-a}}
  b: {name: B, subnet: 10.22.0.0/24, link: {interface: opd-b}}
policies:
  - {name: p0, from: [opds, internet], to: simpeg, action: accept}
  - {name: opds-to-mail-only, from: opds, to: mail, action: accept}
  - {name: p2, from: [opds, internet], to: simpeg, protocols: [icmp], action: accept}
"""


def ruleset(config) -> str:
    return site(config, Facts(("pfifo",))).nft


def chains(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, body in re.findall(r"\tchain (\S+) \{\n(.*?)\n\t\}", text, re.S):
        assert name not in found, f"chain {name} declared twice"
        found[name] = body
    return found


def reachable(text: str, chain: str) -> str:
    """A chain's rules with the group chains it jumps to inlined."""
    bodies = chains(text)
    body = bodies[chain]
    for group in re.findall(r"jump (\S+)", body):
        body += "\n" + reachable(text, group)
    return body


def test_runs_of_group_policies_with_the_same_ends_get_their_own_chains():
    text = ruleset(build(load_text(SITE)))
    assert "@zone_mail" in reachable(text, "from_a")
    assert "@zone_mail" not in reachable(text, "from_internet")  # only OPDs may reach mail


def test_policies_may_name_opds_before_there_are_any():
    text = ruleset(build(load_text(SITE.split("opds:")[0] + "policies:\n"
                                  "  - {name: p0, from: internet, to: opds, action: drop}\n")))
    assert "set zone_opds {" in text


def test_per_opd_counters_are_named_by_the_opds_own_key():
    from pathlib import Path

    from pnsbox.load import load_text
    from pnsbox.validate import build

    case = Path(__file__).resolve().parents[1] / "golden" / "cases" / "minimal" / "pnsbox.yaml"
    text = ruleset(build(load_text(case.read_text().replace("  setda:", "  dinas-kesehatan:"))))
    assert 'counter opd_dinas-kesehatan_tx { comment "Sekretariat Daerah" }' in text
