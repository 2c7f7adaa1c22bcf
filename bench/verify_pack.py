"""Verify cost (issue 13 item 4): ``watchdog verify`` rebuilds a pack's derived files, so time and peak RSS
are measured on a real month-long pack, not only on the demo's.

A month (30 days) at 60 s of six targets of a scripted journal (an ISP's two targets, a bank's target the
pack leaves out, the LAN control, two internet controls): 259,200 results, one block per minute
(43,200 blocks, as the agent seals), 12 provider outages, 2 of them during a LAN outage. Written through
the real Journal API; the pack is made by ``watchdog evidence`` and checked by ``watchdog verify`` in child
processes (peak RSS from getrusage of the child). Usage: ``python -m bench.verify_pack [DIR] [--demo DIR]``.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from watchdog.config import loads  # noqa: E402
from watchdog.journal.schema import EV_AGENT_START, EV_OUTAGE_CLOSE, EV_OUTAGE_OPEN  # noqa: E402
from watchdog.journal.store import Journal  # noqa: E402
from watchdog.model import NS, FailureKind, Result  # noqa: E402
from watchdog.timefmt import to_ns  # noqa: E402

START = to_ns(dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
DAYS = 30
STEP_S = 60
CONFIG = """
agent: {{id: bench-month, timezone: UTC, data_dir: "{data_dir}"}}
defaults: {{interval: 60s, timeout: 5s}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:9"}}]
  internet:
    - {{name: a, kind: tcp, address: "127.0.0.1:9"}}
    - {{name: b, kind: tcp, address: "127.0.0.1:9"}}
  quorum: 1
providers:
  - id: isp
    kind: isp
    targets:
      - {{name: dns, kind: tcp, address: "127.0.0.1:9"}}
      - {{name: web, kind: tcp, address: "127.0.0.1:9"}}
    sla: {{availability: 99.5}}
  - id: bank
    kind: bank
    targets: [{{name: web, kind: tcp, address: "127.0.0.1:9"}}]
ntp: {{enabled: false}}
"""


def month_journal(base: Path) -> Path:
    """Write the month's journal; return the config file."""
    data_dir = base / "data"
    text = CONFIG.format(data_dir=data_dir)
    cfg = base / "watchdog.yaml"
    cfg.write_text(text, encoding="utf-8")
    cfg.chmod(0o600)
    config = loads(text)
    keys = [t.key for t in config.targets]
    # (key, start minute, minutes): provider outages every 2.5 days; two of them inside a LAN outage
    outages = [("isp/dns", 3600 * k + 600, 20 + k) for k in range(12)]
    outages += [("lan/router", 3600 * 2 + 590, 40), ("lan/router", 3600 * 7 + 595, 30)]
    down: dict[int, list[tuple[str, int]]] = {}
    for n, (key, m0, length) in enumerate(outages):
        down.setdefault(m0, []).append((f"open{n}", key))
        down.setdefault(m0 + length, []).append((f"close{n}", key))
    failing: set[str] = set()
    opened: dict[str, int] = {}
    journal = Journal.open(config.journal_path)
    try:
        journal.register_targets(list(config.targets), now_ns=START)
        ids = sorted(journal.target_id(k) for k in keys)
        start = {
            "run": "run1",
            "agent": "bench-month",
            "targets": ids,
            "config_sha256": config.sha256,
            "pack_config_sha256": config.pack_sha256,
        }
        journal.add_event(EV_AGENT_START, start, ts_ns=START)
        for minute in range(DAYS * 24 * 60):
            ts = START + minute * STEP_S * NS
            for handle, key in down.get(minute, []):
                if handle.startswith("open"):
                    failing.add(key)
                    data = {"start_ns": ts, "last_ok_ns": ts - STEP_S * NS, "confirmed_ns": ts, "failure": "connect"}
                    opened[handle[4:]] = journal.add_event(EV_OUTAGE_OPEN, data, target=key, ts_ns=ts)
                else:
                    failing.discard(key)
                    data = {"end_ns": ts, "last_fail_ns": ts - STEP_S * NS}
                    journal.add_event(EV_OUTAGE_CLOSE, data, target=key, ref=opened[handle[5:]], ts_ns=ts)
            rows = []
            for i, key in enumerate(keys):
                at = ts + i * NS
                if key in failing:
                    rows.append(Result(key, at, False, None, failure=FailureKind.CONNECT, detail="connection refused"))
                else:
                    rows.append(Result(key, at, True, 0.010 + (minute % 7) / 1000))
            journal.append(rows)
            journal.seal(now_ns=ts + 59 * NS)
    finally:
        journal.close()
    return cfg


def child(argv: list[str]) -> tuple[float, float, int, str]:
    """Run ``python -m watchdog ARGV`` in a child; (seconds, peak RSS MB, exit code, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "watchdog", *argv], capture_output=True, text=True, env=env)
    took = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if rss <= before:
        rss = before  # the child did not exceed an earlier one: measure it alone (run this per pack)
    return took, rss / 1024, done.returncode, done.stdout + done.stderr


def main() -> None:
    args = sys.argv[1:]
    demo = None
    if "--demo" in args:
        demo = Path(args[args.index("--demo") + 1])
        del args[args.index("--demo") : args.index("--demo") + 2]
    base = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="bench-verify-"))
    base.mkdir(parents=True, exist_ok=True)
    if demo is not None:
        took, rss, code, out = child(["verify", str(demo)])
        print(f"demo pack {demo.stat().st_size / 1e6:.1f} MB: verify {took:.1f} s, peak RSS {rss:.0f} MB, exit {code}")
        print(out)
        return
    cfg = base / "watchdog.yaml"
    if not cfg.exists():
        t0 = time.perf_counter()
        cfg = month_journal(base)
        print(f"journal written in {time.perf_counter() - t0:.0f} s")
    pack = base / "month.zip"
    took, rss, code, out = child(
        [
            "evidence",
            "-c",
            str(cfg),
            "--provider",
            "isp",
            "--period",
            "2026-09",
            "--now",
            "2026-10-01T01:00Z",
            "-o",
            str(pack),
        ]
    )
    print(f"evidence: {took:.1f} s, peak RSS {rss:.0f} MB, exit {code}")
    print(out)
    print(f"pack {pack.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
