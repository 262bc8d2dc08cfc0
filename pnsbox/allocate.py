"""Next month's division of the pipe, proposed from this month's series (pure: numbers in,
numbers and words out; `edit_files` writes the proposal into the site's YAML).

The method, as the README tells it:
1. Busy hours: the hours of the day (site clock, Monday to Friday) when the whole province's
   average rate is at least BUSY_SHARE of its busiest hour's.
2. Demand: for each OPD, each busy hour's 95th-percentile rate (the rate it stayed under for 57 of
   the 60 minutes); the OPD's demand is the 95th percentile of those over the month's busy hours.
3. Guarantees share the pipe less the headroom in proportion to demand; an OPD under the floor
   gets the floor, one over its limit (site.opd_limit or its own) gets the limit, and the rest is
   shared again among the others, until every guarantee is settled. Whole Mbit/s (largest
   remainders), so they add up to the pipe less the headroom exactly.
4. Ceilings follow peaks: the month's peak rate plus the headroom, or twice the guarantee if that
   is more (room to borrow when others are idle), never over the pipe or the OPD's ceiling limit,
   rounded up to whole Mbit/s.
With a symmetric pipe and plans, one guarantee serves both directions, so an OPD's demand and peak
are the larger of its two directions; otherwise each direction is allocated on its own.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from .model import DIRECTIONS, Config, format_rate
from .series import PROVINCE, SeriesStore, exact_percentile, month_bounds

BUSY_SHARE = 0.8
WEEKDAYS = range(5)
UNIT = 1_000_000  # guarantees and ceilings in whole Mbit/s
SERIES_DIRECTION = {"download": 0, "upload": 1}


class AllocationError(ValueError):
    """The month or the settings cannot give a division (the message says why)."""


@dataclass(frozen=True)
class Usage:
    """What the month says about one OPD: per busy hour its p95, and its peak, per direction."""

    busy_p95: tuple[list[float], list[float]]
    peak: tuple[float, float]


@dataclass
class Proposal:
    opd: str
    direction: str  # "both", "download" or "upload"
    demand: float
    peak: float
    guarantee: int
    ceiling: int
    old_guarantee: int | None
    old_ceiling: int | None
    bound: str = ""  # "floor", "limit" or ""
    ceiling_by: str = ""  # what set the ceiling, in words
    why: str = ""


@dataclass
class Allocation:
    month: str
    busy_hours: list[int]
    budget: dict[str, int]  # direction -> the pipe less the headroom
    proposals: list[Proposal] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # OPDs in the series but not in the site


def busy_hours(province_hours: list[tuple[int, int, float]]) -> list[int]:
    """(weekday, hour of day, average rate) of the province's hours -> its busy hours of day."""
    weekdays = [(h, r) for day, h, r in province_hours if day in WEEKDAYS] or \
        [(h, r) for _, h, r in province_hours]
    by_hour: dict[int, list[float]] = {}
    for hour, rate in weekdays:
        by_hour.setdefault(hour, []).append(rate)
    means = {hour: sum(rates) / len(rates) for hour, rates in by_hour.items()}
    if not means or max(means.values()) <= 0:
        return []
    top = max(means.values())
    return sorted(hour for hour, mean in means.items() if mean >= BUSY_SHARE * top)


def month_usage(store: SeriesStore, month: str) -> tuple[list[int], dict[str, Usage]]:
    """The province's busy hours and each OPD's usage from the month's hourly summaries."""
    start, end = month_bounds(month, store.offset)
    rows = store.db.execute("SELECT h, opd, ms, down_bytes, up_bytes, down_p95, up_p95, down_peak, up_peak "
                            "FROM hours WHERE h >= ? AND h < ?", (start, end)).fetchall()
    open_hour = store.open_hour()
    if open_hour is not None and start <= open_hour < end:
        rows += [(open_hour, opd, s["ms"], *s["bytes"], *s["p95"], *s["peak"])
                 for opd, s in store.hour_stats(open_hour).items()]

    def clock(h):  # weekday and hour of day in the site's clock
        local = h + store.offset * 3600
        return (local // 86400 + 3) % 7, local % 86400 // 3600  # 1 January 1970 was a Thursday

    province = [(*clock(h), (db + ub) * 8000 / ms) for h, opd, ms, db, ub, *_ in rows
                if store.keys.get(opd) == PROVINCE and ms]
    busy = busy_hours(province)
    found: dict[str, Usage] = {}
    for h, opd, _ms, _db, _ub, dp95, up95, dpeak, upeak in rows:
        key = store.keys.get(opd)
        if key is None or key == PROVINCE:
            continue
        usage = found.setdefault(key, Usage(([], []), (0.0, 0.0)))
        day, hour = clock(h)
        if hour in busy and (day in WEEKDAYS or not any(d in WEEKDAYS for d, _, _ in province)):
            usage.busy_p95[0].append(dp95)
            usage.busy_p95[1].append(up95)
        found[key] = Usage(usage.busy_p95, (max(usage.peak[0], dpeak), max(usage.peak[1], upeak)))
    return busy, found


def _p95(values: list[float]) -> float:
    return exact_percentile([(v, 1.0) for v in values]) if values else 0.0


def _share_out(budget: int, demand: dict[str, float], floor: int, limit: dict[str, int | None]) -> tuple[
        dict[str, int], dict[str, str]]:
    """Guarantees in whole units: in proportion to demand within [floor, limit], adding up to the
    budget (less, only when every OPD is at its limit)."""
    if floor * len(demand) > budget:
        raise AllocationError(f"the floor {format_rate(floor)} for {len(demand)} OPDs is "
                              f"{format_rate(floor * len(demand))}, more than the pipe less the headroom "
                              f"({format_rate(budget)}): lower --floor or --headroom")
    fixed: dict[str, float] = {}
    bound: dict[str, str] = {}
    while True:
        free = [k for k in demand if k not in fixed]
        left = budget - sum(fixed.values())
        weight = sum(demand[k] for k in free)
        share = {k: left * (demand[k] / weight if weight else 1 / len(free)) for k in free} if free else {}
        low = [k for k in free if share[k] < floor]
        high = [k for k in free if limit.get(k) is not None and share[k] > limit[k]]
        if not low and not high:
            break
        for k in low:
            fixed[k], bound[k] = floor, "floor"
        for k in high:
            fixed[k], bound[k] = limit[k], "limit"
    exact = {**fixed, **share}
    units = {k: int(v // UNIT) for k, v in exact.items()}
    spare = min(budget, int(sum(exact.values()))) // UNIT - sum(units.values())
    for k in sorted((k for k in exact if k not in fixed), key=lambda k: exact[k] / UNIT - units[k],
                    reverse=True)[:max(spare, 0)]:
        units[k] += 1
    return {k: u * UNIT for k, u in units.items()}, bound


def hours_text(hours: list[int]) -> str:
    spans, start = [], None
    for i, hour in enumerate(hours):
        start = hour if start is None else start
        if i + 1 == len(hours) or hours[i + 1] != hour + 1:
            spans.append(f"{start:02d}:00–{hour + 1:02d}:00")
            start = None
    return ", ".join(spans) or "none"


def mbit(bits: float) -> str:
    return f"{round(bits / 1e6, 0 if bits >= 10e6 else 1):g}"


def allocate(config: Config, month: str, busy: list[int], usage: dict[str, Usage], pipe: int | None = None,
             floor: int = 5 * UNIT, headroom: float = 0.2) -> Allocation:
    """The proposal for every OPD of `config` (OPDs without data this month get the floor)."""
    uplink = config.site.uplink
    pipes = {d: pipe or uplink.rate(d) for d in DIRECTIONS}
    symmetric = pipes["download"] == pipes["upload"] and all(
        opd.bandwidth is None or (opd.bandwidth.download is None and opd.bandwidth.upload is None)
        for opd in config.opds.values())
    directions = ["both"] if symmetric else list(DIRECTIONS)
    result = Allocation(month, busy, {}, missing=sorted(set(usage) - set(config.opds)))
    for direction in directions:
        sides = [0, 1] if direction == "both" else [SERIES_DIRECTION[direction]]
        whole = pipes["download" if direction == "both" else direction]
        budget = int(whole * (1 - headroom))
        result.budget[direction] = budget
        demand = {key: max((_p95(usage[key].busy_p95[s]) if key in usage else 0.0) for s in sides)
                  for key in config.opds}
        peak = {key: max((usage[key].peak[s] if key in usage else 0.0) for s in sides) for key in config.opds}
        limits = {}
        ceiling_limits = {}
        for key, opd in config.opds.items():
            limit = opd.limit or config.site.opd_limit
            limits[key] = limit.bits("guaranteed", whole) if limit else None
            ceiling_limits[key] = limit.bits("ceiling", whole) if limit else None
        guarantees, bound = _share_out(budget, demand, floor, limits)
        for key, opd in config.opds.items():
            old = opd.bandwidth.rates("download" if direction == "both" else direction) if opd.bandwidth else None
            top = min(whole, ceiling_limits[key] or whole)
            by_peak = math.ceil(peak[key] * (1 + headroom) / UNIT) * UNIT
            ceiling = min(top, max(2 * guarantees[key], by_peak))
            ceiling_by = ("the pipe" if top == whole else "its limit") if ceiling == top else \
                f"peak {mbit(peak[key])} Mbit/s +{headroom:.0%}" if by_peak >= 2 * guarantees[key] else \
                "twice the guarantee"
            proposal = Proposal(key, direction, demand[key], peak[key], guarantees[key], ceiling,
                                old.guaranteed if old else None, old.ceiling if old else None, bound.get(key, ""),
                                ceiling_by)
            proposal.why = explain(proposal, busy)
            result.proposals.append(proposal)
    return result


def explain(p: Proposal, busy: list[int]) -> str:
    """One OPD's number in words: "p95 38 Mbit/s at 09:00–11:00 on weekdays; guarantee 40 → 45 Mbit/s"."""
    side = "" if p.direction == "both" else f"{p.direction}: "
    demand = f"p95 {mbit(p.demand)} Mbit/s at {hours_text(busy)} on weekdays" if p.demand else \
        "no traffic in the busy hours"
    old_g = mbit(p.old_guarantee) if p.old_guarantee else "none"
    old_c = mbit(p.old_ceiling) if p.old_ceiling else "none"
    reason = {"floor": " (the floor)", "limit": " (its limit)"}.get(p.bound, "")
    return f"{side}{demand}; guarantee {old_g} → {mbit(p.guarantee)} Mbit/s{reason}; ceiling {old_c} → " \
        f"{mbit(p.ceiling)} Mbit/s ({p.ceiling_by})"


# --- the site's files ----------------------------------------------------------------------


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _rate_text(bits: int) -> str:
    return format_rate(bits)


def edit_files(files: dict[str, str], allocation: Allocation) -> dict[str, str]:
    """The site's files with every proposed plan written in (comments and layout kept; schedules'
    `during` plans and traffic classes stay as they are)."""
    yaml = _yaml()
    documents = {name: yaml.load(text) for name, text in files.items() if name.endswith((".yaml", ".yml"))}
    changed = set()
    for p in allocation.proposals:
        name, node = _find_opd(documents, p.opd)
        plan = node.get("bandwidth")
        if plan is None:
            plan = node["bandwidth"] = CommentedMap()
        if p.direction == "both":
            plan["guaranteed"], plan["ceiling"] = _rate_text(p.guarantee), _rate_text(p.ceiling)
        else:
            for key in ("guaranteed", "ceiling"):
                plan.pop(key, None)
            pair = plan.get(p.direction)
            if pair is None:
                pair = plan[p.direction] = CommentedMap()
            pair["guaranteed"], pair["ceiling"] = _rate_text(p.guarantee), _rate_text(p.ceiling)
        changed.add(name)
    out = dict(files)
    for name in changed:
        text = io.StringIO()
        yaml.dump(documents[name], text)
        out[name] = text.getvalue()
    return out


def _find_opd(documents: dict, key: str):
    for name, document in documents.items():
        if name == "pnsbox.yaml":
            opds = (document or {}).get("opds") or {}
            if key in opds:
                return name, opds[key]
        elif document and key in document:
            return name, document[key]
    raise AllocationError(f"OPD {key} is not in the site's files")
