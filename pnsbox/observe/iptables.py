"""The classifier's queue chain as iptables-nft shows it (kernels without nft `queue`)."""

from __future__ import annotations

from ..apply.netns import run
from ..render.apps import CLASSIFY_CHAIN

JUMP = f"-A FORWARD -j {CLASSIFY_CHAIN}"


def queue_rules(netns: str | None) -> tuple[tuple[str, ...] | None, bool]:
    """(the rules in pnsbox's chain, None when there is no chain; whether FORWARD jumps to it)."""
    lines = run(["iptables-nft", "-t", "mangle", "-S"], netns).stdout.splitlines()
    if f"-N {CLASSIFY_CHAIN}" not in lines:
        return None, JUMP in lines
    return tuple(line for line in lines if line.startswith(f"-A {CLASSIFY_CHAIN} ")), JUMP in lines
