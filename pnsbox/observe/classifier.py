"""The classifier seen from the kernel: is a process bound to each queue, what did the queue
drop, and how many packets did the queue rule offer (bypassed ones included). Read by pnsboxd
for its status and metrics, so the web UI can say "classifier down"."""

from __future__ import annotations

from ..apply.netns import run
from ..render.apps import CLASSIFY_CHAIN


def parse_queues(text: str) -> dict[int, dict[str, int]]:
    """/proc/net/netfilter/nfnetlink_queue, one line per queue a process has bound (pure):
    queue number -> portid (the process's socket), backlog (packets awaiting a verdict),
    dropped (the queue was full; 0 with fail-open), user_dropped (the socket buffer was full),
    id_sequence (the last packet id the kernel gave out)."""
    queues = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0].isdigit():
            queues[int(fields[0])] = {"portid": int(fields[1]), "backlog": int(fields[2]), "dropped": int(fields[5]),
                                      "user_dropped": int(fields[6]), "id_sequence": int(fields[7])}
    return queues


def bound_queues(netns: str | None) -> dict[int, dict[str, int]]:
    proc = run(["cat", "/proc/net/netfilter/nfnetlink_queue"], netns, check=False)
    return parse_queues(proc.stdout) if proc.returncode == 0 else {}


def offered_packets(netns: str | None) -> int | None:
    """Packets the iptables queue rule matched (queued or bypassed); None without the chain."""
    proc = run(["iptables-nft", "-t", "mangle", "-L", CLASSIFY_CHAIN, "-v", "-x", "-n"], netns, check=False)
    if proc.returncode != 0:
        return None
    rows = [line.split() for line in proc.stdout.splitlines()[2:] if "NFQUEUE" in line]
    return sum(int(row[0]) for row in rows)
