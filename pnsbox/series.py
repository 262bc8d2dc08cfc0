"""Per-OPD rate series in one SQLite file in the state directory (`series.db`), kept by pnsboxd.

pnsboxd hands `record` the kernel's counters every `--usage-interval` seconds and just before
every reload; the store keeps what moved since the last reading (a counter lower than before was
reset: all of it is new, as in observe.usage), so restarts, reloads and resets lose nothing.

  samples     one row per sample: its end time, its length and, packed in one blob, every OPD's
              bytes, drops and seconds near its ceiling in both directions. Kept FINE_DAYS.
  hours       one row per OPD per hour (sums, the peak rate and when, the hour's p95). Kept
              HOURLY_DAYS. The province (every OPD together) is the OPD `*`.
  histograms  per month and OPD, how long each rate lasted (1%-wide buckets): a month's p95
              without reading every sample back.
  month_totals per month and OPD, the sums and peaks of its summarised hours: a month's report
              reads one row per OPD, not 720.
  plans       each OPD's guarantee and ceiling, a row whenever they change.
  categories  bytes per application category per hour (the kernel counts them box-wide).
  opd_categories  per month, OPD and category, the bytes both ways (the kernel's dynamic sets).
  state       the last counters read, and what was read but not yet written as a sample.

Every record is one transaction (WAL, synchronous=FULL): a crash leaves the last whole sample.
Hours are rolled up when the first sample of a later hour arrives; the hour still open is read
from the samples. Months are the site's (timezones here are whole hours east of UTC).
"""

from __future__ import annotations

import json
import math
import sqlite3
import zlib
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FILE = "series.db"
FINE_DAYS = 36  # a whole month and the days around it at sample resolution
HOURLY_DAYS = 2 * 366 + 1
PROVINCE = "*"
DIRECTIONS = ("down", "up")  # down: toward the OPD (download, the counters' rx); up: from it (tx)
NEAR_CEILING = 0.9  # a sample at 90% of the ceiling or more counts as time at the ceiling
FIELDS = ("down_bytes", "up_bytes", "down_drops", "up_drops", "down_ceil_ms", "up_ceil_ms")
COUNTED = FIELDS[:4]  # what the kernel counts (and may reset); the rest is worked out here
# Histogram buckets: 0 for rates under 1 kbit/s, then 1% wide up to 1 Tbit/s.
BUCKET_BASE, BUCKET_RATIO = 1000.0, 1.01
BUCKETS = 2 + int(math.log(1e12 / BUCKET_BASE) / math.log(BUCKET_RATIO))

SCHEMA = """
CREATE TABLE IF NOT EXISTS opds (id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS samples (t INTEGER PRIMARY KEY, ms INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS hours (
  h INTEGER NOT NULL, opd INTEGER NOT NULL, ms INTEGER NOT NULL,
  down_bytes INTEGER NOT NULL, up_bytes INTEGER NOT NULL,
  down_peak INTEGER NOT NULL, up_peak INTEGER NOT NULL,       -- bit/s
  down_peak_t INTEGER NOT NULL, up_peak_t INTEGER NOT NULL,   -- when the peak's sample began
  down_p95 INTEGER NOT NULL, up_p95 INTEGER NOT NULL,         -- bit/s, over the hour's samples
  down_drops INTEGER NOT NULL, up_drops INTEGER NOT NULL,
  down_ceil_ms INTEGER NOT NULL, up_ceil_ms INTEGER NOT NULL,
  PRIMARY KEY (h, opd)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS month_totals (month TEXT NOT NULL, opd INTEGER NOT NULL, ms INTEGER NOT NULL,
  down_bytes INTEGER NOT NULL, up_bytes INTEGER NOT NULL, down_drops INTEGER NOT NULL, up_drops INTEGER NOT NULL,
  down_ceil_ms INTEGER NOT NULL, up_ceil_ms INTEGER NOT NULL, down_peak INTEGER NOT NULL, up_peak INTEGER NOT NULL,
  down_peak_t INTEGER NOT NULL, up_peak_t INTEGER NOT NULL, PRIMARY KEY (month, opd)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS histograms (month TEXT NOT NULL, opd INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (month, opd)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plans (t INTEGER NOT NULL, opd INTEGER NOT NULL, down_g INTEGER, down_c INTEGER,
  up_g INTEGER, up_c INTEGER, PRIMARY KEY (opd, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS categories (h INTEGER NOT NULL, category TEXT NOT NULL, bytes INTEGER NOT NULL,
  PRIMARY KEY (h, category)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS opd_categories (month TEXT NOT NULL, opd INTEGER NOT NULL, category TEXT NOT NULL,
  bytes INTEGER NOT NULL, PRIMARY KEY (month, opd, category)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


# Later peaks win only when higher (SET expressions all see the row as it was).
MONTH_UPSERT = """INSERT INTO month_totals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (month, opd) DO UPDATE SET
  ms = ms + excluded.ms, down_bytes = down_bytes + excluded.down_bytes, up_bytes = up_bytes + excluded.up_bytes,
  down_drops = down_drops + excluded.down_drops, up_drops = up_drops + excluded.up_drops,
  down_ceil_ms = down_ceil_ms + excluded.down_ceil_ms, up_ceil_ms = up_ceil_ms + excluded.up_ceil_ms,
  down_peak_t = CASE WHEN excluded.down_peak > down_peak THEN excluded.down_peak_t ELSE down_peak_t END,
  up_peak_t = CASE WHEN excluded.up_peak > up_peak THEN excluded.up_peak_t ELSE up_peak_t END,
  down_peak = max(down_peak, excluded.down_peak), up_peak = max(up_peak, excluded.up_peak)"""


@dataclass(frozen=True)
class Reading:
    """One OPD's counters as the kernel holds them now (they start again at a reload)."""

    down_bytes: int = 0
    up_bytes: int = 0
    down_drops: int = 0
    up_drops: int = 0


@dataclass(frozen=True)
class Plan:
    """The guarantee and ceiling in force (bit/s) per direction; 0 when not shaped."""

    down_g: int = 0
    down_c: int = 0
    up_g: int = 0
    up_c: int = 0


def bucket(rate: float) -> int:
    if rate < BUCKET_BASE:
        return 0
    return min(BUCKETS - 1, 1 + int(math.log(rate / BUCKET_BASE) / math.log(BUCKET_RATIO)))


def bucket_rate(index: int) -> float:
    """The middle of a bucket (geometric): within half a percent of any rate in it."""
    return 0.0 if index == 0 else BUCKET_BASE * BUCKET_RATIO ** (index - 0.5)


def percentile(weights: Mapping[int, float], share: float = 0.95) -> float:
    """The rate under which `share` of the weighted time was spent, from bucket -> seconds."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    running = 0.0
    for index in sorted(weights):
        running += weights[index]
        if running >= share * total - 1e-9:
            return bucket_rate(index)
    return bucket_rate(max(weights))


def exact_percentile(pairs: Iterable[tuple[float, float]], share: float = 0.95) -> float:
    """(rate, seconds) pairs -> the rate under which `share` of the time was spent."""
    ordered = sorted(pairs)
    total = sum(seconds for _, seconds in ordered)
    running = 0.0
    for rate, seconds in ordered:
        running += seconds
        if running >= share * total - 1e-9:
            return rate
    return ordered[-1][0] if ordered else 0.0


def month_of(t: float, offset_hours: int) -> str:
    return datetime.fromtimestamp(t + offset_hours * 3600, UTC).strftime("%Y-%m")


def month_bounds(month: str, offset_hours: int) -> tuple[int, int]:
    """[start, end) of a site month in unix seconds."""
    start = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
    end = datetime.strptime(next_month(month) + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
    shift = offset_hours * 3600
    return int(start.timestamp()) - shift, int(end.timestamp()) - shift


def hour_of(t: float) -> int:
    """The hour a sample ending at `t` belongs to (one ending on the hour: the hour before)."""
    return (math.ceil(t) - 1) // 3600 * 3600


def next_month(month: str) -> str:
    year, number = map(int, month.split("-"))
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def _pack(rows: dict[int, tuple[int, ...]]) -> bytes:
    flat = array("q")
    for opd, values in rows.items():
        flat.append(opd)
        flat.extend(values)
    return zlib.compress(flat.tobytes(), 1)


def _unpack(blob: bytes) -> dict[int, tuple[int, ...]]:
    flat = array("q")
    flat.frombytes(zlib.decompress(blob))
    width = 1 + len(FIELDS)
    return {flat[i]: tuple(flat[i + 1:i + width]) for i in range(0, len(flat), width)}


def _hist_pack(hist: tuple[dict[int, float], dict[int, float]]) -> bytes:
    return zlib.compress(json.dumps([sorted(h.items()) for h in hist]).encode(), 1)


def _hist_unpack(blob: bytes) -> tuple[dict[int, float], dict[int, float]]:
    down, up = json.loads(zlib.decompress(blob))
    return {int(k): v for k, v in down}, {int(k): v for k, v in up}


class SeriesStore:
    def __init__(self, state_dir: str | Path, timezone_hours: int = 7, readonly: bool = False):
        self.path = Path(state_dir) / FILE
        self.offset = timezone_hours
        self.readonly = readonly
        self._hour_cache: dict[int, dict] = {}
        if readonly:
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a sample written is a sample kept
            self.db.executescript(SCHEMA)
        self._ids: dict[str, int] = dict(self.db.execute("SELECT key, id FROM opds").fetchall())
        if readonly:
            self._ids.setdefault(PROVINCE, 0)  # ids start at 1: 0 is free for a province never written
        self.keys = {v: k for k, v in self._ids.items()}
        self.province = self.id_of(PROVINCE)
        if readonly:  # the writer's timezone: months are the site's
            self.offset = self._get("offset", timezone_hours)

    def close(self) -> None:
        self.db.close()

    # --- small helpers ------------------------------------------------------------------

    def _get(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def _set(self, key: str, value) -> None:
        self.db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, json.dumps(value)))

    def id_of(self, key: str) -> int:
        if key not in self._ids:
            self._ids[key] = self.db.execute("INSERT INTO opds (key) VALUES (?)", (key,)).lastrowid
            self.keys[self._ids[key]] = key
        return self._ids[key]

    # --- writing ------------------------------------------------------------------------

    def record(self, now: float, readings: Mapping[str, Reading], plans: Mapping[str, Plan] | None = None,
               categories: Mapping[str, int] | None = None, min_seconds: float = 0.5,
               names: Mapping[str, str] | None = None, site: str | None = None,
               opd_categories: Mapping[str, Mapping[str, int]] | None = None) -> bool:
        """Add what moved since the last reading. A reading closer than `min_seconds` to the last
        written sample (the one taken just before a reload) is carried into the next sample, so a
        rate is never worked out over a sliver of time. True when a sample was written."""
        plans = plans or {}
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self._get("offset") != self.offset:
                self._set("offset", self.offset)
            if site and self._get("site") != site:
                self._set("site", site)
            if names and {**self.names(), **names} != self.names():
                self._set("names", {**self.names(), **names})
            written = self._record(now, readings, plans, categories or {}, min_seconds)
            if opd_categories is not None:
                self._record_opd_categories(now, opd_categories)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return written

    def _record(self, now, readings, plans, categories, min_seconds) -> bool:
        last = self._get("last", {})  # key -> the counters read last time
        carry = self._get("carry", {})  # key -> what moved but is not in a sample yet
        since = self._get("since")  # when the sample being gathered began
        for key, reading in readings.items():
            self.id_of(key)
            before = last.get(key, [0] * len(COUNTED))
            moved = carry.get(key, [0] * len(COUNTED))
            for i, field in enumerate(COUNTED):
                value = getattr(reading, field)
                step = value - before[i]
                moved[i] += value if step < 0 else step  # lower than before: reset, all of it is new
            carry[key] = moved
            last[key] = [getattr(reading, f) for f in COUNTED]
        cats_last = self._get("categories_last", {})
        for name, value in categories.items():
            step = value - cats_last.get(name, 0)
            moved = value if step < 0 else step
            if moved:
                self.db.execute("INSERT INTO categories VALUES (?, ?, ?) ON CONFLICT (h, category) DO UPDATE "
                                "SET bytes = bytes + excluded.bytes", (hour_of(now), name, moved))
        self._set("categories_last", dict(categories))
        self._set("last", last)
        self._note_plans(now, plans)
        if since is None:  # the very first reading: the counters' start is not known, nothing to rate
            self._set("since", now)
            self._set("carry", {})
            return False
        seconds = now - since
        if seconds < min_seconds:
            self._set("carry", carry)
            return False
        self._roll_up_before(now)
        rows = {}
        for key, moved in carry.items():
            plan = plans.get(key, Plan())
            at_ceiling = [int(seconds * 1000) if c and moved[i] * 8 / seconds >= NEAR_CEILING * c else 0
                          for i, c in enumerate((plan.down_c, plan.up_c))]
            rows[self.id_of(key)] = (*moved, *at_ceiling)
        t = int(now * 1000)
        self.db.execute("INSERT OR REPLACE INTO samples VALUES (?, ?, ?)", (t, int(seconds * 1000), _pack(rows)))
        self._set("since", now)
        self._set("carry", {})
        self._set("open_hour", hour_of(now))
        return True

    def _record_opd_categories(self, now: float, found: Mapping[str, Mapping[str, int]]) -> None:
        """Bytes per OPD and category moved since the last reading, into the month (per hour
        would be OPDs × categories rows an hour). A value below the last one is a reset (a
        reload empties the kernel's sets): all of it is new."""
        last = self._get("opd_categories_last", {})
        for key, by_category in found.items():
            before = last.get(key, {})
            for name, value in by_category.items():
                step = value - before.get(name, 0)
                moved = value if step < 0 else step
                if moved:
                    self.db.execute("INSERT INTO opd_categories VALUES (?, ?, ?, ?) ON CONFLICT (month, opd, category) "
                                    "DO UPDATE SET bytes = bytes + excluded.bytes",
                                    (month_of(now, self.offset), self.id_of(key), name, moved))
        self._set("opd_categories_last", {key: dict(v) for key, v in found.items()})

    def _note_plans(self, now: float, plans: Mapping[str, Plan]) -> None:
        known = self._get("plans", {})
        changed = {k: p for k, p in plans.items() if known.get(k) != list(vars(p).values())}
        for key, plan in changed.items():
            self.db.execute("INSERT OR REPLACE INTO plans VALUES (?, ?, ?, ?, ?, ?)",
                            (int(now), self.id_of(key), plan.down_g, plan.down_c, plan.up_g, plan.up_c))
            known[key] = list(vars(plan).values())
        if changed:
            self._set("plans", known)

    def _roll_up_before(self, now: float) -> None:
        """Summarise every hour before the one `now` falls in that has samples not yet summarised."""
        current = hour_of(now)
        open_hour = self._get("open_hour")
        if open_hour is None or open_hour >= current:
            return
        stats = self.hour_stats(open_hour)
        month = month_of(open_hour, self.offset)
        for opd, s in stats.items():
            self.db.execute("INSERT OR REPLACE INTO hours VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            (open_hour, opd, s["ms"], *s["bytes"], *s["peak"], *s["peak_t"], *s["p95"],
                             *s["drops"], *s["ceil_ms"]))
            row = self.db.execute("SELECT data FROM histograms WHERE month = ? AND opd = ?", (month, opd)).fetchone()
            hist = _hist_unpack(row[0]) if row else ({}, {})
            for d in range(2):
                for index, seconds in s["hist"][d].items():
                    hist[d][index] = hist[d].get(index, 0.0) + seconds
            self.db.execute("INSERT OR REPLACE INTO histograms VALUES (?, ?, ?)", (month, opd, _hist_pack(hist)))
            self.db.execute(MONTH_UPSERT, (month, opd, s["ms"], *s["bytes"], *s["drops"], *s["ceil_ms"], *s["peak"],
                                           *s["peak_t"]))
        self._set("open_hour", current)
        self._prune(now)

    def _prune(self, now: float) -> None:
        self.db.execute("DELETE FROM samples WHERE t < ?", (int((now - FINE_DAYS * 86400) * 1000),))
        oldest_hour = int(now - HOURLY_DAYS * 86400)
        self.db.execute("DELETE FROM hours WHERE h < ?", (oldest_hour,))
        self.db.execute("DELETE FROM categories WHERE h < ?", (oldest_hour,))
        self.db.execute("DELETE FROM opd_categories WHERE month < ?", (month_of(oldest_hour, self.offset),))
        self.db.execute("DELETE FROM histograms WHERE month < ?", (month_of(oldest_hour, self.offset),))
        self.db.execute("DELETE FROM month_totals WHERE month < ?", (month_of(oldest_hour, self.offset),))

    # --- reading ------------------------------------------------------------------------

    def samples(self, start: float, end: float) -> list[tuple[float, float, dict[int, tuple[int, ...]]]]:
        """(end time, seconds, {opd id: FIELDS}) of the samples that ended in (start, end]: a sample
        ending on the hour is the hour before's."""
        rows = self.db.execute("SELECT t, ms, data FROM samples WHERE t > ? AND t <= ? ORDER BY t",
                               (int(start * 1000), int(end * 1000)))
        return [(t / 1000, ms / 1000, _unpack(data)) for t, ms, data in rows]

    def hour_stats(self, hour: int) -> dict[int, dict]:
        """Per OPD id (and the province's), one hour summarised from its samples. A read-only
        store (one per report) keeps the answer: the hour cannot change under it."""
        if self.readonly and hour in self._hour_cache:
            return self._hour_cache[hour]
        gathered: dict[int, list] = {}
        for t, seconds, rows in self.samples(hour, hour + 3600):
            when = (math.ceil(t), seconds)
            for opd, values in rows.items():
                found = gathered.get(opd)
                if found is None:
                    found = gathered[opd] = []
                found.append((when, values))
            total = [sum(column) for column in zip(*rows.values(), strict=True)] if rows else [0] * len(FIELDS)
            total[4] = total[5] = 0  # the province's time at the pipe's ceiling is not summed from OPDs
            gathered.setdefault(self.province, []).append((when, total))
        stats = {opd: self._summary(items) for opd, items in gathered.items()}
        if self.readonly:
            self._hour_cache[hour] = stats
        return stats

    @staticmethod
    def _summary(items: list) -> dict:
        """One OPD's samples of an hour -> sums, peaks and when, p95, histogram weights."""
        s = {"ms": sum(int(seconds * 1000) for (_, seconds), _ in items), "bytes": [0, 0], "peak": [0, 0],
             "peak_t": [0, 0], "drops": [0, 0], "ceil_ms": [0, 0], "hist": ({}, {}), "p95": [0, 0]}
        for d in range(2):
            s["bytes"][d] = sum(v[d] for _, v in items)
            s["drops"][d] = sum(v[2 + d] for _, v in items)
            s["ceil_ms"][d] = sum(v[4 + d] for _, v in items)
            rates = [(v[d] * 8 / seconds if seconds > 0 else 0.0, seconds, t) for (t, seconds), v in items]
            peak = max(rates, key=lambda r: (r[0], -r[2]))  # the first of equal peaks
            # when the peak's sample began: a minute from 09:00 is the 09:00 hour's
            s["peak"][d], s["peak_t"][d] = int(peak[0]), int(peak[2] - peak[1]) if peak[0] > 0 else 0
            hist = s["hist"][d]
            for rate, seconds, _ in rates:
                index = bucket(rate)
                hist[index] = hist.get(index, 0.0) + seconds
            s["p95"][d] = int(exact_percentile((rate, seconds) for rate, seconds, _ in rates))
        return s

    def names(self) -> dict[str, str]:
        """OPD key -> its display name, as last seen."""
        return self._get("names", {})

    def open_hour(self) -> int | None:
        return self._get("open_hour")

    def histogram(self, month: str, opd: int) -> tuple[dict[int, float], dict[int, float]]:
        row = self.db.execute("SELECT data FROM histograms WHERE month = ? AND opd = ?", (month, opd)).fetchone()
        return _hist_unpack(row[0]) if row else ({}, {})

    def histograms(self, month: str) -> dict[int, tuple[dict[int, float], dict[int, float]]]:
        return {opd: _hist_unpack(data)
                for opd, data in self.db.execute("SELECT opd, data FROM histograms WHERE month = ?", (month,))}

    def plans_in(self, start: int, end: int) -> dict[int, list[tuple[int, Plan]]]:
        """Each OPD's plans in force during [start, end): the one before `start` and every change."""
        found: dict[int, list[tuple[int, Plan]]] = {}
        for opd, t, *values in self.db.execute(
                "SELECT opd, t, down_g, down_c, up_g, up_c FROM plans p WHERE t < ? AND t >= coalesce("
                "(SELECT max(t) FROM plans q WHERE q.opd = p.opd AND q.t <= ?), 0) ORDER BY opd, t", (end, start)):
            found.setdefault(opd, []).append((t, Plan(*values)))
        return found

    def months(self) -> list[str]:
        found = {m for (m,) in self.db.execute("SELECT DISTINCT month FROM histograms")}
        open_hour = self.open_hour()
        if open_hour is not None:
            found.add(month_of(open_hour, self.offset))
        return sorted(found)
