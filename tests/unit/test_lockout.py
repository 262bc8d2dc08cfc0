"""The anti-lockout check, from configs alone."""

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pnsbox.daemon.core import config_of
from pnsbox.lockout import lockout, zone_of
from pnsbox.problems import ConfigError
from pnsbox.store import site_files

EXAMPLE = Path(__file__).resolve().parents[2] / "rules" / "examples" / "province"


def example(edit=lambda text: text):
    files = site_files(EXAMPLE)
    files["pnsbox.yaml"] = edit(files["pnsbox.yaml"])
    return config_of(files)


def test_zones_of_addresses():
    config = example()
    assert zone_of(config, IPv4Address("10.30.0.9")) == "diskominfo"
    assert zone_of(config, IPv4Address("10.31.0.9")) == "diskominfo"  # its second subnet
    assert zone_of(config, IPv4Address("10.0.10.10")) == "simpeg"
    assert zone_of(config, IPv4Address("8.8.8.8")) == "internet"


def test_moving_management_away_from_the_admin_is_caught():
    old, new = example(), example(lambda t: t.replace("from: [diskominfo]", "from: [dinkes]"))
    why = lockout(old, new, "ssh:10.30.0.2", "tcp/22")
    assert why and "10.30.0.2" in why and "diskominfo" in why and "--force" in why
    assert lockout(old, new, "ssh:10.21.0.2", "tcp/22") is None  # dinkes gains access: no cut
    assert lockout(None, new, "ssh:10.30.0.2", "tcp/22")  # first apply counts: nothing filtered before


def test_closing_only_the_port_in_use_is_caught():
    old = example()
    new = example(lambda t: t.replace("ports: [tcp/22, tcp/443]", "ports: [tcp/443]"))
    assert lockout(old, new, "ssh:10.30.0.2", "tcp/22")
    assert lockout(old, new, "web:10.30.0.2", "tcp/443") is None


def test_console_loopback_and_unchanged_access_are_never_refused():
    old, new = example(), example(lambda t: t.replace("from: [diskominfo]", "from: [dinkes]"))
    assert lockout(old, new, "local", None) is None
    assert lockout(old, new, "ssh:127.0.0.1", "tcp/22") is None
    assert lockout(old, old, "ssh:10.30.0.2", "tcp/22") is None
    assert lockout(old, new, "ssh:10.99.0.1", "tcp/22") is None  # never had access: nothing to cut


def test_checks_are_validated_with_file_and_line():
    with pytest.raises(ConfigError) as caught:
        example(lambda t: t + "checks:\n  reach: [10.0.0.300]\n  tcp: [10.0.10.10:0, simpeg]\n  timout: 2\n")
    text = str(caught.value)
    assert "pnsbox.yaml:" in text and "checks.reach[0]" in text and "checks.tcp[0]" in text
    assert "checks.tcp[1]" in text and "did you mean `timeout`" in text


def test_checks_parse():
    config = example(lambda t: t + "checks:\n  reach: [198.51.100.1]\n  tcp: [10.0.10.10:443]\n")
    assert [str(e) for e in config.checks.tcp] == ["10.0.10.10:443"] and config.checks.timeout == 3.0
    assert bool(config.checks) and not bool(example().checks)


def test_a_schedule_that_is_closed_now_is_no_way_in():
    from datetime import UTC, datetime

    office_only = example(lambda t: t.replace("  management:\n    from: [diskominfo]", "  management:\n    from: [dinkes]")
                          .replace("policies:", "policies:\n  - {name: ssh-office, from: diskominfo, to: box, "
                                   "ports: [tcp/22], action: accept, schedule: office-hours}", 1))
    night = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 22:00 in Jakarta
    noon = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 12:00 in Jakarta, a Monday
    assert lockout(example(), office_only, "ssh:10.30.0.2", "tcp/22", night)
    assert lockout(example(), office_only, "ssh:10.30.0.2", "tcp/22", noon) is None


def test_the_interface_counts_as_the_kernel_counts_it():
    config = example()
    assert zone_of(config, IPv4Address("10.0.10.99"), "dc0") is None  # in no zone: no access at all
    assert zone_of(config, IPv4Address("10.0.10.99"), "wan0") == "internet"
    assert zone_of(config, IPv4Address("10.30.0.9"), "lan0.130") == "diskominfo"
    anywhere = example(lambda t: t.replace("from: [diskominfo]", "from: [diskominfo, internet]"))
    assert lockout(None, anywhere, "ssh:10.0.10.99", "tcp/22", None, "dc0")  # not the internet zone
