"""Per-OPD and per-policy counters from the running `inet pnsbox` table."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..apply.netns import run
from ..render.nft import DIGEST_OBJECT, TABLE


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
    rules: dict[str, Count]  # rule comment (policy name, "default deny from X", ...) -> Count
    rule_count: int


def parse(listing: dict) -> TableCounters:
    """`nft -j list table inet pnsbox` output -> counters (pure)."""
    digest = None
    opds: dict[str, dict] = {}
    rules: dict[str, Count] = {}
    rule_count = 0
    for item in listing.get("nftables", []):
        if "counter" in item:
            counter = item["counter"]
            name = counter["name"]
            if name == DIGEST_OBJECT:
                digest = counter.get("comment", "").removeprefix("pnsbox ")
            elif name.startswith("opd_") and name[-3:] in ("_tx", "_rx"):
                opd = opds.setdefault(name[4:-3], {"name": counter.get("comment", ""),
                                                   "tx": Count(), "rx": Count()})
                opd[name[-2:]] = Count(counter.get("packets", 0), counter.get("bytes", 0))
        elif "rule" in item:
            rule = item["rule"]
            rule_count += 1
            for expr in rule.get("expr", []):
                counter = expr.get("counter") if isinstance(expr, dict) else None
                if isinstance(counter, dict) and "packets" in counter:
                    key = rule.get("comment", f"{rule['chain']} (no comment)")
                    rules[key] = rules.get(key, Count()) + Count(counter["packets"], counter["bytes"])
    return TableCounters(digest, opds, rules, rule_count)


def read(netns: str | None) -> TableCounters | None:
    proc = run(["nft", "-j", "list", "table", *TABLE.split()], netns, check=False)
    if proc.returncode != 0:
        return None
    return parse(json.loads(proc.stdout))
