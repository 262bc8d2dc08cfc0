"""Config -> the HTB trees that share the pipe among OPDs (pure).

One tree per direction, each on an IFB device pnsbox owns: download on
`pnsbox-dl`, fed by a redirect on the egress of every OPD link; upload on
`pnsbox-ul`, fed from the uplink (and the service links when a class selects
services). One tree per direction, not per device, is what lets OPDs on
separate links borrow from one pipe. Packets find their leaf by
skb->priority, which nft sets from maps (render.nft); tc has no classifying
filters. Class ids are stable per OPD (its slot), so a rate change is an
in-place `tc class change`.

    1:1     the pipe                      1:2    intranet (not the pipe)
      1:fffe  unmatched traffic (default)
      1:SLOT  an OPD: a leaf, or the parent of its traffic classes
        1:SLOT+1 its default class, 1:SLOT+2... its named classes
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import DEFAULT_CLASS, DIRECTIONS, Config

IFB = {"download": "pnsbox-dl", "upload": "pnsbox-ul"}
HANDLE = 1
PIPE, INTRANET, UNMATCHED = 0x1, 0x2, 0xFFFE
SLOT_BASE, SLOT_SIZE, MAX_SLOTS = 0x100, 0x10, (0xFFF0 - 0x100) // 0x10
INTRANET_RATE = 10 * 10**9  # traffic between zones inside the province is not the pipe's
MIN_RATE = 8000


def classid(minor: int) -> str:
    return f"{HANDLE}:{minor:x}"


@dataclass(frozen=True)
class TcClass:
    minor: int
    parent: int | None  # None: a root class of the qdisc
    rate: int
    ceil: int
    prio: int
    leaf: bool
    label: str  # what `show` calls it: "pipe", "dinkes", "dinkes/egov"


@dataclass(frozen=True)
class Tree:
    direction: str
    device: str
    classes: tuple[TcClass, ...]


@dataclass(frozen=True)
class Shaping:
    trees: tuple[Tree, ...]
    redirects: tuple[tuple[str, str], ...]  # (egress device, IFB it feeds)
    leaf_qdisc: str
    leaves: dict[tuple[str, str | None], int]  # (opd, class or None for its default) -> leaf minor


def allocate_slots(config: Config, previous: dict[str, int] | None = None) -> dict[str, int]:
    """OPD -> slot. Kept OPDs keep theirs; new ones take the lowest free slot."""
    previous = previous or {}
    slots = {name: slot for name, slot in previous.items() if name in config.opds}
    free = (slot for slot in range(MAX_SLOTS) if slot not in set(slots.values()))
    for name in config.opds:
        if name not in slots:
            slots[name] = next(free)
    return slots


def active_windows(config: Config, weekday: int, minute: int) -> set[str]:
    """Schedules open at a UTC weekday and minute (for time-of-day rates)."""
    from .schedule import is_open

    return {name for name, schedule in config.schedules.items()
            if is_open(schedule, config.site.timezone, weekday, minute)}


def _active(scheduled: dict, base, windows: set[str]):
    """The first rates whose schedule is open, else the base rates (config order decides)."""
    return next((rates for name, rates in scheduled.items() if name in windows), base)


def _quantum(rate: int) -> int:
    # HTB wants 1 MTU <= quantum <= 200000 bytes; about 1 ms worth of the class's rate.
    return max(1514, min(200000, rate // 8 // 1000))


def render_shaping(config: Config, slots: dict[str, int], leaf_qdisc: str,
                   windows: frozenset[str] = frozenset()) -> Shaping:
    trees = []
    leaves: dict[tuple[str, str | None], int] = {}
    for direction in DIRECTIONS:
        pipe = _active(config.site.uplink.during, config.site.uplink, windows).rate(direction)
        classes = [TcClass(PIPE, None, pipe, pipe, 3, False, "pipe"),
                   TcClass(INTRANET, None, INTRANET_RATE, INTRANET_RATE, 3, True, "intranet"),
                   TcClass(UNMATCHED, PIPE, max(MIN_RATE, pipe // 100), pipe, 7, True, "unmatched")]
        for name, opd in config.opds.items():
            base = SLOT_BASE + slots[name] * SLOT_SIZE
            if opd.bandwidth is None:
                continue
            guaranteed, ceiling = _active(opd.bandwidth.during, opd.bandwidth, windows).rates(direction)
            tclasses = opd.bandwidth.classes
            classes.append(TcClass(base, PIPE, guaranteed, ceiling, 3, not tclasses, name))
            leaves[(name, None)] = base
            if not tclasses:
                continue
            named = [(c, t) for c, t in tclasses.items() if c != DEFAULT_CLASS]
            default = tclasses.get(DEFAULT_CLASS)
            rest = 100 - sum(t.share for c, t in named)
            default_share = default.share if default else max(rest, 1)
            classes.append(TcClass(base + 1, base, max(MIN_RATE, int(guaranteed * default_share / 100)),
                                   min(ceiling, default.ceiling or ceiling) if default else ceiling,
                                   4, True, f"{name}/{DEFAULT_CLASS}"))
            leaves[(name, DEFAULT_CLASS)] = leaves[(name, None)] = base + 1
            for index, (cname, tclass) in enumerate(named, start=2):
                classes.append(TcClass(base + index, base, max(MIN_RATE, int(guaranteed * tclass.share / 100)),
                                       min(ceiling, tclass.ceiling or ceiling), 2, True, f"{name}/{cname}"))
                leaves[(name, cname)] = base + index
        trees.append(Tree(direction, IFB[direction], tuple(classes)))
    return Shaping(tuple(trees), _redirects(config), leaf_qdisc, leaves)


def _redirects(config: Config) -> tuple[tuple[str, str], ...]:
    out = {opd.link.device: IFB["download"] for opd in config.opds.values()}
    out[config.site.uplink.interface] = IFB["upload"]
    selected = {s for o in config.opds.values() if o.bandwidth for t in o.bandwidth.classes.values()
                if t.match for s in t.match.services}
    for name in selected:  # upload to the data center only passes the tree if a class wants it
        out.setdefault(config.services[name].link.device, IFB["upload"])
    return tuple(out.items())


# --- tc command lines (`tc -batch`) -----------------------------------------------


def class_line(verb: str, device: str, cls: TcClass) -> str:
    parent = classid(cls.parent) if cls.parent else f"{HANDLE}:"
    return (f"class {verb} dev {device} parent {parent} classid {classid(cls.minor)} estimator 1sec 4sec "
            f"htb rate {cls.rate}bit ceil {cls.ceil}bit quantum {_quantum(cls.rate)} prio {cls.prio}")


def leaf_line(device: str, cls: TcClass, leaf_qdisc: str) -> str:
    options = {"fq_codel": "fq_codel", "cake": "cake besteffort", "sfq": "sfq perturb 10",
               "pfifo": f"pfifo limit {max(100, min(10000, cls.ceil // 8 // 1500 // 10))}"}[leaf_qdisc]
    return f"qdisc replace dev {device} parent {classid(cls.minor)} handle {cls.minor:x}: {options}"


def root_line(device: str) -> str:
    return f"qdisc add dev {device} root handle {HANDLE}: htb default {UNMATCHED:x}"


def redirect_lines(device: str, ifb: str) -> list[str]:
    # IPv4 only: ARP and neighbour discovery never wait behind a full class.
    return [f"qdisc add dev {device} clsact",
            f"filter add dev {device} egress pref 1 protocol ip u32 match u32 0 0 "
            f"action mirred egress redirect dev {ifb}"]


def full_batch(shaping: Shaping) -> str:
    """Everything from scratch: what a fresh box gets (and the golden tests read)."""
    lines = []
    for tree in shaping.trees:
        lines.append(root_line(tree.device))
        for cls in tree.classes:
            lines.append(class_line("add", tree.device, cls))
            if cls.leaf:
                lines.append(leaf_line(tree.device, cls, shaping.leaf_qdisc))
    for device, ifb in shaping.redirects:
        lines += redirect_lines(device, ifb)
    return "\n".join(lines) + "\n"
