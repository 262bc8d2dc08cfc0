"""Two OPDs on VLANs of one trunk, end to end on a kernel with 802.1Q.

The lab builds the hub's trunk `lan0` (a veth to a switch node) with the VLAN devices
lan0.121 and lan0.122 on it, as on a real campus switch; pnsbox applies the site on the hub.
A capture on the trunk must show each OPD's packets carrying its own tag, and the policy
matrix (written out by hand below) must hold across the VLANs.
"""

import subprocess
import sys
import tempfile
import time

import pytest
from kernelcaps import require
from labkit import in_node, new_lab_name, probe

from pnsbox.apply.pipeline import apply
from pnsbox.lab import topology
from pnsbox.load import load_text
from pnsbox.validate import build

SITE = """\
site:
  name: trunk
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 100mbit}
opds:
  alpha:
    name: Alpha
    subnet: 10.121.0.0/24
    link: {vlan: 121, trunk: lan0}
  beta:
    name: Beta
    subnet: 10.122.0.0/24
    link: {vlan: 122, trunk: lan0}
policies:
  - {name: alpha-web-to-beta, from: alpha, to: beta, ports: [tcp/80], action: accept}
  - {name: internet, from: opds, to: internet, action: accept}
"""
ALPHA, BETA, INTERNET = "10.121.0.2", "10.122.0.2", "203.0.113.10"
MATRIX = {  # "A" answered, "T" no answer (default deny)
    "alpha": {("tcp", INTERNET, 80): "A", ("icmp", INTERNET, 0): "A", ("tcp", BETA, 80): "A",
              ("tcp", BETA, 22): "T", ("icmp", BETA, 0): "T"},
    "beta": {("tcp", INTERNET, 80): "A", ("icmp", INTERNET, 0): "A", ("tcp", ALPHA, 80): "T",
             ("icmp", ALPHA, 0): "T"},
}
CODES = {"answered": "A", "timeout": "T", "refused": "R"}


@pytest.fixture(scope="module")
def lab():
    require("vlan")
    name = new_lab_name("v")
    config = build(load_text(SITE))
    try:
        notes = topology.lab_up(config, name)
        apply(config, topology.netns_name(name, "hub"), tempfile.mkdtemp(prefix="pnsbox-state-"))
        yield name, notes
    finally:
        topology.lab_down(name)


def test_the_hub_has_a_real_trunk_with_one_vlan_device_per_opd(lab):
    name, notes = lab
    assert any("802.1Q trunk" in note for note in notes), notes
    for device, vid in (("lan0.121", 121), ("lan0.122", 122)):
        details = in_node(name, "hub", "ip", "-d", "link", "show", "dev", device)
        assert f"vlan protocol 802.1Q id {vid}" in details, details
        assert "@lan0" in details, details


def test_each_opds_packets_cross_the_trunk_with_its_own_tag(lab):
    name, _ = lab
    hub = topology.netns_name(name, "hub")
    capture = subprocess.Popen(["ip", "netns", "exec", hub, "tcpdump", "-i", "lan0", "-e", "-nn", "-l",
                                "-c", "8", "icmp"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # tcpdump opens its socket
        for node in ("alpha", "beta"):
            for _ in range(2):
                in_node(name, node, sys.executable, "-m", "pnsbox.lab.ping", INTERNET)
        out, _ = capture.communicate(timeout=20)
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()
    lines = [line for line in out.splitlines() if "ICMP" in line]
    alpha = [line for line in lines if ALPHA in line]
    beta = [line for line in lines if BETA in line]
    assert alpha and beta, out
    assert all("vlan 121" in line for line in alpha), alpha  # requests and replies alike
    assert all("vlan 122" in line for line in beta), beta


@pytest.mark.parametrize("node", sorted(MATRIX))
def test_the_policy_matrix_holds_across_the_vlans(lab, node):
    results = probe(lab[0], node, [list(key) for key in MATRIX[node]])
    got = {key: CODES.get(results[key]["result"], results[key]["result"]) for key in MATRIX[node]}
    assert got == MATRIX[node]
