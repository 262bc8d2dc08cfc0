"""Each OPD's top categories proven in a lab: a real pnsbox-classifier names the flows, a real
pnsboxd samples every second; OPD a downloads a file from a "video site" (HTTP Host
www.youtube.com), OPD b the same size from an e-government one (www.pajak.go.id), with a ruleset
reload between two downloads; the monthly report names, per OPD, the right category with the
bytes the kernel counted for that OPD (within 5%), and nothing of the other's."""

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from labkit import ROOT, new_lab_name
from test_monthly_lab import Daemon, _free_port, cli

from pnsbox.lab import topology
from pnsbox.load import load_site
from pnsbox.observe import classifier, nfnl
from pnsbox.validate import build

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)
if shutil.which("curl") is None:
    pytest.skip("the categories lab needs curl", allow_module_level=True)

SERVER = "198.51.100.1"  # the uplink's gateway: the lab's internet node
SIZE = 6_000_000  # bytes of the file each OPD downloads, per download
SITE = """\
site:
  name: categories
  timezone: Asia/Jakarta
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
  classifier: {queues: 1, inspect_packets: 12}
opds:
  a:
    name: Dinas A
    subnet: 10.21.0.0/24
    link: {interface: opd-a}
    bandwidth: {guaranteed: 100mbit, ceiling: 900mbit}
  b:
    name: NAME_B
    subnet: 10.22.0.0/24
    link: {interface: opd-b}
policies:
  - {name: internet, from: opds, to: internet, action: accept}
"""


def write_site(directory, name_b: str):
    directory.mkdir(exist_ok=True)
    (directory / "pnsbox.yaml").write_text(SITE.replace("NAME_B", name_b))
    return directory


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("opdcats")
    name = new_lab_name("k")
    site = write_site(tmp / "site", "Badan B")
    state, sock = str(tmp / "state"), str(tmp / "control.sock")
    (tmp / "www").mkdir()
    (tmp / "www" / "file.bin").write_bytes(os.urandom(SIZE))
    procs, daemon = [], None
    log = open(tmp / "lab.log", "w")  # noqa: SIM115 -- written by the daemons for the module's life
    try:
        topology.lab_up(build(load_site(site)), name)
        hub = topology.netns_name(name, "hub")
        procs.append(subprocess.Popen(topology.exec_argv(name, "internet", [
            sys.executable, "-m", "http.server", "8080", "--bind", SERVER, "--directory", str(tmp / "www")]),
            stdout=log, stderr=subprocess.STDOUT))
        daemon = Daemon(state, sock, hub, _free_port(), log)
        daemon.start()
        cli("apply", "-c", str(site), "--socket", sock)
        procs.append(subprocess.Popen([str(ROOT / ".venv" / "bin" / "pnsbox-classifier"), "--netns", hub,
                                       "--metrics-listen", "off"], stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 10
        while not classifier.bound_queues(hub):
            assert procs[-1].poll() is None and time.monotonic() < deadline, "pnsbox-classifier did not bind"
            time.sleep(0.1)
        time.sleep(0.5)  # the web server binds
        yield {"name": name, "hub": hub, "state": state, "socket": sock, "tmp": tmp}
    finally:
        if daemon and daemon.proc and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()
        for proc in procs:
            proc.kill()
            proc.wait()
        log.close()
        topology.lab_down(name)


def download(lab, node: str, host: str) -> int:
    got = subprocess.run(topology.exec_argv(lab["name"], node, [
        "curl", "-sS", "-m", "20", "-o", "/dev/null", "-w", "%{size_download}", "-H", f"Host: {host}",
        f"http://{SERVER}:8080/file.bin"]), capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    return int(got.stdout)


def report(lab) -> dict:
    month = datetime.now(UTC) + timedelta(hours=7)
    return json.loads(cli("report", "--json", "--state-dir", lab["state"], "--month", f"{month:%Y-%m}"))


def test_each_opds_top_categories_have_the_bytes_its_classified_flows_moved_across_a_reload(lab):
    time.sleep(2)  # a few idle samples first
    got = [download(lab, "a", "www.youtube.com"), download(lab, "b", "www.pajak.go.id")]
    # another table changes (the nf_tables generation moves): the traffic in our sets is no drift
    subprocess.run(["ip", "netns", "exec", lab["hub"], "nft", "add table inet other; delete table inet other"],
                   check=True)
    time.sleep(3)  # pnsboxd checks for drift every 2 s
    assert "drift-repair" not in (Path(lab["state"]) / "audit.log").read_text()
    # a reload (b's display name is in the table) empties the kernel's sets; pnsboxd samples
    # before and after it
    digest = nfnl.inet_table_comments(lab["hub"])["pnsbox"]
    cli("apply", "-c", str(write_site(lab["tmp"] / "changed", "Badan Baru")), "--socket", lab["socket"],
        "-m", "b's new name")
    assert nfnl.inet_table_comments(lab["hub"])["pnsbox"] != digest
    got += [download(lab, "a", "www.youtube.com"), download(lab, "b", "www.pajak.go.id")]
    assert got == [SIZE] * 4
    time.sleep(2.5)  # the last samples are written
    found = report(lab)["opds"]
    for key, category in (("a", "video"), ("b", "e-government")):
        opd = found[key]
        moved = opd["down"]["bytes"] + opd["up"]["bytes"]  # the OPD's own counters: every byte, both ways
        top = {name: count for name, count, _ in opd["categories"]}
        assert list(top) == [category], (key, opd["categories"])  # the right one, and only it
        # two downloads of SIZE, with their TCP/IP headers and ACKs, and the HTTP exchange
        assert 2 * SIZE <= top[category] <= 2 * SIZE * 1.08, (key, top[category])
        assert abs(top[category] - moved) <= 0.05 * moved, (key, top[category], moved)
        assert opd["categories"][0][2] > 0.95  # its share of what the OPD moved
    table = cli("report", "--state-dir", lab["state"])
    assert "categories: video" in table and "categories: e-government" in table
