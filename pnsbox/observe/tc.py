"""Read the HTB trees and redirects back from the kernel.

iproute2 6.1 prints HTB classes as text only (no JSON), so they are parsed
here; rates print rounded (33333Kbit), so comparisons allow 1%.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..apply.netns import run
from ..render.tc import IFB

_CLASS = re.compile(r"^class htb 1:([0-9a-f]+) (?:root|parent 1:([0-9a-f]+))(?: leaf ([0-9a-f]+):)?"
                    r"(?: prio (\d+))? rate (\S+) ceil (\S+)")
_SENT = re.compile(r"Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)")
_RATE_NOW = re.compile(r"^\s*rate (\S+) (\d+)pps")
_XSTATS = re.compile(r"lended: (\d+) borrowed: (\d+)")
_QDISC = re.compile(r"^qdisc (\S+) ([0-9a-f]+): dev (\S+) (root|parent (\S+))")
_LEAF = re.compile(r"^qdisc (\S+) [0-9a-f]+: (?:dev \S+ )?parent 1:([0-9a-f]+)")  # `show dev X` omits dev
_BACKLOG = re.compile(r"backlog (\d+)b (\d+)p")
_UNITS = {"bit": 1, "Kbit": 10**3, "Mbit": 10**6, "Gbit": 10**9, "Tbit": 10**12}


def parse_rate(text: str) -> int:
    match = re.fullmatch(r"([\d.]+)([KMGT]?bit)", text)
    if not match:
        raise ValueError(f"unreadable tc rate {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


@dataclass
class SeenClass:
    minor: int
    parent: int | None
    rate: int
    ceil: int
    prio: int
    leaf: int | None
    bytes: int = 0
    packets: int = 0
    drops: int = 0
    borrowed: int = 0
    rate_now: int = 0


@dataclass
class LeafStats:
    """A leaf queue's own counters (fq_codel, cake, sfq or pfifo alike), from `tc -s qdisc`."""

    kind: str
    bytes: int = 0
    packets: int = 0
    drops: int = 0
    backlog: int = 0  # bytes waiting in the queue


@dataclass
class SeenTree:
    root: bool = False  # an HTB root qdisc with handle 1:
    classes: dict[int, SeenClass] = field(default_factory=dict)
    leaf_kinds: dict[int, str] = field(default_factory=dict)  # class minor -> its leaf qdisc kind
    leaf_stats: dict[int, LeafStats] = field(default_factory=dict)  # class minor -> its leaf's counters


def parse_leaf_stats(text: str) -> dict[int, LeafStats]:
    """`tc -s qdisc show dev IFB`: the counters of each qdisc hanging off an HTB class 1:X."""
    leaves: dict[int, LeafStats] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("qdisc "):
            current = None
            if match := _LEAF.match(line):
                current = leaves[int(match.group(2), 16)] = LeafStats(match.group(1))
        elif current and (match := _SENT.search(line)):
            current.bytes, current.packets, current.drops = map(int, match.groups()[:3])
        elif current and (match := _BACKLOG.search(line)):
            current.backlog = int(match.group(1))
    return leaves


def parse_classes(text: str) -> dict[int, SeenClass]:
    classes: dict[int, SeenClass] = {}
    current = None
    for line in text.splitlines():
        if match := _CLASS.match(line):
            minor, parent, leaf, prio, rate, ceil = match.groups()
            current = SeenClass(int(minor, 16), int(parent, 16) if parent else None, parse_rate(rate),
                                parse_rate(ceil), int(prio or 0), int(leaf, 16) if leaf else None)
            classes[current.minor] = current
        elif current and (match := _SENT.search(line)):
            current.bytes, current.packets, current.drops = map(int, match.groups()[:3])
        elif current and (match := _RATE_NOW.match(line)):
            current.rate_now = parse_rate(match.group(1))
        elif current and (match := _XSTATS.search(line)):
            current.borrowed = int(match.group(2))
    return classes


def observe(netns: str | None) -> tuple[dict[str, SeenTree], set[str]]:
    """The trees on pnsbox's IFBs, and the devices that have a clsact qdisc."""
    trees = {}
    for device in IFB.values():
        tree = SeenTree()
        shown = run(["tc", "-s", "class", "show", "dev", device], netns, check=False)
        if shown.returncode == 0:
            tree.classes = parse_classes(shown.stdout)
            queues = run(["tc", "-s", "qdisc", "show", "dev", device], netns, check=False)
            tree.leaf_stats = parse_leaf_stats(queues.stdout) if queues.returncode == 0 else {}
        trees[device] = tree
    clsact = set()
    for line in run(["tc", "qdisc", "show"], netns).stdout.splitlines():
        if not (match := _QDISC.match(line)):
            continue
        kind, handle, device, _, parent = match.groups()
        if kind == "clsact":
            clsact.add(device)
        elif device in trees and parent is None and kind == "htb" and handle == "1":
            trees[device].root = True
        elif device in trees and parent and parent.startswith("1:"):
            trees[device].leaf_kinds[int(parent[2:], 16)] = kind
    return trees, clsact
