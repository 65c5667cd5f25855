"""Calendar helpers for seeded data: the EU daylight-saving switches and the cultural season.

Vendors' bugs cluster around the nights the clocks change (a performance that starts at 22:00 CEST
and ends at 03:30 CET), so every sandbox seeds a few; these helpers say which nights those are.
"""

from __future__ import annotations

from datetime import date, timedelta


def last_sunday(year: int, month: int) -> date:
    """The last Sunday of a month (the EU switches to summer time in March and back in October)."""
    last_day = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last_day - timedelta(days=(last_day.weekday() + 1) % 7)


def dst_switch_days(year: int) -> tuple[date, date]:
    """The Sundays the EU clocks change in ``year``: (to summer time in March, to winter time in October)."""
    return last_sunday(year, 3), last_sunday(year, 10)


def dst_nights(year: int) -> tuple[date, date]:
    """The Saturdays whose nights cross the clock change in ``year`` (March, October)."""
    spring, autumn = dst_switch_days(year)
    return spring - timedelta(days=1), autumn - timedelta(days=1)


def season_start(today: date, month: int = 9) -> date:
    """The first day of the cultural season ``today`` falls in (seasons start in September)."""
    return date(today.year if today.month >= 7 else today.year - 1, month, 1)
