"""Probe the kernel's capabilities: leaf qdiscs, nft's `queue` statement, 802.1Q VLAN devices,
WireGuard (the kernel module, else wireguard-go), the FTP conntrack helper.

Capabilities belong to the kernel, not to a namespace, so the probe runs in a private network
namespace of its own (`unshare --net`) that vanishes with it: the box being planned for never
sees a scratch device, and planning changes nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ..apply.netns import KernelError
from ..facts import LEAF_QDISCS, Facts


def probe_table(statement: str) -> str:
    """A scratch table with STATEMENT as a forward rule, one item a line: nft 1.0.6 refuses a
    rule and its closing braces on one line, which would read as a kernel without the statement."""
    return ("table inet probe {\n  chain c {\n    type filter hook forward priority mangle;\n"
            f"    {statement}\n  }}\n}}\n")


def helper_table(kind: str) -> str:
    """A scratch table with a ct helper object of KIND and the rule that assigns it, as the
    ruleset has them: the kernel refuses the object when it has no such helper (nor a module
    to load for it), and a ruleset holding one would be refused whole."""
    return (f'table inet probe {{\n  ct helper h {{\n    type "{kind}" protocol tcp\n  }}\n'
            "  chain c {\n    type filter hook forward priority mangle;\n"
            '    tcp dport 21 ct helper set "h"\n  }\n}\n')


_NFT_QUEUE = probe_table("queue flags bypass to 0")
_FTP_HELPER = helper_table("ftp")
# The nft checks (a process each, most of the probe's time) run beside the link and qdisc ones.
_SCRIPT = f"""
echo '{_NFT_QUEUE}' | nft -c -f - 2>/dev/null && echo nft_queue &
echo '{_FTP_HELPER}' | nft -c -f - 2>/dev/null && echo ftp_helper &
ip link add name probe0 type ifb || exit 9
for kind in {' '.join(LEAF_QDISCS)}; do
  tc qdisc add dev probe0 root $kind 2>/dev/null && echo qdisc $kind
  tc qdisc del dev probe0 root 2>/dev/null
done
ip link add name probe1 type veth peer name probe2 &&
  ip link add link probe1 name probe1.9 type vlan id 9 2>/dev/null && echo vlan
ip link add name probe3 type wireguard 2>/dev/null && echo wireguard
wait
exit 0
"""


def probe() -> Facts:
    proc = subprocess.run(["unshare", "--net", "sh", "-c", _SCRIPT], capture_output=True, text=True)
    if proc.returncode != 0:
        raise KernelError(f"cannot probe the kernel's capabilities: {proc.stderr.strip() or 'unshare failed'}")
    found = proc.stdout.split("\n")
    qdiscs = tuple(kind for kind in LEAF_QDISCS if f"qdisc {kind}" in found)
    # Without the module, Debian's wireguard-go runs the same interface in userspace.
    wireguard = "kernel" if "wireguard" in found else ("wireguard-go" if shutil.which("wireguard-go") else None)
    return Facts(leaf_qdiscs=qdiscs, nft_queue="nft_queue" in found, vlan="vlan" in found, wireguard=wireguard,
                 ftp_helper="ftp_helper" in found)


def kernel_release() -> str:
    return os.uname().release
