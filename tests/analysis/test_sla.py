"""SLA figures from a scripted month: exact numbers worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import ScriptedJournal, target

from watchdog.analysis.outages import analyse
from watchdog.analysis.sla import compute, current_period, parse_period
from watchdog.config import loads
from watchdog.model import NS
from watchdog.timefmt import to_ns

MSK = ZoneInfo("Europe/Moscow")
ORIGIN = to_ns(dt.datetime(2026, 11, 1, tzinfo=MSK))  # Sunday 1 November 2026, 00:00 MSK (UTC+3)

CONFIG = """
agent: {id: golden, timezone: Europe/Moscow}
controls:
  lan: [{name: router, kind: tcp, address: "127.0.0.1:1"}]
  internet:
    - {name: a, kind: tcp, address: "127.0.0.1:2"}
    - {name: b, kind: tcp, address: "127.0.0.1:3"}
    - {name: c, kind: tcp, address: "127.0.0.1:4"}
  quorum: 2
providers:
  - id: broker
    kind: broker
    timezone: Europe/Moscow
    targets: [{name: trading, kind: tcp, address: "127.0.0.1:5"}]
    service_hours: {days: Mon-Fri, from: "07:00", to: "23:50"}
    maintenance: [{from: "2026-11-12 08:00", to: "2026-11-12 09:00", note: announced}]
    sla: {availability: 99.5, period: month, restore_within: 72h}
"""


def at(day: int, hh: int, mm: int = 0, ss: int = 0, month: int = 11) -> float:
    """Seconds after ORIGIN for a local MSK time."""
    return (to_ns(dt.datetime(2026, month, day, hh, mm, ss, tzinfo=MSK)) - ORIGIN) / NS


def test_golden_month(tmp_path: Path) -> None:
    config = loads(CONFIG, env={})
    targets = [target(t.key, role=t.role) for t in config.targets]
    j = ScriptedJournal(tmp_path / "j.sqlite3", targets, origin_ns=ORIGIN)
    j.run(0, at(10, 12))  # the agent was off 10 Nov 12:00–14:00 (a Tuesday, inside service hours)
    j.run(at(10, 14), at(2, 0, month=12))
    j.outage("broker/trading", at(3, 9, 59, 50), at(3, 10), at(3, 10, 29, 50), at(3, 10, 30))  # 1800 s
    j.outage("broker/trading", at(12, 8, 29, 50), at(12, 8, 30), at(12, 9, 29, 50), at(12, 9, 30))  # 1800 after maint.
    j.outage("broker/trading", at(15, 11, 59, 50), at(15, 12), at(15, 12, 59, 50), at(15, 13))  # Sunday: 0
    j.outage("broker/trading", at(17, 19, 59, 50), at(17, 20), at(17, 20, 59, 50), at(17, 21))  # line down: 0
    for key in ("internet/a", "internet/b", "internet/c"):
        j.outage(key, at(17, 19, 55), at(17, 19, 56), at(17, 21, 4), at(17, 21, 5))
    j.outage("broker/trading", at(30, 22, 59, 50), at(30, 23), at(1, 0, 59, 50, month=12), at(1, 1, month=12))
    j.outage("broker/trading", at(10, 10, 59, 50), at(10, 11), at(10, 14, 0, 20), at(10, 14, 0, 30))  # gap inside
    j.close()

    period = parse_period("2026-11", MSK)
    with j.journal.__class__.open(tmp_path / "j.sqlite3") as journal:
        analysis = analyse(
            journal,
            provider_kinds={"broker": config.provider("broker").kind},
            quorum=2,
            since_ns=period.start_ns,
            until_ns=period.end_ns,
            now_ns=ORIGIN + int(at(2, 0, month=12) * NS),
        )
    figures = compute(analysis, config.provider("broker"), period, MSK)

    # 21 weekdays in November 2026 × 16 h 50 min (07:00–23:50) = 21 × 60 600 s
    assert figures.service_s == 1_272_600
    assert figures.maintenance_s == 3600
    assert figures.no_data_s == 7200
    assert figures.counted_s == 1_272_600 - 3600 - 7200
    # 1800 (3 Nov) + 1800 (12 Nov after maintenance) + 3000 (30 Nov until 23:50) + 3600 + 30 (10 Nov around the gap)
    assert figures.downtime_s == 10_230
    assert figures.customer_line_s == 3600
    assert figures.availability == pytest.approx(100 * (1 - 10_230 / 1_261_800), abs=1e-9)
    assert figures.breached is True
    assert figures.coverage == pytest.approx((30 * 86400 - 7200) / (30 * 86400), abs=1e-12)
    assert [round(i.downtime_s) for i in figures.incidents] == [1800, 3630, 1800, 0, 0, 3000]
    assert len(figures.counted_incidents) == 4
    assert figures.longest_s == 3630
    assert figures.incidents[-1].end_ns is not None and figures.incidents[-1].duration_s == 7200
    assert figures.mttr_s == pytest.approx((1800 + 3 * 3600 + 30 + 3600 + 7200) / 4)
    assert all(i.restore_excess_s == 0 for i in figures.incidents)


def test_periods_follow_the_tz_database() -> None:
    assert parse_period("2026-11", MSK).length_s == 30 * 86400
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_period("2026-10", berlin).length_s == 31 * 86400 + 3600  # DST ends 25 Oct: one hour longer
    assert parse_period("2026-03", berlin).length_s == 31 * 86400 - 3600
    week = parse_period("2026-W47", MSK)
    assert (week.start_ns, week.length_s) == (to_ns(dt.datetime(2026, 11, 16, tzinfo=MSK)), 7 * 86400)
    assert parse_period("2026-11-01..2026-11-15", MSK).length_s == 15 * 86400
    # Moscow was UTC+4 from 2011 to October 2014; the tz database knows it
    march_2014 = parse_period("2014-03", MSK)
    assert march_2014.start_ns == to_ns(dt.datetime(2014, 2, 28, 20, 0, tzinfo=dt.UTC))
    now = to_ns(dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC))
    assert current_period("month", now, MSK).label == "2026-11"
    assert current_period("quarter", now, MSK).label == "2026-Q4"
    with pytest.raises(ValueError, match="cannot read period 'Nov'"):
        parse_period("Nov", MSK)
