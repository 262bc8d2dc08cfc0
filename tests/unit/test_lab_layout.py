"""The lab's layout as data: one hub for a plain site, a wired pair for an HA site."""

from __future__ import annotations

from collections import Counter
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from pnsbox.lab.topology import HUB, INTERNET, LabError, Veth, hub_nodes, layout
from pnsbox.load import load_site
from pnsbox.model import HAVirtual
from pnsbox.validate import build

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "examples"
PEERS = ["hub-a", "hub-b"]


@pytest.fixture(scope="module")
def plain():
    """The province example without its OPD across town (dispar's edge box): the HA example has none."""
    config = build(load_site(EXAMPLES / "province"))
    site = config.site.model_copy(update={"wireguard": None, "edges_url": None})
    return config.model_copy(update={"site": site, "opds": {k: v for k, v in config.opds.items() if k != "dispar"}})


@pytest.fixture(scope="module")
def pair():
    return build(load_site(EXAMPLES / "province-ha"))


def test_the_ha_example_is_the_province_example_plus_a_pair(plain, pair):
    assert pair.site.ha is not None and list(pair.site.ha.peers) == PEERS
    assert pair.model_copy(update={"site": pair.site.model_copy(update={"ha": None})}) == plain


def veths_between(plan, node_a: str, node_b: str) -> list[Veth]:
    return [v for v in plan.veths if {v.node_a, v.node_b} == {node_a, node_b}]


def test_a_plain_site_keeps_its_one_hub_and_direct_links(plain):
    plan = layout(plain, vlan_ok=False)
    assert hub_nodes(plain) == [HUB]
    assert [n for n in plan.nodes if n.startswith("sw-")] == ["sw-dc0"]  # only the shared service link
    assert veths_between(plan, HUB, INTERNET) == [Veth(HUB, "wan0", INTERNET, "eth0")]
    assert veths_between(plan, HUB, "dinkes") == [Veth(HUB, "opd-dinkes", "dinkes", "eth0")]
    assert plan.bridges[("sw-dc0", "br0")] == ["hub", "p0-simpeg", "p1-mail", "p2-dns"]


def test_an_ha_site_gets_one_hub_node_per_peer_and_no_plain_hub(pair):
    plan = layout(pair, vlan_ok=False)
    assert hub_nodes(pair) == PEERS
    assert HUB not in plan.nodes
    assert plan.nodes[:2] == PEERS


def test_every_hub_link_is_a_switch_both_hubs_plug_into(pair):
    plan = layout(pair, vlan_ok=False)
    for device, nodes in [("wan0", [INTERNET]), ("opd-dinkes", ["dinkes"]), ("opd-bappeda", ["bappeda"]),
                          ("lan0.130", ["diskominfo"]), ("dc0", ["simpeg", "mail", "dns"])]:
        switch = f"sw-{device}"
        assert switch in plan.nodes
        for index, hub in enumerate(PEERS):
            assert veths_between(plan, hub, switch) == [Veth(hub, device, switch, f"h{index}-{hub}")]
        for node in nodes:
            assert [v.node_b for v in plan.veths if v.node_a == node and v.name_a == "eth0"] == [switch]
        ports = plan.bridges[(switch, "br0")]
        assert ports[:2] == ["h0-hub-a", "h1-hub-b"] and len(ports) == 2 + len(nodes)
    assert not veths_between(plan, "hub-a", INTERNET) and not veths_between(plan, "hub-b", "dinkes")


def test_the_sync_link_goes_straight_from_hub_to_hub_with_the_same_name(pair):
    plan = layout(pair, vlan_ok=False)
    assert veths_between(plan, "hub-a", "hub-b") == [Veth("hub-a", "sync0", "hub-b", "sync0")]
    assert plan.devices("hub-a") == plan.devices("hub-b")  # the two boxes are cabled alike
    assert sorted(plan.devices("hub-a")) == sorted(["wan0", "opd-dinkes", "opd-bappeda", "lan0.130", "dc0", "sync0"])


def test_interface_names_fit_the_kernel_and_are_unique_per_node(pair):
    plan = layout(pair, vlan_ok=True)
    for node in plan.nodes:
        names = plan.devices(node)
        assert all(len(name) <= 15 for name in names), names
        assert not [name for name, count in Counter(names).items() if count > 1], node


def test_a_vlan_trunk_carries_each_vlan_from_both_hubs(pair):
    plan = layout(pair, vlan_ok=True)
    assert [(v.node, v.parent, v.name) for v in plan.vlans] == [
        ("hub-a", "lan0", "lan0.130"), ("sw-lan0", "t0", "t0.130"),
        ("hub-b", "lan0", "lan0.130"), ("sw-lan0", "t1", "t1.130")]
    assert plan.bridges[("sw-lan0", "b130")] == ["t0.130", "t1.130", "p0-diskominfo"]


def test_hosts_are_addressed_as_on_a_plain_site(plain, pair):
    one, two = layout(plain, vlan_ok=False), layout(pair, vlan_ok=False)
    assert sorted(one.addresses) == sorted(two.addresses)
    assert sorted(one.routes) == sorted(two.routes)  # gateways are the addresses that move


def test_a_peer_named_like_another_node_is_refused(pair):
    ha = pair.site.ha.model_copy(update={"peers": {"internet": pair.site.ha.peers["hub-a"],
                                                   "hub-b": pair.site.ha.peers["hub-b"]}})
    config = pair.model_copy(update={"site": pair.site.model_copy(update={"ha": ha})})
    with pytest.raises(LabError, match="`internet` is taken"):
        layout(config, vlan_ok=False)


def test_without_nat_the_internet_routes_back_to_the_moving_uplink_address(pair):
    uplink = pair.site.uplink.model_copy(update={"nat": "none"})
    ha = pair.site.ha.model_copy(update={"virtual": HAVirtual(uplink=IPv4Interface("198.51.100.9/24"))})
    config = pair.model_copy(update={"site": pair.site.model_copy(update={"uplink": uplink, "ha": ha})})
    assert (INTERNET, "default", "198.51.100.9") in layout(config, vlan_ok=False).routes
