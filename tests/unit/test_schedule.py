"""Local schedule windows -> UTC day/hour windows for nft."""

from datetime import UTC, datetime, timedelta

import pytest

from pnsbox.model import TIMEZONES, Schedule
from pnsbox.render.schedule import is_open, next_edge, utc_windows


def sched(days, start, end):
    return Schedule.model_validate({"days": days, "from": start, "to": end})


def test_jakarta_office_hours_stay_on_the_same_day():
    windows = utc_windows(sched(["mon", "fri"], "07:30", "16:00"), "Asia/Jakarta")
    assert [(w.days, w.start, w.end) for w in windows] == [((0, 4), 30, 9 * 60)]
    assert windows[0].nft_match() == 'meta day { "Monday", "Friday" } meta hour "00:30"-"08:59:59"'


def test_jayapura_morning_starts_the_day_before_in_utc():
    windows = utc_windows(sched(["mon"], "07:30", "16:00"), "Asia/Jayapura")
    assert [(w.days, w.start, w.end) for w in windows] == [((0,), 0, 7 * 60), ((6,), 22 * 60 + 30, 24 * 60)]


def test_a_whole_local_day_is_two_utc_pieces():
    windows = utc_windows(sched(["sun"], "00:00", "24:00"), "Asia/Jakarta")
    assert [(w.days, w.start, w.end) for w in windows] == [((6,), 0, 17 * 60), ((5,), 17 * 60, 24 * 60)]
    assert windows[1].nft_match() == 'meta day "Saturday" meta hour "17:00"-"23:59:59"'


@pytest.mark.parametrize("zone", sorted(TIMEZONES))
@pytest.mark.parametrize("days, start, end", [
    (["mon", "tue", "wed", "thu", "fri"], "07:30", "16:00"),
    (["sat"], "22:00", "06:00"),
    (["sun", "wed"], "00:00", "24:00"),
    (["fri"], "23:59", "00:01"),
])
def test_windows_agree_with_local_clock_every_minute_of_a_week(zone, days, start, end):
    """Brute force: walk a week minute by minute and compare with the local wall clock."""
    schedule = sched(days, start, end)
    offset = timedelta(hours=TIMEZONES[zone])
    s_min = int(start[:2]) * 60 + int(start[3:])
    e_min = int(end[:2]) * 60 + int(end[3:])
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    t = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
    for _ in range(0, 7 * 24 * 60, 7):
        local = t + offset
        minute = local.hour * 60 + local.minute
        today, yesterday = names[local.weekday()], names[(local.weekday() - 1) % 7]
        if s_min < e_min:
            expected = today in days and s_min <= minute < e_min
        else:  # runs past midnight (or a whole day when equal)
            expected = (today in days and minute >= s_min) or (yesterday in days and minute < e_min)
        assert is_open(schedule, zone, t.weekday(), t.hour * 60 + t.minute) == expected, (zone, t)
        t += timedelta(minutes=7)



def test_the_next_edge_is_the_first_opening_or_closing_after_now_in_any_schedule():
    office = sched(["mon", "fri"], "07:30", "16:00")  # Jakarta: 00:30-09:00 UTC on Monday and Friday
    night = sched(["sat"], "22:00", "06:00")  # Jayapura (UTC+9): Saturday 13:00 to 21:00 UTC
    monday = datetime(2026, 11, 30, 0, 10, 42, tzinfo=UTC)  # a Monday
    assert next_edge([office], "Asia/Jakarta", monday) == monday.replace(minute=30, second=0)
    at_opening = monday.replace(minute=30)
    assert next_edge([office], "Asia/Jakarta", at_opening) == monday.replace(hour=9, minute=0, second=0)
    after_monday = monday.replace(hour=10)
    assert next_edge([office], "Asia/Jakarta", after_monday) == (monday + timedelta(days=4)).replace(minute=30, second=0)
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert next_edge([office, night], "Asia/Jayapura", saturday) == saturday.replace(hour=13)
    assert next_edge([office, night], "Asia/Jayapura", saturday.replace(hour=14)) == saturday.replace(hour=21)
    # then Monday 07:30 in Jayapura, which is Sunday 22:30 UTC
    assert next_edge([office, night], "Asia/Jayapura", saturday.replace(hour=21)) == datetime(2026, 12, 6, 22, 30,
                                                                                            tzinfo=UTC)
    late_sunday = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)  # wraps into next week's Monday
    assert next_edge([office], "Asia/Jakarta", late_sunday) == late_sunday.replace(hour=0, minute=30) + timedelta(days=1)
    assert next_edge([], "Asia/Jakarta", monday) is None
