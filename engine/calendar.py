"""Working days (SPEC §1 `calendar`): Monday–Friday, or China's official calendar with 调休.

The `cn` calendar reads the `chinese_calendar` package, which carries the
State Council's holiday notices year by year. Years it does not know yet
fall back to Monday–Friday rather than failing a rule at run time.
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar

_DAY = timedelta(days=1)


class WorkCalendar:
    """Which days are working days, and counting over them."""

    #: registry of calendars by the name a bundle uses
    kinds: dict[str, type[WorkCalendar]] = {}
    name = "none"

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.name in WorkCalendar.kinds:
            raise RuntimeError(f"calendar `{cls.name}` registered twice")
        WorkCalendar.kinds[cls.name] = cls

    def is_workday(self, d: date) -> bool:
        return d.weekday() < 5

    def add_workdays(self, d: date, n: int) -> date:
        n = int(n)
        step = _DAY if n >= 0 else -_DAY
        left = abs(n)
        while left:
            d += step
            if self.is_workday(d):
                left -= 1
        return d

    def next_workday(self, d: date) -> date:
        """`d` itself when it is a working day, else the first working day after it."""
        while not self.is_workday(d):
            d += _DAY
        return d

    def workdays_between(self, a: date, b: date) -> int:
        if b < a:
            return -self.workdays_between(b, a)
        count = 0
        d = a
        while d < b:
            d += _DAY
            if self.is_workday(d):
                count += 1
        return count


class MondayToFriday(WorkCalendar):
    name = "none"




class ChinaCalendar(WorkCalendar):
    name = "cn"

    def is_workday(self, d: date) -> bool:
        return _cn_workday(d)


@lru_cache(maxsize=8192)
def _cn_workday(d: date) -> bool:
    try:
        return chinese_calendar.is_workday(d)
    except NotImplementedError:  # a year the package has no notice for yet
        return d.weekday() < 5


def get(name: str) -> WorkCalendar:
    return WorkCalendar.kinds[name]()
