"""Watching an HA lab fail over: which hub is active, and how long traffic stood still.

The parsers are pure (iperf3's JSON intervals, a request loop's attempts); the waits read
each hub's role as pnsbox.observe.ha tells it (keepalived's word checked against the kernel).
Shared by tests/kernel/test_ha_lab.py and bench/ha.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from ..errors import LabError
from .topology import netns_name

# A request loop in a lab node: one line per attempt, "START END EXIT-CODE" (epoch seconds).
# curl, as an OPD's user would run it; -m bounds each attempt, so a dead path shows within it.
CURL_LOOP = ('end=$(( $(date +%s) + {seconds} )); while [ "$(date +%s)" -lt "$end" ]; do '
             's=$(date +%s.%N); curl -s -o /dev/null -m {timeout} {url}; rc=$?; '
             'echo "$s $(date +%s.%N) $rc"; sleep {pause}; done')


def roles(lab: str, hubs: Iterable[str]) -> dict[str, str]:
    """Each hub's role: active, standby, fault or unknown."""
    from ..observe.ha import role

    return {hub: role(netns_name(lab, hub)).role for hub in hubs}


def wait_for_active(lab: str, hubs: list[str], seconds: float, not_: str | None = None) -> str:
    """The one active hub (other than NOT_), once the other one is not active too."""
    deadline = time.monotonic() + seconds
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        seen = roles(lab, hubs)
        active = [hub for hub, said in seen.items() if said == "active"]
        if len(active) == 1 and active[0] != not_:
            return active[0]
        time.sleep(0.05)
    raise LabError(f"lab {lab}: no single active hub within {seconds:g} s (roles: {seen})")


def wait_for_roles(lab: str, want: dict[str, str], seconds: float) -> dict[str, str]:
    """The hubs' roles once they are WANT (or whatever they are when SECONDS have passed)."""
    deadline = time.monotonic() + seconds
    while (seen := roles(lab, want)) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


def stalls(intervals: list[dict]) -> list[float]:
    """The spells without a byte in iperf3's JSON `intervals` (seconds each, longest first)."""
    spells, current = [], 0.0
    for interval in intervals:
        total = interval["sum"]
        if total["bytes"] == 0:
            current += total["end"] - total["start"]
        elif current:
            spells.append(current)
            current = 0.0
    if current:
        spells.append(current)
    return sorted(spells, reverse=True)


def attempts(text: str) -> list[tuple[float, float, bool]]:
    """CURL_LOOP's output as (start, end, succeeded)."""
    out = []
    for line in text.splitlines():
        start, end, code = line.split()
        out.append((float(start), float(end), code == "0"))
    return out


def outage(tries: list[tuple[float, float, bool]]) -> tuple[float, int]:
    """The longest time the loop saw no success (from the end of the last good attempt to the
    start of the next good one), and how many attempts failed in all."""
    longest, last_good = 0.0, None
    for start, end, ok in tries:
        if ok:
            if last_good is not None:
                longest = max(longest, start - last_good)
            last_good = end
    return longest, sum(1 for *_, ok in tries if not ok)
