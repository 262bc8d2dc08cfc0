"""A month's numbers per OPD and direction, and for the province, from the series store.

Rates are bit/s. The average is over the time that was sampled; p95 is the rate an OPD stayed
under for 95% of that time (from the month's 1%-wide histogram: within half a percent); the
peak is the highest sample's rate, with when it happened in the site's clock. Hours near the
ceiling add up the samples at 90% of the ceiling in force or more. Utilisation is p95 over the
guarantee in force at the end of the month.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .. import series
from ..series import DIRECTIONS, PROVINCE, SeriesStore

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TOP_CATEGORIES = 10
TOP_OPD_CATEGORIES = 5  # per OPD in the report


def local(t: float, offset_hours: int) -> datetime:
    return datetime.fromtimestamp(t + offset_hours * 3600, UTC).replace(tzinfo=None)


def _empty() -> dict:
    return {"ms": 0, "bytes": [0, 0], "drops": [0, 0], "ceil_ms": [0, 0], "peak": [0, 0], "peak_t": [0, 0]}


def _gather(store: SeriesStore, start: int, end: int) -> tuple[dict[int, dict], dict[int, tuple]]:
    """Per OPD id: sums and peaks of the month's summarised hours (month_totals) plus the hour still open;
    and the month's histograms with the open hour's added."""
    month = series.month_of(start, store.offset)
    found: dict[int, dict] = {}
    for opd, ms, db, ub, dd, ud, dc, uc, dp, up, dt, ut in store.db.execute(
            "SELECT opd, ms, down_bytes, up_bytes, down_drops, up_drops, down_ceil_ms, up_ceil_ms, down_peak, "
            "up_peak, down_peak_t, up_peak_t FROM month_totals WHERE month = ?", (month,)):
        found[opd] = {"ms": ms, "bytes": [db, ub], "drops": [dd, ud], "ceil_ms": [dc, uc], "peak": [dp, up],
                      "peak_t": [dt, ut]}
    hists = store.histograms(month)
    open_hour = store.open_hour()
    if open_hour is not None and start <= open_hour < end:
        for opd, s in store.hour_stats(open_hour).items():
            total = found.setdefault(opd, _empty())
            total["ms"] += s["ms"]
            for d in range(2):
                for field in ("bytes", "drops", "ceil_ms"):
                    total[field][d] += s[field][d]
                if s["peak"][d] > total["peak"][d]:
                    total["peak"][d], total["peak_t"][d] = s["peak"][d], s["peak_t"][d]
            merged = tuple(dict(h) for h in hists.get(opd, ({}, {})))
            for d in range(2):
                for index, seconds in s["hist"][d].items():
                    merged[d][index] = merged[d].get(index, 0.0) + seconds
            hists[opd] = merged
    since = store._get("since")
    if since is not None and start <= since < end:  # counted, but not yet a whole sample: bytes only
        for key, moved in store._get("carry", {}).items():
            if key in store._ids:
                total = found.setdefault(store._ids[key], _empty())
                for d in range(2):
                    total["bytes"][d] += moved[d]
                    total["drops"][d] += moved[2 + d]
    return found, hists


def _plans_at_end(store: SeriesStore, start: int, end: int) -> dict[int, series.Plan]:
    return {opd: changes[-1][1] for opd, changes in store.plans_in(start, end).items()}


def _direction(total: dict, hist: dict, d: int, plan: series.Plan | None, offset: int) -> dict:
    seconds = total["ms"] / 1000
    p95 = series.percentile(hist) if hist else 0.0
    peak, peak_t = total["peak"][d], total["peak_t"][d]
    guarantee = (plan.down_g, plan.up_g)[d] if plan else 0
    ceiling = (plan.down_c, plan.up_c)[d] if plan else 0
    when = local(peak_t, offset) if peak_t else None
    return {"bytes": total["bytes"][d], "average": total["bytes"][d] * 8 / seconds if seconds else 0.0,
            "p95": p95, "peak": peak, "peak_at": when.strftime("%Y-%m-%d %H:%M") if when else None,
            "peak_hour": when.hour if when else None, "peak_weekday": WEEKDAYS[when.weekday()] if when else None,
            "hours_near_ceiling": total["ceil_ms"][d] / 3_600_000, "drops": total["drops"][d],
            "guarantee": guarantee, "ceiling": ceiling,
            "utilisation": p95 / guarantee if guarantee else None}


def month_report(store: SeriesStore, month: str, visible=None) -> dict:
    """Everything the monthly evaluation shows, for the OPDs `visible` allows (all when None)."""
    start, end = series.month_bounds(month, store.offset)
    found, hists = _gather(store, start, end)
    plans = _plans_at_end(store, start, end)
    names = store.names()
    opds = {}
    for opd, total in found.items():
        key = store.keys.get(opd)
        if key is None or key == PROVINCE or (visible is not None and key not in visible):
            continue
        hist = hists.get(opd, ({}, {}))
        opds[key] = {"name": names.get(key, ""), "seconds": total["ms"] / 1000,
                     **{name: _direction(total, hist[d], d, plans.get(opd), store.offset)
                        for d, name in enumerate(DIRECTIONS)}}
    by_opd = _opd_categories(store, month)
    for key, entry in opds.items():
        whole = entry["down"]["bytes"] + entry["up"]["bytes"]
        entry["categories"] = [[name, count, count / whole if whole else None]
                               for name, count in by_opd.get(key, [])]
    report = {"month": month, "site": store._get("site"), "timezone_offset": store.offset, "months": store.months(),
              "opds": dict(sorted(opds.items()))}
    province = store.province
    if visible is None and province in found:
        report["province"] = _province(store, found, hists, province, plans)
        report["categories"] = _categories(store, start, end)
    return report


def _province(store, found, hists, province, plans) -> dict:
    total = found[province]
    pipe = plans.get(province)
    section = {name: _direction(total, hists.get(province, ({}, {}))[d], d, pipe, store.offset)
               for d, name in enumerate(DIRECTIONS)}
    for d, name in enumerate(DIRECTIONS):
        peak_t = total["peak_t"][d]
        if not peak_t:
            continue
        hour = int(peak_t) // 3600 * 3600  # the peak's sample began in this hour
        shares = _hour_bytes(store, hour, d)
        whole = shares.pop(province, 0) or sum(shares.values())
        section[name]["peak_hour_start"] = local(hour, store.offset).strftime("%Y-%m-%d %H:00")
        section[name]["shares"] = {store.keys[o]: b / whole for o, b in sorted(shares.items(), key=lambda i: -i[1])
                                   if whole and b}
    return section


def _hour_bytes(store: SeriesStore, hour: int, d: int) -> dict[int, int]:
    column = f"{DIRECTIONS[d]}_bytes"
    rows = dict(store.db.execute(f"SELECT opd, {column} FROM hours WHERE h = ?", (hour,)).fetchall())
    if not rows and hour == store.open_hour():
        rows = {opd: s["bytes"][d] for opd, s in store.hour_stats(hour).items()}
    return rows


def _categories(store: SeriesStore, start: int, end: int) -> list[list]:
    return [[name, count] for name, count in store.db.execute(
        "SELECT category, sum(bytes) FROM categories WHERE h >= ? AND h < ? GROUP BY category "
        "ORDER BY 2 DESC LIMIT ?", (start, end, TOP_CATEGORIES))]


def _opd_categories(store: SeriesStore, month: str) -> dict[str, list[tuple[str, int]]]:
    """OPD key -> its top categories and their bytes (both ways), most first."""
    out: dict[str, list[tuple[str, int]]] = {}
    for opd, name, count in store.db.execute(
            "SELECT opd, category, bytes FROM opd_categories WHERE month = ? ORDER BY opd, 3 DESC, category",
            (month,)):
        top = out.setdefault(store.keys.get(opd, ""), [])
        if len(top) < TOP_OPD_CATEGORIES:
            top.append((name, count))
    return out


def hourly(store: SeriesStore, month: str, key: str) -> dict:
    """One OPD's (or the province's, `*`) month hour by hour: the heatmap and the rate curve.
    `hours`: [start (local 'YYYY-MM-DD HH'), average down, average up, peak down, peak up] in
    bit/s; `plans`: [local time, guarantee down, ceiling down, guarantee up, ceiling up]."""
    start, end = series.month_bounds(month, store.offset)
    opd = store._ids.get(key)
    rows = []
    if opd is not None:
        rows = [list(r) for r in store.db.execute(
            "SELECT h, ms, down_bytes, up_bytes, down_peak, up_peak FROM hours WHERE opd = ? AND h >= ? AND h < ? "
            "ORDER BY h", (opd, start, end))]
        open_hour = store.open_hour()
        if open_hour is not None and start <= open_hour < end:
            s = store.hour_stats(open_hour).get(opd)
            if s:
                rows.append([open_hour, s["ms"], *s["bytes"], *s["peak"]])
    hours = [[local(h, store.offset).strftime("%Y-%m-%d %H"), db * 8000 / ms if ms else 0,
              ub * 8000 / ms if ms else 0, dp, up] for h, ms, db, ub, dp, up in rows]
    plans = [[local(max(t, start), store.offset).strftime("%Y-%m-%d %H:%M"), p.down_g, p.down_c, p.up_g, p.up_c]
             for t, p in store.plans_in(start, end).get(opd, [])] if opd is not None else []
    return {"month": month, "opd": key, "hours": hours, "plans": plans}


def heatmap(hourly_data: dict, d: int = 0) -> list[list[float | None]]:
    """day-of-month x hour-of-day average rates (None: not sampled) for direction `d`."""
    month = hourly_data["month"]
    days = (datetime.strptime(series.next_month(month) + "-01", "%Y-%m-%d")
            - datetime.strptime(month + "-01", "%Y-%m-%d")).days
    grid: list[list[float | None]] = [[None] * 24 for _ in range(days)]
    for stamp, *rates in hourly_data["hours"]:
        grid[int(stamp[8:10]) - 1][int(stamp[11:13])] = rates[d]
    return grid
