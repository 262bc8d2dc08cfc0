"""Search, filter and paging for long lists (OPDs, history, audit): `?q=` keeps the rows whose
text holds it (any case), `?page=N` and `?per=M` choose the slice."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import request

PER_PAGE = 50


@dataclass(frozen=True)
class Page:
    items: list
    number: int
    pages: int
    total: int
    query: str

    def args(self, number: int) -> dict:
        """The query string of another page of the same search."""
        kept = {k: v for k, v in request.args.items() if k != "page"}
        return {**kept, "page": number}


def _number(name: str, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(request.args.get(name, default)), low), high)
    except ValueError:
        return default


def page_of(items: Iterable, text_of: Callable[[object], str]) -> Page:
    query = request.args.get("q", "").strip()[:100]
    wanted = query.lower()
    kept = [item for item in items if wanted in text_of(item).lower()] if wanted else list(items)
    per = _number("per", PER_PAGE, 5, 500)
    pages = max(1, -(-len(kept) // per))
    number = _number("page", 1, 1, pages)
    return Page(kept[(number - 1) * per:number * per], number, pages, len(kept), query)
