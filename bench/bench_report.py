"""Report and evidence-pack cost over one month and one year of 10-second results for 10 targets.

Prints figures; asserts nothing. Each measurement runs in a fresh process, so its peak memory (max RSS)
is its own. Usage::

    .venv/bin/python bench/bench_report.py            # one month (about 2.6 M results)
    .venv/bin/python bench/bench_report.py --year     # also one year (about 31.5 M results, ~1.3 GB journal)

Reports read outages, runs and events only, so their cost should not grow with the raw results; the
pack reads the raw rows of its period (found through the blocks).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watchdog.config import Config, loads
from watchdog.journal.schema import EV_AGENT_START, EV_AGENT_STOP, EV_OUTAGE_CLOSE, EV_OUTAGE_OPEN
from watchdog.journal.store import Journal, PendingEvent
from watchdog.model import NS, FailureKind, Result
from watchdog.timefmt import to_ns

MSK = ZoneInfo("Europe/Moscow")
INTERVAL_S = 10
CONFIG = """
agent: {{id: bench, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
defaults: {{interval: 10s, timeout: 5s}}
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
      - {{name: api, kind: tcp, address: "127.0.0.1:7"}}
    service_hours: {{days: Mon-Fri, from: "07:00", to: "23:50"}}
    sla: {{availability: 99.5, restore_within: 72h}}
  - id: bank
    kind: bank
    targets:
      - {{name: web, kind: tcp, address: "127.0.0.1:8"}}
      - {{name: app, kind: tcp, address: "127.0.0.1:9"}}
      - {{name: api, kind: tcp, address: "127.0.0.1:10"}}
ntp: {{enabled: false}}
"""


def write_journal(config: Config, start: dt.datetime, end: dt.datetime) -> tuple[int, float]:
    """10-second results for every target, a daily restart, a 20-minute broker outage every 3 days."""
    journal = Journal.open(config.journal_path)
    ids = journal.register_targets(config.targets, now_ns=to_ns(start) - NS)
    t0, t1 = to_ns(start), to_ns(end)
    day = 86400 * NS
    rows = 0
    began = time.perf_counter()
    day_start = t0
    run = 0
    while day_start < t1:
        run += 1
        items: list[Result | PendingEvent] = [
            PendingEvent(EV_AGENT_START, day_start, {"run": f"r{run}", "targets": sorted(ids.values())})
        ]
        outage = (run % 3 == 0, day_start + 11 * 3600 * NS, day_start + (11 * 3600 + 1200) * NS)
        t = day_start
        stop = min(day_start + day - 60 * NS, t1)  # a minute without data each night (a restart)
        while t < stop:
            down = outage[0] and outage[1] <= t < outage[2]
            for k, target in enumerate(config.targets):
                is_down = down and target.key == "broker/trading"
                items.append(
                    Result(
                        target.key,
                        t + k * NS,
                        not is_down,
                        0.012,
                        FailureKind.CONNECT if is_down else None,
                        "connect refused" if is_down else "",
                    )
                )
            t += INTERVAL_S * NS
            if len(items) >= 100_000:
                journal.append(items)
                journal.seal(now_ns=t)
                rows += len(items)
                items = []
        if outage[0]:
            journal.append(items)
            rows += len(items)
            items = []
            open_seq = journal.add_event(
                EV_OUTAGE_OPEN,
                {"start_ns": outage[1], "last_ok_ns": outage[1] - 10 * NS, "confirmed_ns": outage[1] + 20 * NS},
                target="broker/trading",
                ts_ns=outage[1] + 20 * NS,
            )
            journal.add_event(
                EV_OUTAGE_CLOSE,
                {"end_ns": outage[2], "last_fail_ns": outage[2] - 10 * NS},
                target="broker/trading",
                ref=open_seq,
                ts_ns=outage[2],
            )
        items.append(PendingEvent(EV_AGENT_STOP, stop, {"run": f"r{run}", "reason": "stopped"}))
        journal.append(items)
        rows += len(items)
        journal.seal(now_ns=stop)
        day_start += day
    journal.close()
    return rows, time.perf_counter() - began


def measure(kind: str, config_path: str, period: str, out: str) -> None:
    """Run in a fresh process: build the report (or the pack) and print wall time and peak RSS."""
    from watchdog.config import load
    from watchdog.documents.report import build_report, render

    config = load(config_path)
    began = time.perf_counter()
    with Journal.open(config.journal_path, readonly=kind == "report") as journal:
        if kind == "report":
            report = build_report(journal, config, "broker", period)
            render(report, "report.txt.j2")
            extra = {"incidents": len(report.figures.incidents)}
        else:
            from watchdog.documents.pack.build import build_pack

            info = build_pack(journal, config, "broker", period, Path(out))
            extra = {"results": info.results, "pack_bytes": Path(out).stat().st_size}
    wall = time.perf_counter() - began
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "kind": kind,
                "period": period,
                "wall_s": round(wall, 3),
                "peak_rss_mib": round(peak_kib / 1024, 1),
                **extra,
            }
        )
    )


def run_case(label: str, start: dt.datetime, end: dt.datetime, periods: list[str], pack: bool, base: Path) -> None:
    data = base / label
    cfg = base / f"{label}.yaml"
    cfg.write_text(CONFIG.format(data_dir=data), encoding="utf-8")
    config = loads(cfg.read_text(encoding="utf-8"), env={})
    rows, secs = write_journal(config, start, end)
    size = config.journal_path.stat().st_size
    print(f"{label}: wrote {rows:,} rows in {secs:.0f} s; journal {size / 2**20:.0f} MiB")
    for period in periods:
        kinds = ["report", "pack"] if pack else ["report"]
        for kind in kinds:
            out = subprocess.run(
                [sys.executable, __file__, "--measure", kind, str(cfg), period, str(base / f"{label}-{period}.zip")],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            print(f"  {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--year", action="store_true", help="also a year of results (a few minutes, ~1.3 GB)")
    parser.add_argument("--measure", nargs=4, metavar=("KIND", "CONFIG", "PERIOD", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", help="work directory (default: a temporary one, removed afterwards)")
    args = parser.parse_args()
    if args.measure:
        measure(*args.measure)
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base = Path(tmp)
        print(f"10 targets, one result each every {INTERVAL_S} s; Python {sys.version.split()[0]}")
        run_case(
            "month", dt.datetime(2026, 11, 1, tzinfo=MSK), dt.datetime(2026, 12, 1, tzinfo=MSK), ["2026-11"], True, base
        )
        if args.year:
            run_case(
                "year",
                dt.datetime(2026, 1, 1, tzinfo=MSK),
                dt.datetime(2027, 1, 1, tzinfo=MSK),
                ["2026-11", "2026"],
                False,
                base,
            )


if __name__ == "__main__":
    main()
