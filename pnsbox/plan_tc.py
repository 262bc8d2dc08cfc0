"""Desired HTB trees vs what runs -> tc steps (pure). Part of plan.compute.

Additions and changes come before addresses and routes, removals after
them (the ruleset, loaded first, no longer points at a class being removed). Unchanged classes are not touched: a running flow
in an OPD whose plan did not change never notices an apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import format_rate
from .render.tc import Shaping, TcClass, Tree, class_line, classid, leaf_line, redirect_lines, root_line
from .wording import say


@dataclass(frozen=True)
class TcStep:
    phase: str  # "before" the ruleset or "after" it
    lines: tuple[str, ...]
    text: str


def _close(a: int, b: int) -> bool:
    return abs(a - b) <= max(1000, b // 100)  # tc prints rates rounded


def _describe(tree: Tree, cls: TcClass) -> str:
    return say("plan.tc.class", direction=tree.direction, classid=classid(cls.minor), label=cls.label,
               rate=format_rate(cls.rate), ceil=format_rate(cls.ceil))


def tree_steps(tree: Tree, seen, leaf_qdisc: str) -> list[TcStep]:
    """`seen` is observe.tc.SeenTree (or None when the device has no tree yet)."""
    device = tree.device
    steps: list[TcStep] = []
    if seen is None or not seen.root:
        lines = [root_line(device)]
        for cls in tree.classes:
            lines.append(class_line("add", device, cls))
            if cls.leaf:
                lines.append(leaf_line(device, cls, leaf_qdisc))
        return [TcStep("before", tuple(lines), say("plan.tc.tree_add", direction=tree.direction, device=device,
                                                   classes=len(tree.classes), leaf=leaf_qdisc))]
    wanted = {cls.minor for cls in tree.classes}
    leaves_after: list[TcStep] = []
    for cls in tree.classes:  # parents come first in tree.classes
        have = seen.classes.get(cls.minor)
        leaf = [leaf_line(device, cls, leaf_qdisc)] if cls.leaf else []
        if have is None:
            steps.append(TcStep("before", (class_line("add", device, cls), *leaf),
                                say("plan.tc.class_add", what=_describe(tree, cls))))
        elif have.parent != cls.parent:
            steps.append(TcStep("before", (f"class del dev {device} classid {classid(cls.minor)}",
                                           class_line("add", device, cls), *leaf),
                                say("plan.tc.class_moved", what=_describe(tree, cls))))
        else:
            if not (_close(have.rate, cls.rate) and _close(have.ceil, cls.ceil)) or (
                    cls.leaf and have.prio != cls.prio):  # tc shows no prio for inner classes
                steps.append(TcStep("before", (class_line("change", device, cls),),
                                    say("plan.tc.class_change", what=_describe(tree, cls), rate=format_rate(have.rate),
                                        ceil=format_rate(have.ceil))))
            if cls.leaf and seen.leaf_kinds.get(cls.minor) != leaf_qdisc:
                # A class that loses its children gets its leaf once they are gone.
                has_children = any(c.parent == cls.minor for c in seen.classes.values())
                if seen.leaf_kinds.get(cls.minor):  # the kernel replaces a qdisc only by one of its kind
                    leaf = [f"qdisc del dev {device} parent {classid(cls.minor)} handle {cls.minor:x}:", *leaf]
                (leaves_after if has_children else steps).append(TcStep(
                    "after" if has_children else "before", tuple(leaf),
                    say("plan.tc.leaf", direction=tree.direction, classid=classid(cls.minor), label=cls.label,
                        leaf=leaf_qdisc)))
    gone = [c for c in seen.classes.values() if c.minor not in wanted]
    # Children before their parents: a class with children cannot be deleted.
    gone_minors = {g.minor for g in gone}
    gone.sort(key=lambda c: c.parent in gone_minors, reverse=True)
    for cls in gone:
        steps.append(TcStep("after", (f"class del dev {device} classid {classid(cls.minor)}",),
                            say("plan.tc.class_del", direction=tree.direction, classid=classid(cls.minor))))
    return steps + leaves_after


def redirect_steps(shaping: Shaping, clsact: set[str], owned: dict[str, tuple[str, bool]],
                   links: dict) -> list[TcStep]:
    """`owned`: device -> (the IFB pnsbox points it at, whether pnsbox also made its clsact).
    Someone else's clsact is never removed: only pnsbox's filter on it is."""
    steps = []
    wanted = dict(shaping.redirects)
    for device, ifb in shaping.redirects:
        ours = owned.get(device)
        if ours and ours[0] == ifb and device in clsact:
            continue
        lines = redirect_lines(device, ifb)
        if ours and device in clsact:  # pointed elsewhere: swap the filter only
            lines = [_filter_del(device), lines[1]]
        elif device in clsact:  # someone's clsact is there already: add only our filter
            lines = lines[1:]
        steps.append(TcStep("before", tuple(lines), say("plan.tc.redirect_add", device=device, ifb=ifb)))
    for device in sorted(set(owned) - set(wanted)):
        if device in clsact and device in links:
            line = f"qdisc del dev {device} clsact" if owned[device][1] else _filter_del(device)
            steps.append(TcStep("after", (line,), say("plan.tc.redirect_del", device=device)))
    return steps


def _filter_del(device: str) -> str:
    return f"filter del dev {device} egress pref 1 protocol ip u32"


def redirect_record(shaping: Shaping, clsact: set[str], owned: dict[str, tuple[str, bool]]) -> list:
    """What the state keeps after an apply: [device, ifb, pnsbox made the clsact]."""
    return [[device, ifb, owned[device][1] if device in owned else device not in clsact]
            for device, ifb in shaping.redirects]


def tree_record(shaping: Shaping) -> dict:
    """What an apply leaves in the kernel, kept in the state so a later rate change can be
    planned without reading tc back: device -> class id -> [parent, rate, ceil, prio]."""
    return {tree.device: {classid(c.minor): [c.parent, c.rate, c.ceil, c.prio] for c in tree.classes}
            for tree in shaping.trees}


def rate_steps(shaping: Shaping, recorded: dict) -> list[TcStep] | None:
    """In-place changes from the recorded trees to `shaping`, or None if more than rates differ."""
    steps = []
    for tree in shaping.trees:
        before = recorded.get(tree.device, {})
        if set(before) != {classid(c.minor) for c in tree.classes}:
            return None
        for cls in tree.classes:
            parent, rate, ceil, prio = before[classid(cls.minor)]
            if parent != cls.parent:
                return None
            if (rate, ceil, prio) != (cls.rate, cls.ceil, cls.prio):
                steps.append(TcStep("before", (class_line("change", tree.device, cls),),
                                    say("plan.tc.class_change", what=_describe(tree, cls), rate=format_rate(rate),
                                        ceil=format_rate(ceil))))
    return steps
