"""More golden SLA numbers, worked out by hand: an ISP month, a DST change, Moscow at UTC+4 in 2014.

Scripted journals go through the real Journal API; control outages are crisp (last success = first
failure, last failure = first success) so every boundary below is exact.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import ScriptedJournal, target

from watchdog.analysis.outages import analyse
from watchdog.analysis.sla import SlaFigures, compute, parse_period
from watchdog.config import Config, loads
from watchdog.journal.store import Journal
from watchdog.model import NS, Attribution
from watchdog.timefmt import to_ns

CONTROLS = """
controls:
  lan: [{name: router, kind: tcp, address: "127.0.0.1:1"}]
  internet:
    - {name: a, kind: tcp, address: "127.0.0.1:2"}
    - {name: b, kind: tcp, address: "127.0.0.1:3"}
    - {name: c, kind: tcp, address: "127.0.0.1:4"}
  quorum: 2
"""


class Script:
    """A scripted journal whose times are given as aware datetimes."""

    def __init__(self, tmp_path: Path, config: Config, origin: dt.datetime) -> None:
        self.origin = to_ns(origin)
        self.path = tmp_path / "j.sqlite3"
        self.config = config
        targets = [target(t.key, role=t.role) for t in config.targets]
        self.j = ScriptedJournal(self.path, targets, origin_ns=self.origin)

    def s(self, moment: dt.datetime) -> float:
        return (to_ns(moment) - self.origin) / NS

    def run(self, start: dt.datetime, end: dt.datetime) -> None:
        self.j.run(self.s(start), self.s(end))

    def down(self, key: str, start: dt.datetime, end: dt.datetime) -> None:
        """A crisp outage: down exactly from start to end."""
        self.j.outage(key, self.s(start), self.s(start), self.s(end), self.s(end))

    def figures(self, provider: str, label: str, now: dt.datetime) -> SlaFigures:
        self.j.close()
        p = self.config.provider(provider)
        zone = self.config.provider_zone(provider)
        period = parse_period(label, zone)
        with Journal.open(self.path) as journal:
            analysis = analyse(
                journal,
                provider_kinds={x.id: x.kind for x in self.config.providers},
                quorum=self.config.quorum,
                since_ns=period.start_ns,
                until_ns=period.end_ns,
                now_ns=to_ns(now),
            )
        return compute(analysis, p, period, zone)


MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


def msk(day: int, hh: int, mm: int = 0, month: int = 11, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hh, mm, tzinfo=MSK)


def utc(year: int, month: int, day: int, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hh, mm, tzinfo=dt.UTC)


def test_isp_month(tmp_path: Path) -> None:
    config = loads(
        CONTROLS
        + """
agent: {timezone: Europe/Moscow}
providers:
  - id: isp
    kind: isp
    targets: [{name: gateway, kind: tcp, address: "127.0.0.1:5"}]
    maintenance: [{from: "2026-11-12 02:00", to: "2026-11-12 04:00", note: announced}]
    sla: {availability: 99.0, restore_within: 72h}
""",
        env={},
    )
    sc = Script(tmp_path, config, msk(31, 0, month=10))
    sc.run(msk(31, 0, month=10), msk(15, 0))  # the agent is off 15 Nov 00:00–06:00: 21 600 s without data
    sc.run(msk(15, 6), msk(2, 0, month=12))
    # E1 gateway 31 Oct 22:00 → 1 Nov 02:00, line fine: provider; November counts 00:00–02:00 = 7200 s
    sc.down("isp/gateway", msk(31, 22, month=10), msk(1, 2))
    # E2 all internet anchors down 5 Nov 10:00–13:00 with the LAN up: the ISP's line is down, 10 800 s
    for key in ("internet/a", "internet/b", "internet/c"):
        sc.down(key, msk(5, 10), msk(5, 13))
    # E3 gateway 10 Nov 00:00 → 13 Nov 08:00 = 80 h = 288 000 s, minus maintenance 12 Nov 02:00–04:00
    # (7200 s) = 280 800 s counted; 8 h = 28 800 s past restore_within 72 h
    sc.down("isp/gateway", msk(10, 0), msk(13, 8))
    # E6 gateway 14 Nov 23:00 → 15 Nov 07:00 across the gap: 3600 + 3600 s provider, 6 h no_data
    sc.down("isp/gateway", msk(14, 23), msk(15, 7))
    # E4 20 Nov 12:00–13:00 router and every anchor down with the gateway: customer_line 3600 s
    for key in ("isp/gateway", "lan/router", "internet/a", "internet/b", "internet/c"):
        sc.down(key, msk(20, 12), msk(20, 13))
    # E5 25 Nov 10:00–11:00 gateway and router down, anchors up: the controls disagree, inconclusive 3600 s
    sc.down("isp/gateway", msk(25, 10), msk(25, 11))
    sc.down("lan/router", msk(25, 10), msk(25, 11))
    f = sc.figures("isp", "2026-11", msk(2, 0, month=12))

    assert f.service_s == 30 * 86400 == 2_592_000  # no service hours: the whole month
    assert (f.maintenance_s, f.no_data_s) == (7200, 21_600)
    assert f.counted_s == 2_592_000 - 7200 - 21_600 == 2_563_200
    assert f.downtime_s == 7200 + 10_800 + 280_800 + 7200 == 306_000
    assert (f.customer_line_s, f.inconclusive_s) == (3600, 3600)
    assert f.availability == pytest.approx(100 * (1 - 306_000 / 2_563_200), abs=1e-9)
    assert f.breached is True
    assert f.coverage == pytest.approx((2_592_000 - 21_600) / 2_592_000, abs=1e-12)
    # incidents by start: E1, E2, E3, E6, E4, E5
    assert [i.downtime_s for i in f.incidents] == [7200, 10_800, 280_800, 7200, 0, 0]
    assert [i.duration_s for i in f.incidents] == [14_400, 10_800, 288_000, 28_800, 3600, 3600]
    assert [i.restore_excess_s for i in f.incidents] == [0, 0, 28_800, 0, 0, 0]
    assert [i.no_data_s for i in f.incidents] == [0, 0, 0, 21_600, 0, 0]
    assert f.incidents[1].targets == ("line/internet",)
    assert f.incidents[4].targets == ("isp/gateway", "line/internet")
    assert [i.attribution for i in f.incidents[4:]] == [Attribution.CUSTOMER_LINE, Attribution.INCONCLUSIVE]
    assert (len(f.counted_incidents), f.longest_s) == (4, 280_800)
    assert f.mttr_s == (14_400 + 10_800 + 288_000 + 28_800) / 4 == 85_500
    assert f.allowed_downtime_s == pytest.approx(2_563_200 * 0.01)


BERLIN_CONFIG = (
    CONTROLS
    + """
agent: {timezone: Europe/Berlin}
providers:
  - id: host
    kind: other
    targets: [{name: web, kind: tcp, address: "127.0.0.1:5"}]
    service_hours: {days: daily, from: "01:00", to: "04:00"}
    sla: {availability: 99.9}
"""
)


def test_dst_ends_inside_service_hours(tmp_path: Path) -> None:
    config = loads(BERLIN_CONFIG, env={})
    sc = Script(tmp_path, config, utc(2026, 9, 30, 0))
    sc.run(utc(2026, 9, 30, 0), utc(2026, 11, 2, 0))
    # 25 Oct 2026: clocks go back at 03:00 CEST to 02:00 CET. The outage runs 01:30 CEST → 02:30 CET:
    # one hour on the wall clock, two hours of real time (23:30Z → 01:30Z) = 7200 s, all in service hours
    sc.down("host/web", utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 1, 30))
    # Sat 10 Oct 03:30–05:00 CEST: only 03:30–04:00 is in service hours = 1800 s
    sc.down("host/web", utc(2026, 10, 10, 1, 30), utc(2026, 10, 10, 3, 0))
    f = sc.figures("host", "2026-10", utc(2026, 11, 2, 0))
    assert f.period.length_s == 31 * 86400 + 3600  # the month has an extra hour
    # 30 days × 3 h + 25 Oct: 01:00 CEST (23:00Z) → 04:00 CET (03:00Z) = 4 h; 94 h in all
    assert f.service_s == 30 * 3 * 3600 + 4 * 3600 == 338_400
    assert f.downtime_s == 7200 + 1800
    assert f.availability == pytest.approx(100 * (1 - 9000 / 338_400), abs=1e-9)
    assert [i.duration_s for i in f.incidents] == [5400, 7200]
    assert f.coverage == 1.0


def test_dst_starts_inside_service_hours(tmp_path: Path) -> None:
    config = loads(BERLIN_CONFIG, env={})
    sc = Script(tmp_path, config, utc(2026, 2, 27, 0))
    sc.run(utc(2026, 2, 27, 0), utc(2026, 4, 2, 0))
    # 29 Mar 2026: 02:00 CET → 03:00 CEST. Service 01:00 CET (00:00Z) → 04:00 CEST (02:00Z) = 2 h.
    # An outage 00:30Z–01:30Z reads 01:30 CET → 03:30 CEST on the wall clock: 3600 s
    sc.down("host/web", utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30))
    f = sc.figures("host", "2026-03", utc(2026, 4, 2, 0))
    assert f.period.length_s == 31 * 86400 - 3600
    assert f.service_s == 30 * 3 * 3600 + 2 * 3600 == 331_200
    assert f.downtime_s == 3600


def test_moscow_was_utc_plus_4_in_march_2014(tmp_path: Path) -> None:
    config = loads(
        CONTROLS
        + """
agent: {timezone: Europe/Moscow}
providers:
  - id: broker
    kind: broker
    targets: [{name: trading, kind: tcp, address: "127.0.0.1:5"}]
    service_hours: {days: Mon-Fri, from: "07:00", to: "23:50"}
    sla: {availability: 99.5}
""",
        env={},
    )
    sc = Script(tmp_path, config, utc(2014, 2, 27, 0))
    sc.run(utc(2014, 2, 27, 0), utc(2014, 4, 2, 0))
    # Mon 3 Mar 2014 02:30Z–03:30Z = 06:30–07:30 MSK (UTC+4): 07:00–07:30 counts = 1800 s
    # (read at UTC+3 it would be 05:30–06:30, outside service hours)
    sc.down("broker/trading", utc(2014, 3, 3, 2, 30), utc(2014, 3, 3, 3, 30))
    # Fri 7 Mar 19:40Z–20:10Z = 23:40–00:10 MSK: 23:40–23:50 counts = 600 s (at UTC+3: 22:40–23:10, 1800 s)
    sc.down("broker/trading", utc(2014, 3, 7, 19, 40), utc(2014, 3, 7, 20, 10))
    f = sc.figures("broker", "2014-03", utc(2014, 4, 2, 0))
    assert (f.period.start_ns, f.period.end_ns) == (to_ns(utc(2014, 2, 28, 20)), to_ns(utc(2014, 3, 31, 20)))
    # March 2014 began on a Saturday: 21 weekdays × 16 h 50 min = 21 × 60 600 s
    assert f.service_s == 21 * 60_600 == 1_272_600
    assert f.downtime_s == 1800 + 600
    assert f.availability == pytest.approx(100 * (1 - 2400 / 1_272_600), abs=1e-9)
    assert f.breached is False
