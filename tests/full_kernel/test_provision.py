"""deploy/provision.sh, the script the Vagrantfile runs on each machine, run for real in the guest.

It installs pnsbox system-wide (`make install` into /opt/pnsbox, commands in /usr/local/bin,
the site in /etc/pnsbox), so it runs only in the throwaway guest of `make test-vm`. The hub runs
in a network namespace holding five NICs with known MACs standing in for the hub's VM
interfaces: it must name them as the site does, apply the Vagrant site (the example plus two
tunnelled OPDs) through pnsboxd, bring up the web UI and the edge listener, and leave an
enrollment token for an edge.
Then the edge role enrols an edge box (its own namespace on the hub's uplink) with that token,
and a host in the edge's office fetches from the data-center machine (the datacenter role) and
the opd role, through the tunnel and the hub's policies.
"""

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from kernelcaps import require, scratch_namespace
from labkit import ROOT

NICS = {"wan0": "52:54:00:70:00:01", "dc0": "52:54:00:70:00:02", "opd-dinkes": "52:54:00:70:00:03",
        "opd-bappeda": "52:54:00:70:00:04", "lan0": "52:54:00:70:00:05"}
DC_MAC = "52:54:00:70:02:01"
SITE = ROOT / "deploy" / "vagrant" / "site"
PROVISION = str(ROOT / "deploy" / "provision.sh")


def in_ns(ns: str, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout)


def provision(ns: str, role: str, env: dict[str, str]) -> None:
    """Run provision.sh ROLE in NS; its steps go to the guest's console as they happen (an
    emulated install is slow), and on failure the logs of what it started follow them."""
    machine_env = {k: v for k, v in os.environ.items() if k not in ("PNSBOX_STATE_DIR", "PNSBOX_WEB_STATE_DIR")}
    with open("/dev/console", "w") as console:
        proc = subprocess.run(["ip", "netns", "exec", ns, "sh", PROVISION, role], env={**machine_env, **env},
                              stdout=console, stderr=subprocess.STDOUT, timeout=1800)
        if proc.returncode != 0:
            for log in sorted(Path("/run/pnsbox").glob("*.log")):
                console.write(f"---- {log} ----\n{log.read_text(errors='replace')[-6000:]}\n")
    assert proc.returncode == 0, f"deploy/provision.sh {role} failed: its output is above, on the console"


def _stop_started_processes() -> None:
    for pid_file in Path("/run/pnsbox").glob("*.pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def veth(ns: str, name: str, mac: str | None, peer_ns: str, peer: str) -> None:
    address = ["address", mac] if mac else []
    subprocess.run(["ip", "-n", ns, "link", "add", name, *address, "type", "veth", "peer", "name", peer,
                    "netns", peer_ns], check=True)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    if os.environ.get("PNSBOX_VM") != "1":
        pytest.skip("installs pnsbox system-wide: runs only in the throwaway guest of make test-vm")
    require("vlan", "wireguard")  # the example's diskominfo is VLAN 130 on lan0; the edges' tunnels
    share = tmp_path_factory.mktemp("share")
    with scratch_namespace() as ns, scratch_namespace() as far:
        # A booted machine's loopback is up; a new namespace's is not. Without it nothing on the
        # hub reaches its own web UI at 127.0.0.1 (why the hub's provisioning "never answered").
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        for index, mac in enumerate(NICS.values()):
            veth(ns, f"eth{index}", mac, far, f"far{index}")
            subprocess.run(["ip", "-n", far, "link", "set", f"far{index}", "up"], check=True)
        env = {"PNSBOX_LINKS": " ".join(f"{n}={m}" for n, m in NICS.items()), "PNSBOX_SITE": str(SITE),
               "PNSBOX_WEB_LISTEN": "0.0.0.0:443", "PNSBOX_SHARE": str(share), "PNSBOX_EDGE_OPDS": "dispar"}
        try:
            provision(ns, "hub", env)
            yield {"ns": ns, "far": far, "share": share}
        finally:
            _stop_started_processes()


def test_the_vagrant_hub_provisioning_installs_applies_the_site_and_serves_the_web_ui(hub):
    ns = hub["ns"]
    links = in_ns(ns, "ip", "-o", "link", "show").stdout
    for name, mac in NICS.items():
        assert any(re.search(rf": {re.escape(name)}[@:]", line) and mac in line for line in links.splitlines()), links
    assert "vlan protocol 802.1Q id 130" in in_ns(ns, "ip", "-d", "link", "show", "dev", "lan0.130").stdout
    table = in_ns(ns, "nft", "list", "table", "inet", "pnsbox")
    assert table.returncode == 0 and "simpeg-for-all" in table.stdout, table.stderr
    for url in ("https://127.0.0.1/login", "https://198.51.100.2/login"):  # on loopback and on the uplink
        login = in_ns(ns, "curl", "-sk", "-m", "60", "-o", "/dev/null", "-w", "%{http_code}", url)
        assert login.stdout == "200", (url, login)
    # The edge listener (site.edges_url) answers too, and serves no login page.
    listener = in_ns(ns, "curl", "-sk", "-m", "60", "-o", "/dev/null", "-w", "%{http_code}",
                     "https://198.51.100.2:8444/login")
    assert listener.stdout == "404", listener
    assert Path("/opt/pnsbox/venv/bin/pnsboxd").exists()
    assert "pnsboxd" in Path("/etc/systemd/system/pnsboxd.service").read_text()
    token = (hub["share"] / "edge-dispar.token").read_text().strip()
    assert len(token) > 20 and (hub["share"] / "hub.fingerprint").read_text().strip()


def test_an_edge_provisioned_with_the_hubs_token_carries_its_office_to_the_data_center(hub):
    far = hub["far"]
    with scratch_namespace() as edge, scratch_namespace() as office, scratch_namespace() as dc:
        # The edge's WAN is the far end of the hub's wan0; the data center's NIC, of its dc0.
        subprocess.run(["ip", "-n", far, "link", "set", "far0", "netns", edge], check=True)
        subprocess.run(["ip", "-n", far, "link", "set", "far1", "address", DC_MAC], check=True)
        subprocess.run(["ip", "-n", far, "link", "set", "far1", "netns", dc], check=True)
        veth(edge, "lan0", None, office, "eth0")
        for netns, device, address in ((edge, "far0", "198.51.100.21/24"), (edge, "lan0", "10.61.0.1/24"),
                                       (office, "eth0", "10.61.0.2/24"), (dc, "far1", "10.0.10.10/24")):
            # (Vagrant gives the edge's and the data center's NICs these addresses itself.)
            subprocess.run(["ip", "-n", netns, "link", "set", device, "up"], check=True)
            subprocess.run(["ip", "-n", netns, "addr", "add", address, "dev", device], check=True)
        for netns in (edge, office, dc):
            subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        provision(dc, "datacenter", {"PNSBOX_LINKS": f"dc0={DC_MAC}", "PNSBOX_ROUTES": "10.0.0.0/8=10.0.10.1",
                                     "PNSBOX_SERVE": "tcp/80"})
        provision(office, "opd", {"PNSBOX_ROUTES": "default=10.61.0.1"})
        try:
            provision(edge, "edge", {"PNSBOX_OPD": "dispar", "PNSBOX_HUB_URL": "https://198.51.100.2:8444/",
                                     "PNSBOX_SHARE": str(hub["share"])})
            handshakes = in_ns(edge, "wg", "show", "all", "latest-handshakes").stdout
            assert handshakes.split() and int(handshakes.split()[-1]) > 0, handshakes
            # The office host reaches simpeg (policy simpeg-for-all) with its own address: through
            # the edge's tunnel and the hub, not masqueraded on the way.
            fetched = in_ns(office, "curl", "-s", "-m", "60", "http://10.0.10.10/")
            assert fetched.stdout.startswith("pnsbox-lab ") and fetched.stdout.strip().endswith(
                "tcp/80 from 10.61.0.2"), fetched
            listing = in_ns(hub["ns"], "/usr/local/bin/pnsbox", "edge", "list").stdout
            assert "dispar" in listing, listing
        finally:
            _stop_started_processes()
