"""explain: which policy decides, from the config alone (the lab checks the kernel agrees)."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pnsbox.errors import NotFound
from pnsbox.explain import explain
from pnsbox.load import load_site
from pnsbox.validate import build

EXAMPLE = Path(__file__).resolve().parents[2] / "rules" / "examples" / "province"
MONDAY_OFFICE = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 in Jakarta
MONDAY_EVENING = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 19:00 in Jakarta


@pytest.fixture(scope="module")
def config():
    return build(load_site(EXAMPLE))


@pytest.mark.parametrize("source, target, port, action, policy", [
    ("dinkes", "simpeg", "tcp/443", "accept", "simpeg-for-all"),
    ("dinkes", "simpeg", "tcp/25", "drop", None),
    ("bappeda", "internet", "tcp/25", "reject", "no-outbound-smtp"),
    ("bappeda", "internet", "udp/123", "accept", "internet"),
    ("dinkes", "mail", "icmp", "accept", "ping-datacenter"),
    ("diskominfo", "dinkes", "tcp/22", "accept", "it-support"),
    ("internet", "dinkes", "tcp/80", "drop", None),
    ("simpeg", "dinkes", "tcp/80", "drop", None),
])
def test_decisions(config, source, target, port, action, policy):
    found = explain(config, source, target, port)
    assert (found.action, found.policy) == (action, policy)


def test_a_scheduled_policy_decides_only_inside_its_window(config):
    inside = explain(config, "dinkes", "bappeda", "tcp/445", MONDAY_OFFICE)
    outside = explain(config, "dinkes", "bappeda", "tcp/445", MONDAY_EVENING)
    assert (inside.action, inside.policy, inside.schedule) == ("accept", "dinkes-files", "office-hours")
    assert (outside.action, outside.policy) == ("drop", None)
    assert "schedule office-hours is closed now" in outside.text()


def test_shaping_follows_the_classes(config):
    assert explain(config, "dinkes", "simpeg", "tcp/443").shaping.startswith("dinkes/egov (upload)")
    assert explain(config, "internet", "dinkes", "tcp/443").shaping.startswith("dinkes/web (download)")
    assert explain(config, "bappeda", "internet", "tcp/443").shaping.startswith("bappeda (upload)")
    assert "intranet" in explain(config, "diskominfo", "dinkes", "tcp/22").shaping


def test_unknown_zone_is_a_clear_error(config):
    with pytest.raises(NotFound, match="TO: no zone named `nope`"):
        explain(config, "dinkes", "nope")


def test_the_box_itself(config):
    assert explain(config, "diskominfo", "box", "tcp/22").action == "accept"  # site.management
    assert explain(config, "dinkes", "box", "tcp/22").action == "drop"
    assert explain(config, "dinkes", "box", "icmp").action == "accept"  # ping the gateway


def test_a_bare_port_number_is_refused_as_a_site_file_refuses_it(config):
    from pnsbox.errors import BadRequest

    with pytest.raises(BadRequest, match=r"'443' is not a port: write tcp/443"):
        explain(config, "dinkes", "simpeg", "443", datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
    assert explain(config, "dinkes", "simpeg", "tcp/443", datetime(2026, 3, 2, 3, 0, tzinfo=UTC)).action == "accept"
    assert explain(config, "dinkes", "simpeg", "icmp", datetime(2026, 3, 2, 3, 0, tzinfo=UTC)).action == "accept"
