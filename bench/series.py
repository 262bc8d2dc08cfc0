"""The rate series store (pnsbox/series.py) at 34 and 1,000 OPDs: the cost of one sample and the
file's size, and the monthly report's time at 1,000 OPDs.

Write cost: a simulated day of one-minute samples (the hourly roll-ups included), beside the
usage book's own per-sample write (observe.usage: accumulate + write-fsync-rename of usage.json)
at the same OPD count, measured in the same run. Size: bytes per day of samples and per day of
hourly rows, from that day, then the steady state (36 days of samples, 2 years of hours).
Report: a month of hourly rows, month totals and histograms at 1,000 OPDs (written straight into the tables:
making them sample by sample would take hours) plus an open hour of 60 samples, against reading
the usage book's month (the report that existed before) in the same run.

    .venv/bin/python bench/series.py [--opds 34,1000] [--hours 24]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pnsbox.observe import usage  # noqa: E402
from pnsbox.report import compute  # noqa: E402
from pnsbox.series import (  # noqa: E402
    FINE_DAYS,
    HOURLY_DAYS,
    Plan,
    Reading,
    SeriesStore,
    _hist_pack,
    bucket,
    month_bounds,
)

MBIT = 1_000_000
START = 1_793_379_600  # 2026-10-31 17:00 UTC: 1 November 00:00 in Jakarta


def file_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("series.db*"))


def write_day(opds: int, hours: int) -> dict:
    rng = random.Random(opds)
    directory = Path(tempfile.mkdtemp(prefix="pnsbench-series-"))
    store = SeriesStore(directory, 7)
    keys = [f"opd{i:04d}" for i in range(opds)]
    rates = {k: rng.uniform(0.5, 80) * MBIT for k in keys}
    counters = {k: [0, 0, 0, 0] for k in keys}
    plans = {k: Plan(20 * MBIT, 100 * MBIT, 20 * MBIT, 100 * MBIT) for k in keys}
    t = START
    store.record(t, {k: Reading(*v) for k, v in counters.items()}, plans)
    book = usage.Book()
    series_seconds = book_seconds = 0.0
    for _ in range(hours * 60):
        t += 60
        for k, c in counters.items():
            c[0] += int(rates[k] * rng.uniform(0.2, 1.3) * 60 / 8)
            c[1] += int(rates[k] * rng.uniform(0.05, 0.3) * 60 / 8)
            c[2] += rng.random() < 0.05
        readings = {k: Reading(*v) for k, v in counters.items()}
        started = time.perf_counter()
        store.record(t, readings, plans, {"video": t, "e-government": t // 2})
        series_seconds += time.perf_counter() - started
        started = time.perf_counter()  # the usage book's per-sample work, at the same OPD count
        book = usage.accumulate(book, {k: {"tx_bytes": v[1], "tx_packets": 0, "rx_bytes": v[0], "rx_packets": 0}
                                       for k, v in counters.items()}, "2026-11")
        usage.write_book(directory, book)
        book_seconds += time.perf_counter() - started
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    samples_bytes = store.db.execute("SELECT sum(length(data)) + count(*) * 24 FROM samples").fetchone()[0]
    hour_rows = store.db.execute("SELECT count(*) FROM hours").fetchone()[0]
    page_size = store.db.execute("PRAGMA page_size").fetchone()[0]
    hours_pages = store.db.execute("SELECT count(*) FROM dbstat WHERE name = 'hours'").fetchone()[0] \
        if _has_dbstat(store) else None
    day_share = 24 / hours
    samples_per_day = samples_bytes * day_share
    hours_per_day = (hours_pages * page_size if hours_pages else hour_rows * 60) * 24 / max(1, hours - 1)
    return {"opds": opds, "samples": hours * 60, "series_ms": 1000 * series_seconds / (hours * 60),
            "book_ms": 1000 * book_seconds / (hours * 60), "file": file_size(directory),
            "samples_per_day": samples_per_day, "hours_per_day": hours_per_day,
            "steady": samples_per_day * FINE_DAYS + hours_per_day * HOURLY_DAYS, "store": store, "dir": directory}


def _has_dbstat(store: SeriesStore) -> bool:
    try:
        store.db.execute("SELECT count(*) FROM dbstat").fetchone()
        return True
    except Exception:
        return False


def month_of_hours(opds: int) -> tuple[SeriesStore, Path, float]:
    """A whole November at `opds` OPDs: hourly rows, histograms, one open hour of samples."""
    rng = random.Random(7)
    directory = Path(tempfile.mkdtemp(prefix="pnsbench-month-"))
    store = SeriesStore(directory, 7)
    keys = [f"opd{i:04d}" for i in range(opds)]
    ids = [store.id_of(k) for k in keys]
    start, end = month_bounds("2026-11", 7)
    store.db.execute("BEGIN")
    rows = []
    for h in range(start, end - 3600, 3600):
        for opd in [*ids, store.province]:
            down, up = rng.randrange(10**8, 10**10), rng.randrange(10**7, 10**9)
            rows.append((h, opd, 3_600_000, down, up, down // 400, up // 400, h + 600, h + 900, down // 450,
                         up // 450, rng.randrange(3), 0, rng.choice((0, 0, 60_000)), 0))
    store.db.executemany("INSERT INTO hours VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    # what the hourly roll-ups would have added up, hour by hour
    store.db.execute("INSERT INTO month_totals SELECT '2026-11', opd, sum(ms), sum(down_bytes), sum(up_bytes), "
                     "sum(down_drops), sum(up_drops), sum(down_ceil_ms), sum(up_ceil_ms), max(down_peak), "
                     "max(up_peak), min(down_peak_t), min(up_peak_t) FROM hours GROUP BY opd")
    for opd in [*ids, store.province]:
        hist = ({bucket(rng.uniform(1, 100) * MBIT): 60.0 for _ in range(300)},
                {bucket(rng.uniform(0.1, 10) * MBIT): 60.0 for _ in range(300)})
        store.db.execute("INSERT INTO histograms VALUES (?, ?, ?)", ("2026-11", opd, _hist_pack(hist)))
        store.db.execute("INSERT INTO plans VALUES (?, ?, ?, ?, ?, ?)", (start, opd, 20 * MBIT, 100 * MBIT,
                                                                         20 * MBIT, 100 * MBIT))
    store.db.execute("COMMIT")
    counters = {k: [0, 0, 0, 0] for k in keys}
    t = end - 3600
    store.record(t, {k: Reading(*v) for k, v in counters.items()})
    for _ in range(59):
        t += 60
        for c in counters.values():
            c[0] += rng.randrange(10**6, 10**8)
        store.record(t, {k: Reading(*v) for k, v in counters.items()})
    book = {"months": {"2026-11": {k: {"tx_bytes": 1, "tx_packets": 1, "rx_bytes": 1, "rx_packets": 1} for k in keys}}}
    (directory / "usage.json").write_text(json.dumps(book))
    started = time.perf_counter()
    usage.report(usage.read_book(directory), "2026-11")
    book_seconds = time.perf_counter() - started
    store.close()
    return directory, book_seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--opds", default="34,1000")
    parser.add_argument("--hours", type=int, default=24, help="simulated hours of one-minute samples")
    args = parser.parse_args()
    print(f"{'OPDs':>6} {'samples':>8} {'series ms/sample':>17} {'book ms/sample':>15} {'ratio':>6} "
          f"{'samples/day':>12} {'hours/day':>10} {'36 d + 2 y':>11}")
    for opds in map(int, args.opds.split(",")):
        r = write_day(opds, args.hours)
        print(f"{opds:>6} {r['samples']:>8} {r['series_ms']:>17.2f} {r['book_ms']:>15.2f} "
              f"{r['series_ms'] / r['book_ms']:>6.2f} {r['samples_per_day'] / 1e6:>10.2f}MB "
              f"{r['hours_per_day'] / 1e6:>8.2f}MB {r['steady'] / 1e9:>9.2f}GB")
        r["store"].close()
    opds = max(map(int, args.opds.split(",")))
    directory, book_seconds = month_of_hours(opds)
    for _ in range(2):  # the second run is what a page load sees with the file in the page cache
        store = SeriesStore(directory, readonly=True)
        started = time.perf_counter()
        report = compute.month_report(store, "2026-11")
        seconds = time.perf_counter() - started
        store.close()
    print(f"\nmonth report at {opds} OPDs ({len(report['opds'])} OPDs, 720 hours, an open hour of 60 samples): "
          f"{seconds:.2f} s; the usage book's month: {book_seconds * 1000:.1f} ms "
          f"(ratio {seconds / book_seconds:.0f}); goal < 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
