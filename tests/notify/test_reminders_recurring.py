"""Recurring, escalating reminders (issue 18 item 3) through the real outbox, across restarts.

A notifier runs on a real journal and sends to a real Apprise ``json://`` receiver on loopback; the
notifier's wall clock is held at chosen days, and a "restart" is a new notifier on the same journal.
Must hold: each occurrence's step goes out once (no duplicates across restarts), a day that passed
while the agent was off is still told on start (late, once), and the next occurrence starts afresh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from notify_helpers import FixedClock, Receiver, wait_until

from watchdog.agent.sinks import AgentContext
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter
from watchdog.config import Reminder, loads
from watchdog.notify.sink import NotifySink
from watchdog.timefmt import to_ns

MSK = ZoneInfo("Europe/Moscow")


def at(day: dt.date, hour: int = 10) -> int:
    return to_ns(dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=MSK))


def config_text(data_dir: Path, rx: Receiver, reminders: str) -> str:
    return f"""
agent: {{id: home-msk-1, timezone: Europe/Moscow, data_dir: "{data_dir}", language: en}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
providers:
  - id: isp
    name: HomeNet
    kind: isp
    targets: [{{name: gateway, kind: tcp, address: "127.0.0.1:7"}}]
    contacts: {{support_phone: "8 800 000-00-01"}}
notify:
  urls: ["{rx.url()}"]
  digest_at: null
reminders:
{reminders}
ntp: {{enabled: false}}
"""


Start = Callable[[int], Awaitable[list[tuple[str, str]]]]


@pytest.fixture
async def agent_days(tmp_path: Path) -> AsyncIterator[tuple[Receiver, Callable[[str], Start]]]:
    """``start(reminders)(now_ns)`` runs one notifier "day": start, one tick, wait, stop; returns all received."""
    rx = Receiver()
    await rx.up()

    def with_reminders(reminders: str) -> Start:
        config = loads(config_text(tmp_path, rx, reminders), env={})

        async def day(now_ns: int) -> list[tuple[str, str]]:
            before = len(rx.received)
            writer = JournalWriter(config.journal_path)
            await writer.open()
            board = Board.for_targets(config.targets, config.quorum)
            sink = NotifySink(AgentContext(config, board, writer, "run"), clock=FixedClock(now_ns), tick_s=3600.0)
            await sink.start()
            try:
                await sink.tick(10**9)
                await sink.outbox.flush()
                await wait_until(lambda: sink.outbox is not None and _all_sent(config.journal_path), 10)
            finally:
                await sink.aclose()
                await writer.aclose()
            return [(r.title, r.body) for r in rx.received[before:]]

        return day

    yield rx, with_reminders
    await rx.down()


def _all_sent(journal_path: Path) -> bool:
    import sqlite3

    conn = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT delivered_ns FROM notify_outbox").fetchall()
    finally:
        conn.close()
    return all(r[0] is not None for r in rows)


MONTHLY = '  - {name: "Internet bill", every: month, day: 25, note: "Pay 600 RUB.", provider: isp}'


async def test_monthly_reminder_escalates_once_per_step_across_restarts(agent_days) -> None:
    rx, with_reminders = agent_days
    day = with_reminders(MONTHLY)
    nov = dt.date(2026, 11, 1)

    got = await day(at(nov.replace(day=20)))  # 5 days before: the 7-day step
    assert got == [
        (
            "Reminder: Internet bill in 5 days",
            "Internet bill: 25 November 2026, in 5 days.\nPay 600 RUB.\nHomeNet, support: 8 800 000-00-01\n"
            "— home-msk-1, 10:00 MSK, ref. reminder/internet-bill/2026-11-25/7d",
        )
    ]
    assert await day(at(nov.replace(day=20), 15)) == []  # a restart the same day: nothing again
    assert await day(at(nov.replace(day=22))) == []  # still the 7-day step
    got = await day(at(nov.replace(day=24)))
    assert [t for t, _ in got] == ["Reminder: Internet bill tomorrow"]
    got = await day(at(nov.replace(day=25), 8))
    assert [t for t, _ in got] == ["Reminder: Internet bill today"]
    assert await day(at(nov.replace(day=26))) == []  # the day passed and was told: no late one

    # December: the agent is off from the 17th to the 27th, over all three steps of the 25th
    got = await day(at(dt.date(2026, 12, 28)))
    assert got == [
        (
            "Reminder: Internet bill was due 25 Dec",
            "Internet bill: 25 December 2026, 3 days ago: this reminder is late, the agent was not running that day.\n"
            "Pay 600 RUB.\nHomeNet, support: 8 800 000-00-01\n"
            "— home-msk-1, 10:00 MSK, ref. reminder/internet-bill/2026-12-25/0d",
        )
    ]
    assert await day(at(dt.date(2026, 12, 29))) == []  # told once
    got = await day(at(dt.date(2027, 1, 18)))  # January's occurrence starts afresh
    assert [t for t, _ in got] == ["Reminder: Internet bill in 7 days"]
    keys = rx.refs()
    assert len(keys) == len(set(keys)) == 5


async def test_yearly_and_short_months(agent_days) -> None:
    _rx, with_reminders = agent_days
    day = with_reminders(
        '  - {name: "Domain", every: year, date: 2025-03-31, days_before: [30]}\n'
        '  - {name: "Rent", every: month, day: 31, days_before: [0]}'
    )
    got = await day(at(dt.date(2027, 3, 1)))  # Rent's 28 February passed before it was ever told: not sent late
    assert sorted(t for t, _ in got) == ["Reminder: Domain in 30 days"]
    got = await day(at(dt.date(2027, 4, 30)))  # April has 30 days: "day 31" is the 30th
    assert [t for t, _ in got] == ["Reminder: Rent today"]


def test_occurrences_and_config_errors() -> None:
    monthly = Reminder.model_validate({"name": "x", "every": "month", "day": 31})
    assert monthly.occurrences(dt.date(2027, 2, 10)) == [dt.date(2027, 1, 31), dt.date(2027, 2, 28)]
    assert monthly.occurrences(dt.date(2027, 12, 31)) == [dt.date(2027, 11, 30), dt.date(2027, 12, 31)]
    assert monthly.steps == (7, 1, 0)
    yearly = Reminder.model_validate({"name": "x", "every": "year", "date": dt.date(2024, 2, 29)})
    assert yearly.occurrences(dt.date(2027, 3, 1)) == [dt.date(2027, 2, 28), dt.date(2028, 2, 29)]
    assert Reminder.model_validate({"name": "x", "date": dt.date(2027, 1, 1)}).steps == (30, 7, 1)
    for bad, message in [
        ({"name": "x"}, "a reminder needs a date (once), or every: month with day: N"),
        ({"name": "x", "every": "month"}, "every: month needs day: N (1-31)"),
        ({"name": "x", "every": "year", "day": 3}, "every: year takes a date"),
        ({"name": "x", "date": dt.date(2027, 1, 1), "day": 3}, "day: N goes with every: month"),
    ]:
        with pytest.raises(ValueError) as info:
            Reminder.model_validate(bad)
        assert message in str(info.value)
