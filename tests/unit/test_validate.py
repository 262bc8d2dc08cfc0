"""Bad input gets every problem at once, each naming file, line and YAML path."""

import textwrap

import pytest

from pnsbox.load import load_site, load_text
from pnsbox.problems import ConfigError
from pnsbox.validate import build

GOOD = """\
site:
  name: test
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
services:
  simpeg: {addresses: [10.0.10.10], ports: [tcp/443], link: {interface: dc0, address: 10.0.10.1/24}}
  mail: {addresses: [10.0.10.20], ports: [tcp/25], link: {interface: dc0, address: 10.0.10.1/24}}
opds:
  dinkes:
    name: Dinas Kesehatan
    subnet: 10.21.0.0/24
    link: {interface: opd-dinkes}
    bandwidth: {guaranteed: 50mbit, ceiling: 200mbit}
  bappeda:
    name: Bappeda
    subnet: 10.22.0.0/24
    link: {vlan: 122, trunk: lan0}
policies:
  - {name: simpeg, from: opds, to: simpeg, action: accept}
  - {name: files, from: dinkes, to: bappeda, ports: [tcp/445], action: accept, schedule: office}
schedules:
  office: {days: [mon, fri], from: "07:30", to: "16:00"}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build(load_text(text, "site.yaml"))
    return [str(p) for p in caught.value.problems]


def test_good_config_builds():
    config = build(load_text(GOOD))
    assert list(config.opds) == ["dinkes", "bappeda"]
    assert config.opds["bappeda"].link.device == "lan0.122"
    assert config.opds["dinkes"].bandwidth.ceiling == 200_000_000
    assert config.expand(["opds", "dinkes"]) == ["dinkes", "bappeda"]


@pytest.mark.parametrize("old, new, expected", [
    ("bandwidth: 1gbit}", "bandwidth: 1gbit, natt: none}",
     "site.yaml:3: site.uplink.natt: unknown key `natt`; did you mean `nat`?"),
    ("subnet: 10.21.0.0/24", "subnet: 10.21.0.1/24", "site.yaml:10: opds.dinkes.subnet[0]:"),
    ("subnet: 10.22.0.0/24", "subnet: 10.21.0.128/25",
     "site.yaml:15: opds.bappeda.subnet[0]: 10.21.0.128/25 overlaps 10.21.0.0/24 of opds.dinkes.subnet[0]"),
    ("vlan: 122", "vlan: 4095", "site.yaml:16: opds.bappeda.link.vlan: a VLAN id is 1 to 4094, not 4095"),
    ("vlan: 122", "vlan: 0", "site.yaml:16: opds.bappeda.link.vlan:"),
    ("{vlan: 122, trunk: lan0}", "{interface: opd-dinkes}",
     "site.yaml:16: opds.bappeda.link: interface opd-dinkes is already claimed by opds.dinkes.link"),
    ("ports: [tcp/445]", "ports: [tcp/70000]", "site.yaml:19: policies[1].ports[0]: 'tcp/70000': ports run"),
    ("ports: [tcp/445]", "ports: [sctp/445]", "site.yaml:19: policies[1].ports[0]: 'sctp/445' is not a port"),
    ("guaranteed: 50mbit", "guaranteed: 50", "site.yaml:12: opds.dinkes.bandwidth.guaranteed: rate 50 needs a unit"),
    ("ceiling: 200mbit", "ceiling: fast", "site.yaml:12: opds.dinkes.bandwidth.ceiling: 'fast' is not a rate"),
    ("to: simpeg, action", "to: simpg, action",
     "site.yaml:18: policies[0].to: no zone named `simpg`; did you mean `simpeg`?"),
    ("schedule: office}", "schedule: ofice}",
     "site.yaml:19: policies[1].schedule: no schedule named `ofice`; did you mean `office`?"),
    ("action: accept, schedule", "action: allow, schedule",
     "site.yaml:19: policies[1].action: 'allow' is not one of accept, drop, reject"),
    ("address: 198.51.100.2/24", "address: 198.51.100.300/24", "site.yaml:3: site.uplink.address: '198.51.100.300/24' is not an address with its prefix: write it like 198.51.100.2/24"),
    ("gateway: 198.51.100.1", "gateway: 192.0.2.1",
     "site.yaml:3: site.uplink.gateway: gateway 192.0.2.1 is not in the uplink's subnet"),
    ('from: "07:30"', 'from: "7:30"', "site.yaml:21: schedules.office.from: '7:30' is not a time: write HH:MM"),
    ("days: [mon, fri]", "days: [mon, fry]", "site.yaml:21: schedules.office.days[1]: 'fry' is not one of mon, tue, wed, thu, fri, sat, sun"),
    ("  bappeda:\n", "  internet:\n", "site.yaml:13: opds.internet: `internet` is a reserved zone name"),
    ("  mail: {addresses: [10.0.10.20]", "  mail: {addresses: [10.21.0.9]",
     "site.yaml:6: services.mail.addresses[0]: 10.21.0.9/32 overlaps 10.21.0.0/24 of opds.dinkes.subnet[0]"),
    ("address: 10.0.10.1/24}}\n  mail", "address: 10.0.10.1/24}}\n  simpeg",
     "site.yaml:6: services.simpeg: duplicate key (first given on line 5)"),
    ("link: {interface: dc0, address: 10.0.10.1/24}}\nopds", "link: {interface: dc0, address: 10.0.10.2/24}}\nopds",
     "site.yaml:6: services.mail.link.address: dc0 is given address 10.0.10.2/24 here but 10.0.10.1/24"),
    ("  - {name: files,", "  - {name: simpeg,", "site.yaml:19: policies[1].name: policy name `simpeg` is used twice"),
    ("{interface: opd-dinkes}", "{interface: an-interface-name-too-long}", "site.yaml:11: opds.dinkes.link.interface:"),
    ("schedules:", "schedule:", "site.yaml:20: schedule: unknown key `schedule`; did you mean `schedules`?"),
])
def test_each_problem_names_file_line_and_path(old, new, expected):
    assert old in GOOD
    found = problems_of(GOOD.replace(old, new, 1))
    assert any(p.startswith(expected) for p in found), found


def test_all_problems_at_once():
    text = (GOOD.replace("vlan: 122", "vlan: 9999").replace("to: simpeg, action", "to: nowhere, action")
            .replace("ceiling: 200mbit", "ceiling: lots"))
    found = problems_of(text)
    assert len(found) == 3, found


def test_yaml_syntax_error_names_line():
    found = problems_of("site:\n  name: x\n  uplink: [\n")
    assert found[0].startswith("site.yaml:4:") and "YAML syntax error" in found[0]


def test_missing_site_and_wrong_shapes():
    found = problems_of("opds: [a, b]\npolicies: {a: 1}\n")
    assert "site.yaml:1: (top): missing section `site`" in found
    assert any(p.startswith("site.yaml:1: opds: must be a mapping") for p in found)
    assert any(p.startswith("site.yaml:2: policies: must be a list") for p in found)


def test_split_opd_files_keep_their_own_lines(tmp_path):
    (tmp_path / "opds").mkdir()
    (tmp_path / "pnsbox.yaml").write_text(GOOD)
    (tmp_path / "opds" / "more.yaml").write_text(textwrap.dedent("""\
        dishub:
          name: Dinas Perhubungan
          subnet: 10.23.0.0/24
          link: {interface: opd-dishub}
          colour: blue
        dinkes:
          name: again
          subnet: 10.24.0.0/24
          link: {interface: opd-x}
        """))
    with pytest.raises(ConfigError) as caught:
        build(load_site(tmp_path))
    found = [str(p) for p in caught.value.problems]
    more = str(tmp_path / "opds" / "more.yaml")
    assert f"{more}:5: opds.dishub.colour: unknown key `colour`; allowed: bandwidth, limit, link, name, subnet" in found
    assert any(p.startswith(f"{more}:6: opds.dinkes: OPD defined twice") for p in found)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_site(tmp_path / "nope")
    assert "no such config file" in str(caught.value)
