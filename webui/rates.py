"""Bandwidth rates as the config writes them (`50mbit`, `1gbit`) and as people read them."""

from __future__ import annotations

import re

_UNITS = {"": 1, "bit": 1, "k": 10**3, "kbit": 10**3, "m": 10**6, "mbit": 10**6, "g": 10**9, "gbit": 10**9,
          "t": 10**12, "tbit": 10**12}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?(?:bit)?)\s*$", re.IGNORECASE)


def parse_rate(text) -> int:
    """Bits per second; ValueError with a readable message for anything else."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return int(text)
    match = _RATE.match(str(text or ""))
    if not match:
        raise ValueError(f"`{text}` is not a rate: write a number and a unit, like 50mbit or 1gbit")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_rate(bits: float) -> str:
    for unit, size in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bits >= size:
            value = bits / size
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{bits:.0f}bit"


def format_bytes(count: float) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f} B"
