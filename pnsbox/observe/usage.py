"""Monthly usage per OPD, for auditors' reports.

The kernel's per-OPD counters start again from zero whenever the ruleset is replaced, so
pnsboxd samples them (every minute, and just before each reload) and adds what moved since
the last sample to the month it moved in, in the site's own timezone. A counter lower than
last time was reset: all of it is new. Pure: the daemon reads the counters and keeps the book.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path

from ..model import TIMEZONES

FIELDS = ("tx_bytes", "tx_packets", "rx_bytes", "rx_packets")
BOOK = "usage.json"  # in the state directory; written by pnsboxd only


@dataclass(frozen=True)
class Book:
    """usage.json: per-OPD counts by month, and the last reading (to find what moved since)."""

    months: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # month -> OPD -> FIELDS
    last: dict[str, dict[str, int]] = field(default_factory=dict)  # OPD -> FIELDS, as last read


def read_book(state_dir: str | Path) -> Book:
    """The one reader of usage.json (absent: an empty book)."""
    path = Path(state_dir) / BOOK
    data = json.loads(path.read_text()) if path.is_file() else {}
    return Book(data.get("months") or {}, data.get("last") or {})


def write_book(state_dir: str | Path, book: Book) -> None:
    from ..apply.owned import write_atomic

    # The fields by hand: asdict deep-copies every nested dict first (~20 ms at 1,000 OPDs).
    write_atomic(Path(state_dir) / BOOK, json.dumps({f.name: getattr(book, f.name) for f in fields(book)}))


def month_of(now: datetime, timezone: str) -> str:
    """'2026-11' for a UTC time, as the site's clock shows it (months turn at local midnight)."""
    return (now + timedelta(hours=TIMEZONES[timezone])).strftime("%Y-%m")


def readings(counters) -> dict[str, dict[str, int]]:
    """observe.counters' per-OPD counts as plain numbers."""
    return {name: {"tx_bytes": c["tx"].bytes, "tx_packets": c["tx"].packets,
                   "rx_bytes": c["rx"].bytes, "rx_packets": c["rx"].packets}
            for name, c in counters.opds.items()}


def accumulate(book: Book, current: dict[str, dict[str, int]], month: str) -> Book:
    """The book with what moved since its last reading added to `month` (a new book)."""
    last = book.last
    months = {m: {opd: dict(v) for opd, v in opds.items()} for m, opds in book.months.items()}
    totals = months.setdefault(month, {})
    for opd, now in current.items():
        before = last.get(opd, {})
        entry = totals.setdefault(opd, dict.fromkeys(FIELDS, 0))
        for name in FIELDS:
            moved = now[name] - before.get(name, 0)
            entry[name] += now[name] if moved < 0 else moved  # lower than before: reset, all of it is new
    return Book(months, current)


def report(book: Book, month: str, visible=None) -> dict[str, dict[str, int]]:
    """One month's totals per OPD (only those `visible` allows, when given)."""
    opds = book.months.get(month, {})
    return {name: dict(v) for name, v in sorted(opds.items()) if visible is None or name in visible}
