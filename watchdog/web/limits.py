"""What one request to the page may cost: period bounds and a queue for documents (issue 13 item 10).

A period from the query string is parsed by :func:`watchdog.analysis.sla.parse_period`, which accepts any
dates; ``0001-01-01..9999-12-30`` made the page compute ten thousand years (and fail with a 500 on the way).
So a period must be at most :data:`MAX_PERIOD_DAYS` long and lie within the journal's span widened by
:data:`PERIOD_MARGIN_DAYS` on each side (from a year before the journal's first data to a year after now);
anything else is a 400 that says why. Documents (report, pack, complaint) are built one at a time
(:data:`DOCUMENT_SLOTS`) with at most :data:`DOCUMENT_QUEUE` requests waiting; more get a 503 and try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

from watchdog.analysis.sla import Period
from watchdog.errors import JournalError
from watchdog.journal.schema import connect
from watchdog.timefmt import to_datetime

DAY_NS = 86_400 * 1_000_000_000
MAX_PERIOD_DAYS = 731  # a yearly SLA period, or a custom range of up to two years
PERIOD_MARGIN_DAYS = 366
DOCUMENT_SLOTS = 1
DOCUMENT_QUEUE = 3


class Busy(Exception):
    """Too many documents asked for at once."""


def journal_start_ns(path: Path) -> int | None:
    """When the journal began: its creation or its first sealed block's earliest row, whichever is earlier."""
    try:
        conn = connect(path, readonly=True)
    except JournalError:
        return None
    try:
        created = conn.execute("SELECT value FROM meta WHERE key = 'created_ns'").fetchone()
        first = conn.execute("SELECT min_ts_ns FROM blocks ORDER BY no LIMIT 1").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    found = [int(created[0])] if created and str(created[0]).isdigit() else []
    found += [int(first[0])] if first else []
    return min(found) if found else None


def period_problem(period: Period, now_ns: int, start_ns: int | None) -> str | None:
    """Why the page will not compute ``period`` (None: it will)."""
    days = (period.end_ns - period.start_ns) / DAY_NS
    if days > MAX_PERIOD_DAYS:
        return (
            f"the period {period.label!r} is {days:.0f} days long; the page computes periods of at most "
            f"{MAX_PERIOD_DAYS} days: ask for a shorter one"
        )
    margin = PERIOD_MARGIN_DAYS * DAY_NS
    latest = now_ns + margin
    earliest = (now_ns if start_ns is None else min(start_ns, now_ns)) - margin
    if period.start_ns < earliest or period.end_ns > latest:
        zone = ZoneInfo(period.zone)
        first, last = to_datetime(earliest, zone), to_datetime(latest, zone)
        return (
            f"the period {period.label!r} lies outside the journal's span: ask for one between "
            f"{first:%Y-%m-%d} and {last:%Y-%m-%d} (a year either side of the journal's data)"
        )
    return None


class DocumentGate:
    """At most ``slots`` documents in the making and ``queue`` waiting; another request raises :class:`Busy`."""

    def __init__(self, slots: int = DOCUMENT_SLOTS, queue: int = DOCUMENT_QUEUE) -> None:
        self.slots = slots
        self.queue = queue
        self._running = 0
        self._waiting = 0
        self._free: asyncio.Condition | None = None

    @property
    def busy(self) -> tuple[int, int]:
        """(documents being made, requests waiting)."""
        return self._running, self._waiting

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot while a document is made."""
        if self._free is None:
            self._free = asyncio.Condition()
        free = self._free
        async with free:
            if self._running >= self.slots and self._waiting >= self.queue:
                raise Busy(
                    f"{self._running + self._waiting} documents are being made or waiting; try again in a minute"
                )
            self._waiting += 1
            try:
                await free.wait_for(lambda: self._running < self.slots)
            finally:
                self._waiting -= 1
            self._running += 1
        try:
            yield
        finally:
            async with free:
                self._running -= 1
                free.notify()
