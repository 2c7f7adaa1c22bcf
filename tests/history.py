"""A realistic scripted history for report and evidence-pack tests.

Results are generated at a fixed interval for every target while the agent "ran", fed through the real
Detector, and written with the real Journal API together with the outage events the detector implies,
clock samples, a clock step and contact-log entries — so the raw rows, the outages and the figures agree
exactly as they would after a real run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from watchdog.agent.detector import Closed, Detector, Opened
from watchdog.config import Config
from watchdog.journal.contacts import EV_CONTACT
from watchdog.journal.schema import (
    EV_AGENT_START,
    EV_AGENT_STOP,
    EV_CLOCK_SAMPLE,
    EV_CLOCK_STEP,
    EV_OUTAGE_CLOSE,
    EV_OUTAGE_OPEN,
)
from watchdog.journal.store import Journal, PendingEvent, Ticket
from watchdog.model import NS, FailureKind, Result
from watchdog.timefmt import to_ns

MSK = ZoneInfo("Europe/Moscow")
CANARY_ENV = "canary-env-9f3b1c"  # a secret that arrives through ${VAR}
CANARY_LITERAL = "canary-literal-77aa"  # a secret written into the file itself
PERIOD = "2026-11-02..2026-11-04"


def msk(day: int, hh: int, mm: int = 0) -> int:
    return to_ns(dt.datetime(2026, 11, day, hh, mm, tzinfo=MSK))


CONFIG = """
agent: {{id: home-msk-1, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
defaults: {{interval: 60s, timeout: 5s}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
  internet:
    - {{name: a, kind: tcp, address: "127.0.0.1:2"}}
    - {{name: b, kind: tcp, address: "127.0.0.1:3"}}
    - {{name: c, kind: tcp, address: "127.0.0.1:4"}}
  quorum: 2
providers:
  - id: broker
    name: "ИТ Инвест"
    kind: broker
    targets:
      - {{name: trading, kind: tcp, address: "127.0.0.1:5"}}
      - {{name: web, kind: tcp, address: "127.0.0.1:6"}}
    service_hours: {{days: Mon-Fri, from: "07:00", to: "23:50"}}
    maintenance: [{{from: "2026-11-03 02:00", to: "2026-11-03 03:00", note: "объявлено на сайте"}}]
    contract: {{number: "Д-123/45", since: 2013-05-01, customer: "Иванов Иван Иванович"}}
    sla: {{availability: 99.5, period: month, restore_within: 72h}}
    contacts: {{claims_email: "claims@broker.test"}}
  - id: bank
    kind: bank
    targets: [{{name: web, kind: tcp, address: "127.0.0.1:7"}}]
notify: {{urls: ["${{NOTIFY_URL}}", "json://127.0.0.1:9/{literal}"]}}
influxdb:
  {{url: "http://127.0.0.1:8086", org: home, bucket: watchdog, token: "${{INFLUX_TOKEN}}", password: "{literal}"}}
web: {{token: "{literal}"}}
ntp: {{servers: ["127.0.0.1:12300"], interval: 1h}}
"""

RUNS = [(msk(1, 23), msk(3, 12)), (msk(3, 14), msk(5, 1))]  # no data 3 Nov 12:00–14:00
DOWN = {
    "broker/trading": [(msk(2, 10), msk(2, 10, 30)), (msk(4, 20), msk(4, 20, 20))],
    "broker/web": [(msk(2, 10, 5), msk(2, 10, 20))],
    "bank/web": [(msk(2, 15), msk(2, 15, 10))],
    "internet/a": [(msk(4, 19, 55), msk(4, 20, 25))],
    "internet/b": [(msk(4, 19, 55), msk(4, 20, 25))],
    "internet/c": [(msk(4, 19, 55), msk(4, 20, 25))],
}
CONTACTS = [
    (msk(2, 10, 12), "broker", "phone", "INC-1", "Звонок в поддержку: «проблемы на стороне биржи»"),
    (msk(2, 15, 5), "bank", "chat", "", "bank chat"),
    (msk(4, 21), "broker", "email", "T-77", "claim sent"),
]


def config_text(data_dir: Path) -> str:
    return CONFIG.format(data_dir=data_dir, literal=CANARY_LITERAL)


def env() -> dict[str, str]:
    return {"NOTIFY_URL": f"tgram://{CANARY_ENV}/1", "INFLUX_TOKEN": CANARY_ENV}


def write_history(config: Config, interval_s: int = 60) -> None:
    """Write the history into the config's journal and seal it (blocks of at most 1000 rows)."""
    journal = Journal.open(config.journal_path)
    ids = journal.register_targets(config.targets, now_ns=RUNS[0][0] - NS)
    detectors = {t.key: Detector(t) for t in config.targets}
    timeline: list[tuple[int, int, Any]] = []
    for n, (a, b) in enumerate(RUNS):
        run = f"run{n + 1}"
        start = {
            "run": run,
            "version": "0.1.0",
            "host": "pi",
            "agent": "home-msk-1",
            "timezone": "Europe/Moscow",
            "config_sha256": config.sha256,
            "targets": sorted(ids.values()),
            "quorum": 2,
        }
        timeline.append((a, 0, PendingEvent(EV_AGENT_START, a, start)))
        timeline.append((b, 9, PendingEvent(EV_AGENT_STOP, b, {"run": run, "reason": "stopped"})))
        for k, target in enumerate(config.targets):
            t = a + (k + 1) * NS
            while t < b:
                down = any(lo <= t < hi for lo, hi in DOWN.get(target.key, ()))
                result = Result(
                    target.key,
                    t,
                    not down,
                    0.0123 + k / 1000 if not down else 0.001,
                    None if not down else FailureKind.CONNECT,
                    "" if not down else "connect 127.0.0.1: отказано в соединении",
                )
                timeline.append((t, 1, result))
                t += interval_s * NS
        hour = a + 30 * NS
        while hour < b:
            offset = -250_000_000 if msk(3, 8, 30) <= hour < msk(3, 9, 30) else 12_000_000
            data = {
                "ok": True,
                "server": "127.0.0.1:12300",
                "address": "127.0.0.1:12300",
                "offset_ns": offset,
                "delay_ns": 400_000,
                "error_bound_ns": abs(offset) + 200_000 + 7_812_500 + 7_812_500,
                "stratum": 2,
                "root_delay_ns": 15_625_000,
                "root_dispersion_ns": 7_812_500,
                "leap": 0,
                "ref_id": "0a000001",
                "interval_s": 3600.0,
            }
            timeline.append((hour, 2, PendingEvent(EV_CLOCK_SAMPLE, hour, data)))
            hour += 3600 * NS
    step_at = msk(4, 3)
    timeline.append((step_at, 3, PendingEvent(EV_CLOCK_STEP, step_at, {"step_ns": 1_500_000_000, "at_ns": step_at})))
    for at, provider, channel, ref, note in CONTACTS:
        data = {"provider": provider, "channel": channel, "ref": ref, "note": note, "at_ns": at}
        timeline.append((at + 60 * NS, 4, PendingEvent(EV_CONTACT, at + 60 * NS, data)))
    timeline.sort(key=lambda x: (x[0], x[1]))

    items: list[Any] = []  # rows, or (open event, its ticket) so a later close can refer to it
    tickets: dict[str, Ticket] = {}
    for _, _, item in timeline:
        items.append(item)
        if not isinstance(item, Result):
            continue
        transition = detectors[item.target].observe(item)
        if isinstance(transition, Opened):
            ticket = Ticket()
            tickets[item.target] = ticket
            data = {
                "start_ns": transition.start_ns,
                "last_ok_ns": transition.last_ok_ns,
                "confirmed_ns": transition.confirmed_ns,
                "failure": transition.failure.value if transition.failure else None,
                "detail": transition.detail,
                "failures": transition.failures,
            }
            items.append((PendingEvent(EV_OUTAGE_OPEN, item.ts_ns, data, item.target), ticket))
            detectors[item.target].bind(transition, -1)
        elif isinstance(transition, Closed):
            o = transition.outage
            data = {"end_ns": o.end_ns, "last_fail_ns": o.end_bounds[0] if o.end_bounds else None, "successes": 2}
            items.append(PendingEvent(EV_OUTAGE_CLOSE, item.ts_ns, data, item.target, tickets.pop(item.target)))
    _append(journal, items)
    journal.seal(now_ns=RUNS[-1][1], max_rows=1000)
    journal.close()


def _append(journal: Journal, items: list[Any]) -> None:
    batch: list[Result | PendingEvent] = []
    tickets: list[Ticket] = []
    for item in items:
        if isinstance(item, tuple):
            batch.append(item[0])
            tickets.append(item[1])
        else:
            batch.append(item)
            tickets.append(Ticket())
        if len(batch) >= 5000:
            journal.append(batch, tickets)
            batch, tickets = [], []
    journal.append(batch, tickets)
