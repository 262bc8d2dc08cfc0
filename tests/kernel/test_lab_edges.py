"""`pnsbox lab up` on the example site, which has an OPD across town (dispar): it builds an edge
box behind a NAT for it, starts the lab's pnsboxd, applies the site through it, enrols the edge
through the real path (a token from pnsboxd, HTTPS to the hub's edge listener) and starts
`pnsbox edge run` in it; then the example site's policies hold for the tunnelled OPD as for
the wired ones, with real clients in the lab nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from labkit import EXAMPLE, ROOT, new_lab_name, probe

from pnsbox.control.client import ControlClient
from pnsbox.lab import hubd, topology

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)


CEILING_MBIT = 50  # dispar's ceiling in the example (opds/tourism.yaml): well below what wireguard-go carries here
IPERF_PORT = 5311


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("labedges")
    name = new_lab_name("e")
    sock, state = str(tmp / "control.sock"), tmp / "state"
    try:
        started = time.monotonic()
        up = subprocess.run([sys.executable, "-m", "pnsbox.cli", "lab", "up", "-c", str(EXAMPLE), "--name", name,
                             "--state-dir", str(state), "--socket", sock], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
        print(f"pnsbox lab up with an edge to enrol: {time.monotonic() - started:.1f} s")
        assert up.returncode == 0, up.stdout + up.stderr
        yield {"name": name, "socket": sock, "done": up.stdout.splitlines(), "state": state, "tmp": tmp}
    finally:
        topology.lab_down(name)


def test_lab_up_builds_an_edge_behind_a_nat_and_enrols_it_itself(lab):
    nodes = topology.list_labs()[lab["name"]]
    assert {"dispar", "edge-dispar", "nat-dispar"} <= set(nodes)
    assert "edge-dinkes" not in nodes  # wired OPDs keep their wire
    assert any(line.startswith("edge-dispar: enrolled as the edge of dispar") for line in lab["done"]), lab["done"]
    assert any(line.startswith("edge-dispar: its tunnel is up") for line in lab["done"]), lab["done"]
    listing = ControlClient(lab["socket"]).request("GET", "/edges")[1]["edges"]
    assert listing["dispar"]["enrolled"] and listing["dispar"]["up"], listing


def test_the_tunnelled_opd_reaches_what_the_policies_allow_and_nothing_else(lab):
    deadline = time.monotonic() + 20
    while True:  # the edge's first round may still be bringing the tunnel up
        seen = probe(lab["name"], "dispar", [["tcp", "10.0.10.10", 443], ["tcp", "203.0.113.10", 80],
                                              ["tcp", "10.22.0.2", 445], ["tcp", "10.21.0.2", 22]])
        if seen[("tcp", "10.0.10.10", 443)]["result"] == "answered" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert seen[("tcp", "10.0.10.10", 443)]["result"] == "answered", seen  # simpeg-for-all
    assert seen[("tcp", "10.22.0.2", 445)]["result"] != "answered"  # another OPD: default deny
    assert seen[("tcp", "10.21.0.2", 22)]["result"] != "answered"


def test_a_wired_opd_cannot_open_connections_into_the_tunnelled_one(lab):
    seen = probe(lab["name"], "dinkes", [["tcp", "10.61.0.2", 22], ["tcp", "10.61.0.2", 443]])
    assert all(outcome["result"] != "answered" for outcome in seen.values()), seen


def test_the_it_office_opens_a_connection_into_the_tunnelled_opds_lan_as_the_hubs_policy_allows(lab):
    # Policy it-support (diskominfo -> opds): the hub routes 10.61.0.0/24 into dispar's tunnel and
    # the edge admits new connections from diskominfo's subnets; the host sees the office's own address.
    answer = subprocess.run(topology.exec_argv(lab["name"], "diskominfo", ["curl", "-sS", "-m", "3",
                                                                           "http://10.61.0.2/"]),
                            capture_output=True, text=True)
    assert answer.stdout.strip() == "pnsbox-lab dispar tcp/80 from 10.30.0.2", answer.stdout + answer.stderr
    seen = probe(lab["name"], "diskominfo", [["tcp", "10.61.0.2", 22], ["udp", "10.61.0.2", 53]])
    assert all(outcome["result"] == "answered" for outcome in seen.values()), seen


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_the_tunnelled_opds_bandwidth_plan_holds_both_ways(lab, direction):
    server = subprocess.Popen(topology.exec_argv(lab["name"], "internet", ["iperf3", "-s", "-p", str(IPERF_PORT),
                                                                           "-1"]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        argv = ["iperf3", "-c", "203.0.113.10", "-p", str(IPERF_PORT), "-t", "4", "-J", "--connect-timeout", "3000"]
        out = subprocess.run(topology.exec_argv(lab["name"], "dispar", argv + (["-R"] if direction == "download"
                                                                              else [])),
                             capture_output=True, text=True, timeout=30).stdout
    finally:
        server.kill()
        server.wait()
    rate = json.loads(out)["end"]["sum_received"]["bits_per_second"]
    print(f"{direction} through the tunnel with a {CEILING_MBIT}mbit ceiling: {rate / 1e6:.1f} Mbit/s")
    # TCP's payload over the tunnel's 1420-byte packets (MSS clamped): ~0.96 of what HTB counts.
    assert 0.75 * CEILING_MBIT * 1e6 < rate < 1.03 * CEILING_MBIT * 1e6, f"{direction}: {rate / 1e6:.1f} Mbit/s"
    if direction == "upload":  # shaped where the queue builds: the edge's HTB class on its tunnel
        from pnsbox.lab.edges import edge_interface
        from pnsbox.observe.tc import parse_classes

        shown = subprocess.run(topology.exec_argv(lab["name"], "edge-dispar", ["tc", "-s", "class", "show", "dev",
                                                                             edge_interface(lab["name"], "dispar")]),
                               capture_output=True, text=True).stdout
        edge_class = parse_classes(shown)[1]
        assert edge_class.ceil == CEILING_MBIT * 10**6 and edge_class.bytes > 5_000_000, shown


def test_the_hub_counts_the_tunnelled_opd_like_any_other(lab):
    probe(lab["name"], "dispar", [["tcp", "10.0.10.10", 80]])
    counters = ControlClient(lab["socket"]).request("GET", "/counters")[1]
    assert counters["opds"]["dispar"]["tx"]["packets"] > 0
    shown = subprocess.run([sys.executable, "-m", "pnsbox.cli", "show", "--lab", lab["name"], "--state-dir",
                            str(lab["state"])], cwd=ROOT, capture_output=True, text=True)
    edges = shown.stdout.split("\nedges on ")[1]
    assert next(line for line in edges.splitlines() if line.startswith("dispar")).split()[1] == "up"


def test_lab_down_stops_the_pnsboxd_lab_up_started(lab):  # the last test: it takes the lab away
    pid = int((hubd.run_dir(lab["name"]) / "pnsboxd.pid").read_text())
    assert hubd.is_pnsboxd(pid)
    subprocess.run([sys.executable, "-m", "pnsbox.cli", "lab", "down", "--name", lab["name"]], cwd=ROOT, check=True,
                   capture_output=True)
    assert not hubd.is_pnsboxd(pid)
    assert lab["name"] not in topology.list_labs() and not hubd.run_dir(lab["name"]).exists()
