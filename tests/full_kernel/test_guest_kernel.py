"""The full kernel itself: the modules pnsbox relies on load, namespaces work, WireGuard links
can be made. The kernel WireGuard edge tunnels come with the edges (issue 12): the test for
them is named below and skips, saying so, until they exist."""

import os
import sys
import subprocess
import uuid
from pathlib import Path

import pytest
from kernelcaps import require, scratch_namespace
from labkit import ROOT

MODULES = ("8021q", "wireguard", "sch_fq_codel", "sch_cake", "sch_sfq", "sch_htb", "ifb", "act_mirred",
           "cls_u32", "nft_queue", "nfnetlink_queue", "nf_tables", "nft_ct", "nft_masq", "veth", "bridge",
           "dummy")


def _modules_dir() -> Path:
    return Path("/lib/modules") / os.uname().release


def test_the_modules_pnsbox_relies_on_load(tmp_path):
    if not (_modules_dir() / "modules.dep").exists():
        pytest.skip(f"this kernel ({os.uname().release}) has no loadable modules here; "
                    "make test-vm runs this on Debian's kernel")
    failed = {m: p.stderr.strip() for m in MODULES
              if (p := subprocess.run(["modprobe", m], capture_output=True, text=True)).returncode}
    assert not failed, failed
    missing = [m for m in MODULES if not Path("/sys/module", m).exists()]
    assert not missing, f"loaded but not in /sys/module: {missing}"


def test_two_namespaces_talk_over_a_veth_pair():
    require()
    with scratch_namespace() as left, scratch_namespace() as right:
        run = subprocess.run
        run(["ip", "-n", left, "link", "add", "name", "l0", "type", "veth", "peer", "name", "r0",
             "netns", right], check=True)
        for ns, dev, address in ((left, "l0", "192.0.2.1/24"), (right, "r0", "192.0.2.2/24")):
            run(["ip", "-n", ns, "addr", "add", address, "dev", dev], check=True)
            run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
        ping = run(["ip", "netns", "exec", left, sys.executable, "-m", "pnsbox.lab.ping", "192.0.2.2"],
                   capture_output=True, text=True, cwd=ROOT)
        assert ping.returncode == 0, ping.stdout + ping.stderr


def test_a_kernel_wireguard_link_is_made_and_configured():
    require("wireguard")
    with scratch_namespace() as ns:
        name = f"wg{uuid.uuid4().hex[:4]}"
        subprocess.run(["ip", "-n", ns, "link", "add", name, "type", "wireguard"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", "192.0.2.1/30", "dev", name], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", name, "up"], check=True)
        shown = subprocess.run(["ip", "-n", ns, "-d", "link", "show", name], capture_output=True,
                               text=True, check=True).stdout
        assert "wireguard" in shown and "UP" in shown, shown


def test_edge_tunnels_run_over_kernel_wireguard():
    """HOOK for the edges (issue 12): once pnsbox builds edge tunnels, this test runs the same
    edge tests as wireguard-go on the kernel's WireGuard (the module loads: see above)."""
    require("wireguard")
    pytest.skip("edge tunnels are not built yet (issue 12); nothing of pnsbox uses WireGuard to test")
