"""The classifier seen from the kernel: is a process bound to each queue, what did the queue
drop, and how many packets did the queue rule offer (bypassed ones included). Read by pnsboxd
for its status and metrics, so the web UI can say "classifier down"."""

from __future__ import annotations

from dataclasses import dataclass

from ..apply.netns import run
from ..render.apps import CLASSIFY_CHAIN


@dataclass(frozen=True)
class QueueState:
    number: int
    waiting: int  # packets queued, not yet given a verdict
    dropped: int  # the queue was full (with fail-open the kernel accepts them instead)
    user_dropped: int  # the netlink socket's buffer overflowed


def parse_queues(text: str) -> dict[int, QueueState]:
    """/proc/net/netfilter/nfnetlink_queue: one line per queue a process has bound (pure)."""
    queues = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[0].isdigit():
            queues[int(fields[0])] = QueueState(int(fields[0]), int(fields[2]), int(fields[5]), int(fields[6]))
    return queues


def bound_queues(netns: str | None) -> dict[int, QueueState]:
    proc = run(["cat", "/proc/net/netfilter/nfnetlink_queue"], netns, check=False)
    return parse_queues(proc.stdout) if proc.returncode == 0 else {}


def offered_packets(netns: str | None) -> int | None:
    """Packets the iptables queue rule matched (queued or bypassed); None without the chain."""
    proc = run(["iptables-nft", "-t", "mangle", "-L", CLASSIFY_CHAIN, "-v", "-x", "-n"], netns, check=False)
    if proc.returncode != 0:
        return None
    rows = [line.split() for line in proc.stdout.splitlines()[2:] if "NFQUEUE" in line]
    return sum(int(row[0]) for row in rows)
