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

    case = Path(__file__).resolve().parents[1] / "golden" / "01-zones-minimal" / "site" / "pnsbox.yaml"
    text = ruleset(build(load_text(case.read_text().replace("  setda:", "  dinas-kesehatan:"))))
    assert 'counter opd_dinas-kesehatan_tx { comment "Sekretariat Daerah" }' in text


def test_every_rule_from_the_config_names_its_source_in_its_comment():
    """`nft list ruleset` reads back to the YAML: a policy's rules carry `policies[INDEX] NAME`,
    a zone's default deny its opds./services. path, management, NAT and traffic classes theirs."""
    from pathlib import Path

    from pnsbox.classifier.catalog import default_catalog
    from pnsbox.load import load_site

    example = Path(__file__).resolve().parents[2] / "rules" / "examples" / "province"
    config = build(load_site(example))
    rendered = site(config, Facts(("pfifo",)), default_catalog()).ruleset
    lines = rendered.text.splitlines()
    policy_rules = 0
    for number, origin in rendered.origins.items():
        line = lines[number - 1]
        if origin.startswith("policies[") and ".." not in origin and line.startswith("\t\t"):
            assert line.endswith(f'comment "{origin}"'), line
            policy_rules += 1
    assert policy_rules >= len(config.policies)
    for comment in ('"opds.dinkes: default deny"', '"services.simpeg: default deny"',
                    '"site.management: from diskominfo"', '"site.uplink.nat: masquerade"',
                    '"opds.dinkes.bandwidth.classes.egov"', '"policies[0..6] simpeg-for-all, mail-for-all'):
        assert f"comment {comment}" in rendered.text
