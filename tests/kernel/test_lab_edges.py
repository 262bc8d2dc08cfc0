"""`pnsbox lab up` builds an edge box (behind a NAT) for a tunnelled OPD, `pnsbox lab edges`
enrols it through the real path (a token from pnsboxd, HTTPS to pnsbox-web in the hub) and
starts `pnsbox edge run` in it; then the example site's policies hold for the tunnelled OPD
as for the wired ones, with real clients in the lab nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from labkit import EXAMPLE, ROOT, new_lab_name, probe

from pnsbox.control.client import ControlClient
from pnsbox.lab import topology
from pnsbox.lab.edges import enrol_edges
from pnsbox.load import load_site
from pnsbox.store import site_files
from pnsbox.validate import build

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)


CEILING_MBIT = 30  # well below what wireguard-go carries here, so HTB is what limits a flow
IPERF_PORT = 5311


def tunnelled_site(tag: str) -> dict[str, str]:
    """The example province plus disdik, an OPD across town behind its edge."""
    files = site_files(EXAMPLE)
    main = files["pnsbox.yaml"].replace(
        "  management:\n",
        f"  wireguard: {{tunnel: 10.255.0.0/16, interface: wgl-{tag}}}\n"
        "  edges_url: https://198.51.100.2:8443/\n  management:\n", 1)
    files["pnsbox.yaml"] = main
    files["opds/disdik.yaml"] = ("disdik:\n  name: Dinas Pendidikan\n  subnet: 10.61.0.0/24\n"
                                 "  link: {wireguard: {keepalive: 5}}\n"
                                 f"  bandwidth: {{guaranteed: 10mbit, ceiling: {CEILING_MBIT}mbit}}\n")
    return files


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("labedges")
    name, tag = new_lab_name("e"), uuid.uuid4().hex[:6]
    files = tunnelled_site(tag)
    (tmp / "site" / "opds").mkdir(parents=True)
    for path, text in files.items():
        (tmp / "site" / path).write_text(text)
    config = build(load_site(str(tmp / "site")))
    sock, proc = str(tmp / "control.sock"), None
    log = open(tmp / "pnsboxd.log", "w")  # noqa: SIM115 -- pnsboxd writes it for the module's life
    try:
        topology.lab_up(config, name)
        hub = topology.netns_name(name, "hub")
        proc = subprocess.Popen([sys.executable, "-m", "pnsbox.daemon.main", "--state-dir", str(tmp / "state"),
                                 "--socket", sock, "--netns", hub, "--metrics-listen", "127.0.0.1:0"],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        status, reply = ControlClient(sock).request("POST", "/apply", {"files": files, "message": "site with an edge"})
        assert status == 200, reply
        done = enrol_edges(config, name, sock, str(tmp / "edges"))
        yield {"name": name, "socket": sock, "done": done, "state": tmp / "state", "tmp": tmp}
    finally:
        topology.lab_down(name)
        if proc:
            proc.kill()
            proc.wait()
        log.close()


def test_the_lab_has_an_edge_behind_a_nat_for_the_tunnelled_opd(lab):
    nodes = topology.list_labs()[lab["name"]]
    assert {"disdik", "edge-disdik", "nat-disdik"} <= set(nodes)
    assert "edge-dinkes" not in nodes  # wired OPDs keep their wire
    assert any("edge-disdik: enrolled as the edge of disdik" in line for line in lab["done"]), lab["done"]


def test_the_tunnelled_opd_reaches_what_the_policies_allow_and_nothing_else(lab):
    deadline = time.monotonic() + 20
    while True:  # the edge's first round may still be bringing the tunnel up
        seen = probe(lab["name"], "disdik", [["tcp", "10.0.10.10", 443], ["tcp", "203.0.113.10", 80],
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


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_the_tunnelled_opds_bandwidth_plan_holds_both_ways(lab, direction):
    server = subprocess.Popen(topology.exec_argv(lab["name"], "internet", ["iperf3", "-s", "-p", str(IPERF_PORT),
                                                                           "-1"]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        argv = ["iperf3", "-c", "203.0.113.10", "-p", str(IPERF_PORT), "-t", "4", "-J", "--connect-timeout", "3000"]
        out = subprocess.run(topology.exec_argv(lab["name"], "disdik", argv + (["-R"] if direction == "download"
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

        shown = subprocess.run(topology.exec_argv(lab["name"], "edge-disdik", ["tc", "-s", "class", "show", "dev",
                                                                             edge_interface(lab["name"], "disdik")]),
                               capture_output=True, text=True).stdout
        edge_class = parse_classes(shown)[1]
        assert edge_class.ceil == CEILING_MBIT * 10**6 and edge_class.bytes > 5_000_000, shown


def test_the_hub_counts_the_tunnelled_opd_like_any_other(lab):
    probe(lab["name"], "disdik", [["tcp", "10.0.10.10", 80]])
    counters = ControlClient(lab["socket"]).request("GET", "/counters")[1]
    assert counters["opds"]["disdik"]["tx"]["packets"] > 0
    shown = subprocess.run([sys.executable, "-m", "pnsbox.cli", "show", "--lab", lab["name"], "--state-dir",
                            str(lab["state"])], cwd=ROOT, capture_output=True, text=True)
    edges = shown.stdout.split("\nedges on ")[1]
    assert next(line for line in edges.splitlines() if line.startswith("disdik")).split()[1] == "up"
