"""Working-day calendars for deadlines, from the ``holidays`` package (never hand-typed holiday lists).

For Russia the package carries the production calendar's transfers: days off moved onto weekdays (e.g.
Friday 9 January 2026) and working Saturdays (e.g. 27 April 2024); for the UK, the bank holidays of each
nation (England, Wales, Scotland, Northern Ireland). Dates here are calendar dates in the jurisdiction;
turning instants into dates (in the provider's zone) is the caller's job.
"""

from __future__ import annotations

import datetime as dt
from importlib.metadata import version

import holidays

_ONE_DAY = dt.timedelta(days=1)


class WorkCalendar:
    """Working days of one country (and subdivision), with the library's transfers and bank holidays."""

    def __init__(self, country: str, subdiv: str | None = None) -> None:
        self.country = country
        self.subdiv = subdiv
        self._days = holidays.country_holidays(country, subdiv=subdiv)

    @property
    def name(self) -> str:
        """What the calendar is, for the record: ``holidays 0.109 RU`` or ``holidays 0.109 GB-ENG``."""
        where = self.country + (f"-{self.subdiv}" if self.subdiv else "")
        return f"holidays {version('holidays')} {where}"

    def is_working_day(self, day: dt.date) -> bool:
        """Not a weekend (unless a transferred working day) and not a holiday or transferred day off."""
        return bool(self._days.is_working_day(day))

    def holiday_name(self, day: dt.date) -> str | None:
        """The holiday's name in the library's language, or None."""
        name = self._days.get(day)
        return str(name) if name else None

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``."""
        return self.add_working_days(day, 1)

    def add_working_days(self, day: dt.date, count: int) -> dt.date:
        """The ``count``-th working day strictly after ``day`` (``count`` ≥ 1)."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        current = day
        for _ in range(count):
            current += _ONE_DAY
            while not self.is_working_day(current):
                current += _ONE_DAY
        return current

    def roll_forward(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a working day, else the next working day."""
        current = day
        while not self.is_working_day(current):
            current += _ONE_DAY
        return current
