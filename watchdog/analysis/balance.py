"""When a prepaid balance runs out: the last reading, spent at the tariff's daily rate.

A prepaid account is charged every day; service stops on the first day the balance cannot pay that
day's charge. So a balance B at a daily charge c lasts ``floor(B / c)`` whole days from the day it was
read: 180 ₽ at 600 ₽ a month (19,71 ₽ a day) lasts 9 days. A balance at or below zero has run out on
the day it was read. The projection is as good as the tariff in the config; a new reading replaces it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from watchdog.config import Account
from watchdog.journal.balance import Balance
from watchdog.timefmt import to_datetime


@dataclass(frozen=True, slots=True)
class Projection:
    """A balance's run-out day and what it is based on."""

    balance: Balance
    per_day: float
    days: int  # whole days the balance pays for, from the day it was read
    run_out: dt.date  # the first day without service

    def days_left(self, today: dt.date) -> int:
        """Days from ``today`` to the run-out day (negative once past)."""
        return (self.run_out - today).days


def project(balance: Balance, account: Account, zone: ZoneInfo) -> Projection:
    """The run-out day of ``balance`` at ``account``'s tariff, in ``zone``."""
    per_day = account.per_day
    days = max(0, math.floor(float(balance.amount) / per_day + 1e-9))
    read_on = to_datetime(balance.at_ns, zone).date()
    return Projection(balance, per_day, days, read_on + dt.timedelta(days=days))
