"""How the pages print counts. Rates are printed by pnsbox.model.format_rate, the config's own notation."""

from __future__ import annotations


def format_bytes(count: float) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f} B"
