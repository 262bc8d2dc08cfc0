"""Bandwidth plans must fit the pipe; errors name file, line and field."""

import pytest

from pnsbox.load import load_text
from pnsbox.problems import ConfigError
from pnsbox.validate import build

SITE = """\
site:
  name: t
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 100mbit}
services:
  simpeg: {addresses: [10.0.10.10], link: {interface: dc0, address: 10.0.10.1/24}}
opds:
  a:
    name: A
    subnet: 10.21.0.0/24
    link: {interface: opd-a}
    bandwidth:
      guaranteed: 40mbit
      ceiling: 80mbit
      classes:
        egov: {share: 50%, match: {services: [simpeg]}}
      during:
        night: {guaranteed: 10mbit, ceiling: 100mbit}
  b:
    name: B
    subnet: 10.22.0.0/24
    link: {interface: opd-b}
    bandwidth: {download: {guaranteed: 50mbit, ceiling: 100mbit}, upload: {guaranteed: 10mbit, ceiling: 20mbit}}
schedules:
  night: {from: "22:00", to: "06:00"}
"""


def problems(text):
    with pytest.raises(ConfigError) as caught:
        build(load_text(text, "s.yaml"))
    return [str(p) for p in caught.value.problems]


def test_good_plans():
    config = build(load_text(SITE))
    assert config.opds["b"].bandwidth.rates("upload") == (10_000_000, 20_000_000)
    assert config.opds["a"].bandwidth.rates("download") == (40_000_000, 80_000_000)
    assert config.opds["a"].bandwidth.classes["egov"].share == 50


@pytest.mark.parametrize("old, new, expected", [
    ("ceiling: 80mbit", "ceiling: 20mbit",
     "s.yaml:13: opds.a.bandwidth.ceiling: ceiling 20mbit is below the guarantee 40mbit"),
    ("ceiling: 80mbit", "ceiling: 200mbit", "s.yaml:13: opds.a.bandwidth.ceiling: ceiling 200mbit is "
                                             "above the download pipe's 100mbit"),
    ("guaranteed: 40mbit", "guaranteed: 60mbit", "s.yaml:3: site.uplink: download guarantees add up to 110mbit, "
                                                 "more than the pipe's 100mbit"),
    ("share: 50%", "share: 150%", "s.yaml:15: opds.a.bandwidth.classes.egov.share: '150%': a share is more than 0%"),
    ("services: [simpeg]", "services: [simpek]",
     "s.yaml:15: opds.a.bandwidth.classes.egov.match.services[0]: no service named `simpek`; did you mean `simpeg`?"),
    ("        night: {", "        nite: {", "s.yaml:17: opds.a.bandwidth.during.nite: no schedule named `nite`"),
    ("upload: {guaranteed: 10mbit, ceiling: 20mbit}", "upload: {guaranteed: 10mbit}",
     "s.yaml:22: opds.b.bandwidth.upload.ceiling: missing required key `ceiling`"),
    ("{download: {guaranteed: 50mbit, ceiling: 100mbit}, ", "{",
     "s.yaml:22: opds.b.bandwidth: give `guaranteed` and `ceiling`, or a `download` plan"),
    ("egov: {share: 50%, match: {services: [simpeg]}}", "egov: {share: 50%}",
     "s.yaml:15: opds.a.bandwidth.classes.egov: a traffic class needs `match`"),
    ("bandwidth: 100mbit}", "upload: 100mbit}", "s.yaml:3: site.uplink: give `bandwidth`, or both"),
])
def test_plan_problems(old, new, expected):
    assert old in SITE
    found = problems(SITE.replace(old, new, 1))
    assert any(p.startswith(expected) for p in found), found


def test_oversubscribe_allows_more_guarantees_than_the_pipe():
    text = SITE.replace("guaranteed: 40mbit", "guaranteed: 60mbit")
    assert problems(text)
    build(load_text(text.replace("  name: t\n", "  name: t\n  oversubscribe: true\n")))


def test_guarantees_are_checked_during_each_schedule_too():
    text = SITE.replace("night: {guaranteed: 10mbit, ceiling: 100mbit}", "night: {guaranteed: 95mbit, ceiling: 100mbit}")
    assert any("download guarantees add up to 145mbit during night" in p for p in problems(text))


def test_a_plan_shared_by_both_directions_is_reported_once():
    found = problems(SITE.replace("ceiling: 80mbit", "ceiling: 20mbit"))
    assert sum("is below the guarantee" in p for p in found) == 1


def test_ceilings_fit_a_smaller_scheduled_pipe_too():
    text = SITE.replace("bandwidth: 100mbit}", "bandwidth: 100mbit, during: {night: 50mbit}}")
    found = problems(text)
    assert any(p.endswith("opds.a.bandwidth.during.night.ceiling: ceiling 100mbit is above the download "
                          "pipe's 50mbit during night") for p in found), found
    assert any("opds.b.bandwidth.download.ceiling: download ceiling 100mbit is above the download pipe's "
               "50mbit during night" in p for p in found), found
