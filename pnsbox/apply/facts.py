"""Probe the kernel's capabilities in the target namespace (on a scratch IFB device)."""

from __future__ import annotations

import functools
import os

from ..facts import LEAF_QDISCS, Facts
from .netns import run

PROBE_DEVICE = "pnsbox-probe"


@functools.lru_cache(maxsize=64)  # once per namespace and process: the kernel does not change under us
def probe(netns: str | None) -> Facts:
    run(["ip", "link", "add", "name", PROBE_DEVICE, "type", "ifb"], netns)
    try:
        available = tuple(kind for kind in LEAF_QDISCS if _qdisc_works(kind, netns))
    finally:
        run(["ip", "link", "del", "dev", PROBE_DEVICE], netns, check=False)
    return Facts(leaf_qdiscs=available, nft_queue=_nft_queue_works(netns))


def _nft_queue_works(netns: str | None) -> bool:
    """nft -c of a scratch table with a `queue` rule: checked by the kernel, never committed."""
    probe_table = ("table inet pnsbox_probe { chain c { type filter hook forward priority mangle; "
                   "queue flags bypass to 0 } }\n")
    return run(["nft", "-c", "-f", "-"], netns, probe_table, check=False).returncode == 0


def _qdisc_works(kind: str, netns: str | None) -> bool:
    added = run(["tc", "qdisc", "add", "dev", PROBE_DEVICE, "root", kind], netns, check=False)
    run(["tc", "qdisc", "del", "dev", PROBE_DEVICE, "root"], netns, check=False)
    return added.returncode == 0


def kernel_release() -> str:
    return os.uname().release
