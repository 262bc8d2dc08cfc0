"""The namespace lab: built from the example site, wired right, removed completely."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from pnsbox.lab import LabError, exec_argv, lab_down, lab_fail, lab_up, list_labs, netns_name
from pnsbox.lab.topology import layout
from pnsbox.load import load_site, load_text
from pnsbox.validate import build

pytestmark = pytest.mark.kernel

EXAMPLE = Path(__file__).resolve().parents[2] / "rules" / "examples" / "province"
NODES = ["bappeda", "dinkes", "diskominfo", "dispar", "dns", "edge-dispar", "hub", "internet", "mail", "nat-dispar", "simpeg",
         "sw-dc0"]  # dispar is across town: its edge box, behind a NAT


def _netns_usable() -> str | None:
    """Why the kernel tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    try:
        subprocess.run(["ip", "netns", "list"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"`ip netns` is not usable: {exc}"
    return None


if (_why := _netns_usable()) is not None:
    pytest.skip(_why, allow_module_level=True)


@pytest.fixture(scope="module")
def site():
    return build(load_site(EXAMPLE))


@pytest.fixture(scope="module")
def base():
    """A per-module prefix for lab names, so parallel runs never meet."""
    return "t" + secrets.token_hex(3)


@pytest.fixture
def make_lab(site, base):
    """lab_up with a fresh name; every lab made is torn down, pass or fail."""
    made = []

    def make(config=None, suffix=None):
        name = f"{base}-{suffix or len(made)}"
        made.append(name)
        return name, lab_up(config or site, name)

    yield make
    for name in reversed(made):
        lab_down(name)


@pytest.fixture
def lab(make_lab):
    return make_lab()[0]


def run(lab: str, node: str, *argv: str) -> str:
    proc = subprocess.run(exec_argv(lab, node, list(argv)), capture_output=True, text=True, check=True)
    return proc.stdout


def ip_json(lab: str, node: str, *args: str):
    return json.loads(run(lab, node, "ip", "-j", *args) or "[]")


def addresses(lab: str, node: str, device: str) -> list[str]:
    links = ip_json(lab, node, "-4", "addr", "show", "dev", device)
    return [f"{a['local']}/{a['prefixlen']}" for link in links for a in link["addr_info"]]


def default_gateway(lab: str, node: str) -> str | None:
    routes = ip_json(lab, node, "route", "show", "default")
    return routes[0].get("gateway") if routes else None


def ping(lab: str, node: str, address: str, timeout: float = 3) -> bool:
    argv = exec_argv(lab, node, [sys.executable, "-m", "pnsbox.lab.ping", address, str(timeout)])
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def hub_ip(lab: str, *args: str) -> None:
    subprocess.run(["ip", "-n", netns_name(lab, "hub"), *args], check=True, capture_output=True)


def config_text(service_link: str, nat: str = "masquerade"):
    return build(load_text(f"""
site:
  name: tiny
  uplink: {{interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1,
           bandwidth: 100mbit, nat: {nat}}}
services:
  app: {{addresses: [10.0.10.10, 10.9.9.9], link: {service_link}}}
opds:
  one: {{name: One, subnet: 10.21.0.0/24, link: {{interface: opd-one}}}}
"""))


def host_links() -> set[str]:
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {link["ifname"] for link in json.loads(out)}


# --- building and removing ----------------------------------------------------


def test_example_site_makes_one_namespace_per_node(lab):
    assert list_labs()[lab] == NODES
    assert exec_argv(lab, "dinkes", ["true"]) == ["ip", "netns", "exec", f"pnsbox-{lab}-dinkes", "true"]


def test_host_namespace_untouched(make_lab):
    before = host_links()
    name, _ = make_lab()
    assert host_links() == before
    lab_down(name)
    assert host_links() == before


def test_opd_hosts_take_the_second_address_and_route_via_the_first(lab):
    assert addresses(lab, "dinkes", "eth0") == ["10.21.0.2/24"]
    assert default_gateway(lab, "dinkes") == "10.21.0.1"
    assert addresses(lab, "diskominfo", "eth0") == ["10.30.0.2/24", "10.31.0.2/24"]
    assert default_gateway(lab, "diskominfo") == "10.30.0.1"


def test_service_hosts_sit_on_the_service_link(lab):
    assert addresses(lab, "simpeg", "eth0") == ["10.0.10.10/24"]
    assert default_gateway(lab, "simpeg") == "10.0.10.1"
    assert addresses(lab, "internet", "eth0") == ["198.51.100.1/24"]
    assert addresses(lab, "internet", "lo") == ["127.0.0.1/8", "203.0.113.10/32"]


def test_hub_has_the_config_devices_and_nothing_more(lab):
    names = {link["ifname"] for link in ip_json(lab, "hub", "link", "show")}
    assert names >= {"wan0", "opd-dinkes", "opd-bappeda", "lan0.130", "dc0"}
    assert not [a for a in ip_json(lab, "hub", "-4", "addr", "show") if a["ifname"] != "lo"]
    assert ip_json(lab, "hub", "route", "show") == []
    assert run(lab, "hub", "sysctl", "-n", "net.ipv4.ip_forward").strip() == "0"


def test_vlan_stand_in_is_reported(make_lab):
    _, notes = make_lab()
    vlan_notes = [n for n in notes if n.startswith(("lan0.130:", "lan0:"))]
    assert len(vlan_notes) == 1, notes


def test_wiring_reaches_the_hub_once_it_has_addresses(lab):
    hub_ip(lab, "addr", "add", "10.21.0.1/24", "dev", "opd-dinkes")
    hub_ip(lab, "addr", "add", "10.30.0.1/24", "dev", "lan0.130")
    hub_ip(lab, "addr", "add", "10.0.10.1/24", "dev", "dc0")
    hub_ip(lab, "addr", "add", "198.51.100.2/24", "dev", "wan0")
    hub_ip(lab, "route", "add", "default", "via", "198.51.100.1")
    assert ping(lab, "dinkes", "10.21.0.1")
    assert ping(lab, "diskominfo", "10.30.0.1")
    assert ping(lab, "simpeg", "10.0.10.1")
    assert ping(lab, "mail", "10.0.10.1")  # a second port of the same bridge
    assert ping(lab, "hub", "203.0.113.10")
    assert not ping(lab, "bappeda", "10.22.0.1", timeout=0.5)  # the hub has no address there yet


def test_real_vlan_trunk_when_the_kernel_has_8021q(make_lab):
    name, notes = make_lab()
    if any("no 802.1Q" in note for note in notes):
        pytest.skip("kernel has no 802.1Q VLAN devices (the lab stood in a veth)")
    kinds = {link["ifname"]: link.get("linkinfo", {}).get("info_kind")
             for link in ip_json(name, "hub", "-d", "link", "show")}
    assert kinds["lan0"] == "veth" and kinds["lan0.130"] == "vlan"
    hub_ip(name, "addr", "add", "10.30.0.1/24", "dev", "lan0.130")
    assert ping(name, "diskominfo", "10.30.0.1")


def test_two_labs_coexist_and_come_down_separately(make_lab):
    first, _ = make_lab()
    second, _ = make_lab()
    labs = list_labs()
    assert labs[first] == NODES and labs[second] == NODES
    lab_down(first)
    labs = list_labs()
    assert first not in labs and labs[second] == NODES
    assert not [ns for ns in os.listdir("/run/netns") if ns.startswith(f"pnsbox-{first}-")]


def test_labs_sharing_a_name_prefix_stay_apart(make_lab, site):
    short, _ = make_lab(suffix="a")
    longer, _ = make_lab(suffix="a-b")  # its namespaces start with pnsbox-{short}- too
    assert list_labs()[longer] == NODES
    lab_down(short)
    labs = list_labs()
    assert short not in labs and labs[longer] == NODES
    with pytest.raises(LabError, match="overlaps"):
        lab_up(site, short)  # lab_down(short) could not tell the two apart by name alone


def test_lab_down_is_quiet_when_gone(lab):
    lab_down(lab)
    lab_down(lab)
    assert lab not in list_labs()
    with pytest.raises(LabError, match="no node"):
        exec_argv(lab, "hub", ["true"])


def test_an_existing_lab_is_refused(lab, site):
    with pytest.raises(LabError, match="already exists"):
        lab_up(site, lab)
    assert list_labs()[lab] == NODES  # the refusal did not tear it down


def test_service_link_without_address_is_refused_before_building(base):
    config = config_text("{interface: dc0}")
    with pytest.raises(LabError, match="service `app`"):
        lab_up(config, f"{base}-noaddr")
    assert f"{base}-noaddr" not in list_labs()


def test_bad_names(site, base):
    with pytest.raises(LabError, match="lab name"):
        lab_up(site, "Bad_Name")
    with pytest.raises(LabError, match="lab name"):
        netns_name("x" * 17, "hub")
    with pytest.raises(LabError, match="no node"):
        exec_argv(f"{base}-none", "hub", ["true"])


def test_single_service_gets_a_direct_link_and_32s_outside_its_network(make_lab):
    config = config_text("{interface: dc1, address: 10.0.10.1/24}", nat="none")
    name, notes = make_lab(config)
    assert list_labs()[name] == ["app", "hub", "internet", "one"]
    assert notes == []
    assert addresses(name, "app", "eth0") == ["10.0.10.10/24", "10.9.9.9/32"]
    assert default_gateway(name, "internet") == "198.51.100.2"  # no NAT: replies go back via the hub
    hub_ip(name, "addr", "add", "10.0.10.1/24", "dev", "dc1")
    assert ping(name, "app", "10.0.10.1")


def test_layout_refuses_node_name_clashes():
    config = build(load_text("""
site:
  name: tiny
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 100mbit}
opds:
  hub: {name: Hub, subnet: 10.21.0.0/24, link: {interface: opd-hub}}
"""))
    with pytest.raises(LabError, match="OPD `hub`"):
        layout(config, vlan_ok=False)


def test_a_failed_build_leaves_nothing_behind(site, base, monkeypatch):
    from pnsbox.lab import topology

    def broken(self, node):  # fails after the namespaces and veths exist
        raise LabError("boom")

    monkeypatch.setattr(topology.Layout, "devices", broken)
    with pytest.raises(LabError, match="boom"):
        lab_up(site, f"{base}-broken")
    assert not [ns for ns in os.listdir("/run/netns") if ns.startswith(f"pnsbox-{base}-broken-")]


# --- an HA pair ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ha_lab(base):
    """One HA lab for the module's pair tests (each uses addresses of its own)."""
    name = f"{base}-ha"
    try:
        lab_up(build(load_site(EXAMPLE.parent / "province-ha")), name)
        yield name
    finally:
        lab_down(name)


def test_an_ha_lab_has_two_hubs_that_reach_each_other_and_every_host(ha_lab):
    name = ha_lab
    assert sorted(n for n in list_labs()[name] if n.startswith("hub")) == ["hub-a", "hub-b"]
    subprocess.run(["ip", "-n", netns_name(name, "hub-a"), "addr", "add", "10.254.0.1/24", "dev", "sync0"], check=True)
    subprocess.run(["ip", "-n", netns_name(name, "hub-b"), "addr", "add", "10.254.0.2/24", "dev", "sync0"], check=True)
    assert ping(name, "hub-a", "10.254.0.2")  # the sync cable
    for hub, last in (("hub-a", 11), ("hub-b", 12)):  # each hub's own address on every switch
        for device, host in (("opd-dinkes", "10.21.0.2"), ("dc0", "10.0.10.53"), ("wan0", "198.51.100.1")):
            prefix = host.rsplit(".", 1)[0]
            subprocess.run(["ip", "-n", netns_name(name, hub), "addr", "add", f"{prefix}.{last}/24", "dev", device],
                           check=True)
            assert ping(name, hub, host), (hub, device)


def test_lab_fail_cuts_every_link_of_a_hub_and_heal_restores_them(ha_lab):
    name = ha_lab
    hub_a = netns_name(name, "hub-a")
    subprocess.run(["ip", "-n", hub_a, "addr", "add", "10.21.0.31/24", "dev", "opd-dinkes"], check=True)
    subprocess.run(["ip", "-n", hub_a, "route", "add", "default", "via", "198.51.100.1", "dev", "wan0",
                    "onlink", "proto", "static"], check=True)
    assert ping(name, "dinkes", "10.21.0.31")
    cli = [sys.executable, "-m", "pnsbox.cli", "lab"]
    out = subprocess.run([*cli, "fail", "--name", name, "hub-a"], capture_output=True, text=True, check=True).stdout
    assert "opd-dinkes" in out and "sync0" in out
    states = {link["ifname"]: link["flags"] for link in ip_json(name, "hub-a", "link", "show")}
    assert [n for n, flags in states.items() if "UP" in flags] == ["lo"]
    assert not ping(name, "dinkes", "10.21.0.31", timeout=1)
    assert default_gateway(name, "hub-a") is None  # the kernel dropped it with the link
    subprocess.run([*cli, "heal", "--name", name, "hub-a"], capture_output=True, text=True, check=True)
    states = {link["ifname"]: link["flags"] for link in ip_json(name, "hub-a", "link", "show")}
    assert all("UP" in flags for flags in states.values())
    assert ping(name, "dinkes", "10.21.0.31")
    assert "10.21.0.31/24" in addresses(name, "hub-a", "opd-dinkes")  # a cable pulled, not a box wiped
    assert default_gateway(name, "hub-a") == "198.51.100.1"  # put back as it was


def test_lab_fail_refuses_a_node_the_lab_does_not_have(lab):
    with pytest.raises(LabError, match="no node 'nosuch'"):
        lab_fail(lab, "nosuch")
