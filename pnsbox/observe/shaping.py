"""What the series store samples besides the per-OPD counters: each OPD's drops and the plan in
force, read from the HTB classes pnsbox owns (an OPD's class and its traffic classes)."""

from __future__ import annotations

from ..apply.owned import OwnedRecord
from ..render.tc import IFB
from ..series import PROVINCE, Plan, Reading
from . import tc

PIPE_LABEL = "pipe"


def opd_classes(netns: str | None, state_dir: str) -> tuple[dict[str, list[int]], dict[str, Plan]]:
    """opd -> [down drops, up drops] summed over its classes, and opd (and `*`, the pipe) -> Plan."""
    labels = OwnedRecord(state_dir, netns).read().labels
    trees, _ = tc.observe(netns)
    drops: dict[str, list[int]] = {}
    rates: dict[str, list[int]] = {}
    for d, direction in enumerate(("download", "upload")):
        for minor, seen in trees.get(IFB[direction], tc.SeenTree()).classes.items():
            label = labels.get(f"1:{minor:x}", "")
            owner = label.partition("/")[0]
            if label == PIPE_LABEL:
                owner = PROVINCE
            elif not owner or label in ("intranet", "unmatched"):
                continue
            drops.setdefault(owner, [0, 0])[d] += seen.drops
            if "/" not in label:
                rates.setdefault(owner, [0, 0, 0, 0])[2 * d:2 * d + 2] = [seen.rate, seen.ceil]
    return drops, {owner: Plan(*values) for owner, values in rates.items()}


def readings(counters, drops: dict[str, list[int]]) -> dict[str, Reading]:
    """observe.counters' per-OPD bytes (rx: toward the OPD) with the drops of its classes."""
    return {name: Reading(c["rx"].bytes, c["tx"].bytes, *drops.get(name, [0, 0]))
            for name, c in counters.opds.items()}
