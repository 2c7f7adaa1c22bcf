"""Attribution of degraded windows from scripted journals (results through the real trackers).

Broker and ISP, LAN router and three internet anchors, all with ``latency_max: 100ms, open: 1 of 1,
close: 1`` and probed every 10 s:

* 10:00–10:10 the broker alone is slow                      → the broker's (provider);
* 11:00–11:10 the broker, the router and every anchor slow  → the customer's line (LAN degraded, quorum lost);
* 12:00–12:10 the anchors slow, the router quick            → for the ISP a degraded-internet window
  (``line/internet``, limit ``line``), the ISP's own fault.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from degraded_history import write

from watchdog.analysis.outages import analyse
from watchdog.config import loads
from watchdog.journal.store import Journal
from watchdog.model import NS, Attribution, ProviderKind, Result, Target
from watchdog.timefmt import to_ns

UTC = ZoneInfo("UTC")


def at(hh: int, mm: int = 0) -> int:
    return to_ns(dt.datetime(2026, 11, 2, hh, mm, tzinfo=UTC))


CONFIG = """
agent: {{id: a, timezone: UTC, data_dir: "{data_dir}"}}
defaults: {{interval: 10s, timeout: 5s, quality: {{latency_max: 100ms, open: 1 of 1, close: 1}}}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
  internet:
    - {{name: a, kind: tcp, address: "127.0.0.1:2"}}
    - {{name: b, kind: tcp, address: "127.0.0.1:3"}}
    - {{name: c, kind: tcp, address: "127.0.0.1:4"}}
  quorum: 2
providers:
  - {{id: broker, kind: broker, targets: [{{name: gw, kind: tcp, address: "127.0.0.1:5"}}]}}
  - {{id: isp, kind: isp, targets: [{{name: dns, kind: tcp, address: "127.0.0.1:6"}}]}}
"""


def slow(key: str, ts: int) -> bool:
    if at(10) <= ts < at(10, 10):
        return key == "broker/gw"
    if at(11) <= ts < at(11, 10):
        return key != "isp/dns"
    if at(12) <= ts < at(12, 10):
        return key.startswith("internet/")
    return False


def round_of(target: Target, ts: int) -> Result:
    return Result(target.key, ts, True, 0.3 if slow(target.key, ts) else 0.01, detail="connected")


def test_degraded_attribution_follows_the_controls(tmp_path: Path) -> None:
    config = loads(CONFIG.format(data_dir=tmp_path), env={})
    write(config, at(9), at(13), 10, round_of)
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        analysis = analyse(
            journal, provider_kinds={"broker": ProviderKind.BROKER, "isp": ProviderKind.ISP}, quorum=2, now_ns=at(13)
        )
    broker = analysis.degraded_for_provider("broker")
    assert [(a.outage.start_ns // NS - at(0) // NS, a.attribution) for a in broker] == [
        (10 * 3600 + 5, Attribution.PROVIDER),  # the broker's target probes at :05 (5th target, 1 s apart)
        (11 * 3600 + 5, Attribution.CUSTOMER_LINE),
    ]
    assert broker[1].segments[0].reason.startswith("LAN 0/1 clean, internet 0/3 clean (quorum 2)")
    # for the ISP: 11:00 (anchors slow with the router: the customer's line) and 12:00 (anchors alone: the ISP's)
    early, line = analysis.degraded_for_provider("isp")
    assert (early.outage.target, early.attribution) == ("line/internet", Attribution.CUSTOMER_LINE)
    assert at(11) <= early.outage.start_ns < at(11, 1)
    assert (line.outage.target, line.outage.limit, line.attribution) == ("line/internet", "line", Attribution.PROVIDER)
    assert line.outage.detail == "2 to 3 of 3 controls degraded or down at once"
    assert at(12) <= line.outage.start_ns < at(12, 1) and at(12, 10) <= (line.outage.end_ns or 0) < at(12, 11)
