"""The full kernel itself: the modules pnsbox relies on load (or are built in), namespaces work,
and pnsbox's WireGuard layer picks the kernel's WireGuard over wireguard-go. The tier then runs
tests/kernel/test_wireguard.py (the tunnel tests written for wireguard-go) on that backend."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kernelcaps import require, scratch_namespace
from labkit import ROOT

from pnsbox.apply import wg

MODULES = ("8021q", "wireguard", "sch_fq_codel", "sch_cake", "sch_sfq", "sch_htb", "ifb", "act_mirred",
           "cls_u32", "nft_queue", "nfnetlink_queue", "nf_tables", "nft_ct", "nft_masq", "veth", "bridge")


def _modules_dir() -> Path:
    return Path("/lib/modules") / os.uname().release


def test_the_modules_pnsbox_relies_on_load(tmp_path):
    if not (_modules_dir() / "modules.dep").exists():
        pytest.skip(f"this kernel ({os.uname().release}) has no loadable modules here; "
                    "make test-vm runs this on Debian's kernel")
    failed = {m: p.stderr.strip() for m in MODULES
              if (p := subprocess.run(["modprobe", m], capture_output=True, text=True)).returncode}
    assert not failed, failed
    builtin = (_modules_dir() / "modules.builtin").read_text()
    missing = [m for m in MODULES if not Path("/sys/module", m).exists() and f"/{m}.ko\n" not in builtin]
    assert not missing, f"modprobe succeeded but the kernel has neither loaded nor built in: {missing}"


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


def test_pnsboxs_wireguard_layer_picks_the_kernel_backend():
    require("wireguard")
    with scratch_namespace() as ns:
        assert wg.backend(ns) == wg.KERNEL
