"""What the running kernel can do, tried for real in a scratch network namespace.

Each check answers None when the kernel can, or the reason it cannot (naming the missing
feature), so a full-kernel test skips with that reason on a kernel without it (this
development kernel) and runs under `make test-vm` (Debian's own kernel in qemu).
"""

from __future__ import annotations

import functools
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pnsbox.observe.facts import probe_table


@contextmanager
def scratch_namespace() -> Iterator[str]:
    name = f"pnsbox-fk-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _ok(ns: str, *argv: str, stdin: str | None = None) -> bool:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], input=stdin, capture_output=True,
                          text=True).returncode == 0


@functools.cache
def missing(feature: str) -> str | None:
    """None if the kernel has FEATURE, else why not (the skip reason)."""
    with scratch_namespace() as ns:
        if feature == "vlan":
            _ok(ns, "ip", "link", "add", "t0", "type", "veth", "peer", "name", "t1")
            if not _ok(ns, "ip", "link", "add", "link", "t0", "name", "t0.5", "type", "vlan", "id", "5"):
                return "this kernel has no 802.1Q VLAN devices (8021q)"
        elif feature == "wireguard":
            if not _ok(ns, "ip", "link", "add", "wg0", "type", "wireguard"):
                return "this kernel has no WireGuard (wireguard module)"
        elif feature in ("fq_codel", "cake", "sfq"):
            _ok(ns, "ip", "link", "add", "q0", "type", "ifb")
            if not _ok(ns, "tc", "qdisc", "add", "dev", "q0", "root", feature):
                return f"this kernel has no {feature} qdisc (sch_{feature})"
        elif feature == "nft_queue":
            if not _ok(ns, "nft", "-c", "-f", "-", stdin=probe_table("queue flags bypass to 0")):
                return "this kernel's nftables has no `queue` statement (nft_queue)"
        else:
            raise ValueError(feature)
    return None


def require(*features: str) -> None:
    """Skip the calling test, naming every feature this kernel lacks."""
    if os.geteuid() != 0:
        pytest.skip("full-kernel tests need root (network namespaces)")
    reasons = [reason for reason in map(missing, features) if reason]
    if reasons:
        pytest.skip("; ".join(reasons) + " (make test-vm runs this on Debian's kernel)")
