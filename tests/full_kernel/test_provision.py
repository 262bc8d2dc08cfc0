"""deploy/provision.sh, the script the Vagrantfile runs on the hub, run for real in the guest.

It installs pnsbox system-wide (`make install` into /opt/pnsbox, commands in /usr/local/bin,
the site in /etc/pnsbox), so it runs only in the throwaway guest of `make test-vm`, inside a
network namespace holding five NICs with known MACs standing in for the hub's VM interfaces.
It must name them as the example site does, apply the site through pnsboxd (802.1Q for
diskominfo's VLAN included) and bring up the web UI.
"""

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
from kernelcaps import require, scratch_namespace
from labkit import ROOT

NICS = {"wan0": "52:54:00:70:00:01", "dc0": "52:54:00:70:00:02", "opd-dinkes": "52:54:00:70:00:03",
        "opd-bappeda": "52:54:00:70:00:04", "lan0": "52:54:00:70:00:05"}


def in_ns(ns: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True)


def _stop_started_processes() -> None:
    for pid_file in Path("/run/pnsbox").glob("*.pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def test_the_vagrant_hub_provisioning_installs_applies_the_example_and_serves_the_web_ui():
    if os.environ.get("PNSBOX_VM") != "1":
        pytest.skip("installs pnsbox system-wide: runs only in the throwaway guest of make test-vm")
    require("vlan")  # the example's diskominfo is VLAN 130 on lan0
    with scratch_namespace() as ns:
        for index, mac in enumerate(NICS.values()):
            subprocess.run(["ip", "-n", ns, "link", "add", f"eth{index}", "address", mac, "type", "veth",
                            "peer", "name", f"far{index}"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", f"far{index}", "up"], check=True)
        env = {**os.environ, "PNSBOX_LINKS": " ".join(f"{n}={m}" for n, m in NICS.items()),
               "PNSBOX_WEB_LISTEN": "127.0.0.1:443"}
        try:
            # Its steps go to the guest's console as they happen (an emulated install is slow).
            with open("/dev/console", "w") as console:
                proc = subprocess.run(["ip", "netns", "exec", ns, "sh", str(ROOT / "deploy" / "provision.sh"), "hub"],
                                      env=env, stdout=console, stderr=subprocess.STDOUT, timeout=1200)
            assert proc.returncode == 0, "deploy/provision.sh hub failed: its output is above, on the console"
            links = in_ns(ns, "ip", "-o", "link", "show").stdout
            for name, mac in NICS.items():
                assert any(f": {name}:" in line and mac in line for line in links.splitlines()), links
            assert "vlan protocol 802.1Q id 130" in in_ns(ns, "ip", "-d", "link", "show", "dev", "lan0.130").stdout
            table = in_ns(ns, "nft", "list", "table", "inet", "pnsbox")
            assert table.returncode == 0 and "simpeg-for-all" in table.stdout, table.stderr
            login = in_ns(ns, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1/login")
            assert login.stdout == "200", login
            assert Path("/opt/pnsbox/venv/bin/pnsboxd").exists()
            assert "pnsboxd" in Path("/etc/systemd/system/pnsboxd.service").read_text()
        finally:
            _stop_started_processes()
