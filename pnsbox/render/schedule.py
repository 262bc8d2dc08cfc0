"""Schedules in the site's timezone -> windows in UTC for nft's `meta day`/`meta hour`.

The kernel compares `meta hour` against UTC and `meta day` against the
kernel's timezone (sys_tz, 0 on systemd machines), and nft converts hours
from the timezone of the process that runs it. We render in UTC and run nft
with TZ=UTC, so "07:30" in the config means 07:30 in `site.timezone`
whatever the box's clock zone is. Indonesian zones have no DST, so a fixed
offset is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..model import DAYS, TIMEZONES, Schedule

NFT_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


@dataclass(frozen=True)
class UtcWindow:
    """Days (0 = Monday, in UTC) on which minutes [start, end) of the UTC day match."""

    days: tuple[int, ...]
    start: int
    end: int

    def nft_match(self, days_set: str | None = None) -> str:
        """`days_set` names a set of several days (render.nft shares them between rules)."""
        days = ", ".join(f'"{NFT_DAYS[d]}"' for d in self.days)
        day_match = f"meta day {days_set or '{ ' + days + ' }'}" if len(self.days) > 1 else f"meta day {days}"
        if self.start == 0 and self.end == MINUTES_PER_DAY:
            return day_match
        return f'{day_match} meta hour "{_clock(self.start)}"-"{_clock(self.end, end=True)}"'


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(minutes: int, end: bool = False) -> str:
    if end:  # nft ranges include their end; stop one second before the window closes
        seconds = minutes * 60 - 1
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def utc_windows(schedule: Schedule, timezone: str) -> list[UtcWindow]:
    """The schedule's local windows as UTC windows, grouped by equal hours."""
    offset = TIMEZONES[timezone] * 60
    start, end = _minutes(schedule.from_), _minutes(schedule.to)
    length = (end - start) % MINUTES_PER_DAY or MINUTES_PER_DAY  # to < from runs past midnight
    pieces: dict[tuple[int, int], set[int]] = {}
    for day in schedule.days:
        begin = (DAYS.index(day) * MINUTES_PER_DAY + start - offset) % MINUTES_PER_WEEK
        remaining = length
        while remaining > 0:  # split at UTC midnights
            utc_day, minute = divmod(begin, MINUTES_PER_DAY)
            take = min(remaining, MINUTES_PER_DAY - minute)
            pieces.setdefault((minute, minute + take), set()).add(utc_day % 7)
            begin = (begin + take) % MINUTES_PER_WEEK
            remaining -= take
    return [UtcWindow(tuple(sorted(days)), s, e) for (s, e), days in sorted(pieces.items())]


def is_open(schedule: Schedule, timezone: str, weekday: int, minute: int) -> bool:
    """Is the window open at a UTC weekday (0 = Monday) and minute of the UTC day?"""
    return any(weekday in w.days and w.start <= minute < w.end
               for w in utc_windows(schedule, timezone))



def next_edge(schedules: Iterable[Schedule], timezone: str, now: datetime) -> datetime | None:
    """The first UTC minute after `now` (aware, UTC) at which one of the schedules opens or
    closes; None without schedules."""
    edges = {(day * MINUTES_PER_DAY + minute) % MINUTES_PER_WEEK for schedule in schedules
             for window in utc_windows(schedule, timezone) for day in window.days
             for minute in (window.start, window.end)}
    if not edges:
        return None
    at = now.weekday() * MINUTES_PER_DAY + now.hour * 60 + now.minute
    ahead = min((edge - at - 1) % MINUTES_PER_WEEK + 1 for edge in edges)
    return now.replace(second=0, microsecond=0) + timedelta(minutes=ahead)
