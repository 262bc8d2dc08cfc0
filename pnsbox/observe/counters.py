"""Per-OPD and per-policy counters from the running `inet pnsbox` table."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from ..classifier.catalog import Catalog
from ..classifier.verdict import CATEGORY_MASK, CATEGORY_SHIFT
from ..render.nft import DIGEST_OBJECT, TABLE
from ..render.objects import OPD_CATEGORY_SETS, OPD_NUMBER_MAP
from . import nfnl


@dataclass(frozen=True)
class Count:
    packets: int = 0
    bytes: int = 0

    def __add__(self, other: Count) -> Count:
        return Count(self.packets + other.packets, self.bytes + other.bytes)


@dataclass
class TableCounters:
    digest: str | None
    opds: dict[str, dict]  # opd key -> {"name": display name, "tx": Count, "rx": Count}
    rules: dict[str, Count]  # rule comment ("policies[3] dinkes-files", "opds.dinkes: default deny", ...) -> Count
    rule_count: int
    apps: dict[str, Count] = field(default_factory=dict)  # application -> classified traffic (both ways)
    categories: dict[str, Count] = field(default_factory=dict)
    # opd key -> category -> bytes of classified traffic, both ways (read only when asked)
    opd_categories: dict[str, dict[str, int]] = field(default_factory=dict)


def opd_categories(netns: str | None, catalog: Catalog) -> dict[str, dict[str, int]]:
    """OPD key -> category -> bytes, both ways, from the dynamic sets the kernel fills
    (render.apps.opd_category_rules); the OPD's number is named by its element's comment."""
    table = TABLE.split()[1]
    number_to_opd = {int.from_bytes(data[:4], sys.byteorder): name
                     for data, name in nfnl.map_data_comments(netns, table, OPD_NUMBER_MAP) if name}
    # marks travel in the host's byte order
    names = {cid: name for name, cid in catalog.categories.items()}
    out: dict[str, dict[str, int]] = {}
    for set_name in OPD_CATEGORY_SETS.values():
        for key, (_, count) in nfnl.counted_elements(netns, table, set_name):
            number, mark = (int.from_bytes(key[i:i + 4], sys.byteorder) for i in (0, 4))
            opd = number_to_opd.get(number)
            category = names.get((mark & CATEGORY_MASK) >> CATEGORY_SHIFT)
            if opd and category:
                out.setdefault(opd, {})[category] = out.get(opd, {}).get(category, 0) + count
    return out


def read(netns: str | None, rules: bool = True) -> TableCounters | None:
    """The counters of the running table, over nfnetlink (a JSON listing through nft costs
    seconds at 1,000 OPDs); None when no pnsbox table is loaded. Without `rules`, only the
    named counters (per OPD, per app): a twentieth of the time at 1,000 OPDs."""
    table = TABLE.split()[1]
    if table not in nfnl.inet_table_comments(netns):
        return None
    digest = None
    opds: dict[str, dict] = {}
    by_kind: dict[str, dict[str, Count]] = {"app": {}, "category": {}}
    for name, comment, (packets, count) in nfnl.named_counters(netns, table):
        if name == DIGEST_OBJECT:
            digest = (comment or "").removeprefix("pnsbox ")
        elif name.startswith("opd_") and name[-3:] in ("_tx", "_rx"):
            opd = opds.setdefault(name[4:-3], {"name": comment or "", "tx": Count(), "rx": Count()})
            opd[name[-2:]] = Count(packets, count)
        elif name.partition("_")[0] in by_kind:
            kind, _, key = name.partition("_")
            by_kind[kind][key] = Count(packets, count)
    by_rule: dict[str, Count] = {}  # (not `rules`: that is the argument saying whether to read them)
    rule_count = 0
    for chain, comment, counted in nfnl.rule_counters(netns, table) if rules else ():
        rule_count += 1
        if counted is not None:
            key = comment or f"{chain} (no comment)"
            by_rule[key] = by_rule.get(key, Count()) + Count(*counted)
    return TableCounters(digest, opds, by_rule, rule_count, by_kind["app"], by_kind["category"])
