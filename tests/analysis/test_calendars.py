"""Working-day calendars come from the holidays package: Russian transfers and UK bank holidays per nation."""

from __future__ import annotations

import datetime as dt

from watchdog.analysis.calendars import WorkCalendar

D = dt.date


def test_russian_production_calendar_knows_transfers() -> None:
    ru = WorkCalendar("RU")
    assert ru.is_working_day(D(2024, 4, 27))  # a working Saturday (days moved to 29-30 April)
    assert not ru.is_working_day(D(2024, 4, 29))
    assert ru.is_working_day(D(2025, 11, 1))  # a working Saturday before 3 November
    assert not ru.is_working_day(D(2026, 1, 9))  # Friday: a day off moved from Saturday 3 January
    assert not ru.is_working_day(D(2026, 12, 31))  # Thursday: moved from Sunday 4 January
    assert not ru.is_working_day(D(2026, 11, 4))  # Unity Day, a Wednesday
    assert not ru.is_working_day(D(2014, 6, 13))  # 2014: moved from 5 January
    assert ru.is_working_day(D(2014, 3, 24))
    # the answer term of a financial firm: 15 working days after a Friday, through the May holidays
    assert ru.next_working_day(D(2024, 4, 26)) == D(2024, 4, 27)
    assert ru.add_working_days(D(2024, 4, 27), 15) == D(2024, 5, 24)
    # from 30 December 2026 the next working day is after the New Year holidays and the weekend
    assert ru.next_working_day(D(2026, 12, 30)) == D(2027, 1, 11)
    assert ru.roll_forward(D(2027, 1, 1)) == D(2027, 1, 11)
    assert ru.roll_forward(D(2027, 1, 11)) == D(2027, 1, 11)
    assert ru.name.startswith("holidays ") and ru.name.endswith(" RU")


def test_uk_bank_holidays_differ_by_nation() -> None:
    england, scotland = WorkCalendar("GB", "ENG"), WorkCalendar("GB", "SCT")
    # Christmas 2026: Friday 25th, Boxing Day (Saturday) observed on Monday 28th
    assert england.add_working_days(D(2026, 12, 24), 2) == D(2026, 12, 30)
    assert england.holiday_name(D(2026, 12, 28)) is not None
    # St Andrew's Day, Monday 30 November 2026, is a bank holiday in Scotland only
    assert england.next_working_day(D(2026, 11, 27)) == D(2026, 11, 30)
    assert scotland.next_working_day(D(2026, 11, 27)) == D(2026, 12, 1)
