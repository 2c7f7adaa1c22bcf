"""Collective report over many households, from evidence packs and from InfluxDB: wall time and peak memory.

Prints figures; asserts nothing (except that both sources agree). Usage::

    .venv/bin/python bench/bench_collective.py                 # 200 agents × October 2026, 4 targets at 30 s
    .venv/bin/python bench/bench_collective.py --agents 20     # a smaller run

Each household is a real journal written through the Journal API in day-long transactions and sealed in
blocks of 9 rows (what an agent probing 4 targets every 30 s seals each minute, with its heartbeat): 4
targets × 2,976 probes + 44,640 heartbeats ≈ 0.4 M rows a month. Around 90 % of the households see one
ISP outage (14 Oct 10:02–14:47 MSK, edges at their own probe times); some have their own line down for an
hour (a third of those during the ISP's outage), every one has small outages of its own, and some were off
for a while. Its ``--share`` pack is made by ``watchdog.documents.pack.build.build_pack``, and its ``timeline`` points
by the InfluxDB exporter's own code, written to a real influxd 1.6.7 on loopback (tests/influx_server.py).
Only the ``timeline`` measurement is loaded into InfluxDB (the collective report reads nothing else; 80 M
probe points would take hours to load on the development machine).

Journals, packs and the influxd data are cached in ``--cache`` (default /tmp/watchdog-bench-collective) and
reused by later runs with the same ``--agents``. Each measured report runs in a fresh process (``--measure``):
its wall time, its own peak RSS and the largest peak RSS among the pack workers it started.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from watchdog.config import Config, loads
from watchdog.journal.schema import EV_AGENT_START, EV_AGENT_STOP, EV_ALIVE, EV_OUTAGE_CLOSE, EV_OUTAGE_OPEN
from watchdog.journal.store import Journal, PendingEvent, Ticket
from watchdog.model import NS, FailureKind, Result
from watchdog.timefmt import to_ns

MSK = ZoneInfo("Europe/Moscow")
START = dt.datetime(2026, 10, 1, tzinfo=MSK)
DAYS = 31
INTERVAL = 30 * NS
PERIOD = "2026-10"
AS_OF = "2026-11-01T01:00+03:00"
ISP_DOWN = (to_ns(dt.datetime(2026, 10, 14, 10, 2, tzinfo=MSK)), to_ns(dt.datetime(2026, 10, 14, 14, 47, tzinfo=MSK)))
DB = "advocate"
CONFIG = """
agent: {{id: {agent}, timezone: Europe/Moscow, data_dir: "{data_dir}", tags: {{region: {region}, asn: AS12389}},
        share: {{providers: {{isp: rostelecom}}}}}}
defaults: {{interval: 30s, timeout: 5s}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
  internet: [{{name: a, kind: tcp, address: "127.0.0.1:2"}}, {{name: b, kind: tcp, address: "127.0.0.1:3"}}]
  quorum: 1
providers:
  - {{id: isp, name: Rostelecom, kind: isp, targets: [{{name: dns, kind: tcp, address: "127.0.0.1:4"}}]}}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""


def household(i: int, base: Path) -> tuple[Path, dict[str, int]]:
    """Write household ``i``'s journal for October (if not cached); return its config file and row counts."""
    agent = f"hh-{i:03d}"
    cfg = base / f"{agent}.yaml"
    data_dir = base / agent
    done = data_dir / "done.json"
    if done.exists():
        return cfg, json.loads(done.read_text())
    cfg.write_text(CONFIG.format(agent=agent, data_dir=data_dir, region=("msk", "spb", "ekb")[i % 3]))
    config = loads(cfg.read_text(), env={})
    rng = random.Random(i)
    t0 = to_ns(START)
    t1 = t0 + DAYS * 86400 * NS
    down: dict[str, list[tuple[int, int]]] = {t.key: [] for t in config.targets}
    if rng.random() < 0.9:
        down["isp/dns"].append(ISP_DOWN)
    if rng.random() < 0.1:  # the household's own line: router and anchors, and so the ISP's DNS too
        if rng.random() < 0.33:
            a = ISP_DOWN[0] + 3600 * NS
        else:
            a = t0 + rng.randrange(1, DAYS - 1) * 86400 * NS + rng.randrange(0, 20) * 3600 * NS
        for key in down:
            down[key].append((a, a + 3600 * NS))
    for _ in range(2):  # small outages of its own
        a = t0 + rng.randrange(0, DAYS) * 86400 * NS + rng.randrange(0, 86000) * NS
        down["isp/dns"].append((a, a + rng.randrange(300, 1200) * NS))
    gaps = []
    if rng.random() < 0.3:  # a reboot
        a = t0 + rng.randrange(0, DAYS) * 86400 * NS + rng.randrange(0, 80000) * NS
        gaps.append((a, a + rng.randrange(300, 3600) * NS))
    if rng.random() < 0.05:  # a day without power
        a = t0 + rng.randrange(0, DAYS) * 86400 * NS
        gaps.append((a, a + 86400 * NS))
    counts = write(config, t0, t1, down, gaps)
    done.write_text(json.dumps(counts))
    return cfg, counts


def write(
    config: Config, t0: int, t1: int, down: dict[str, list[tuple[int, int]]], gaps: list[tuple[int, int]]
) -> dict[str, int]:
    """Results, heartbeats, runs and the outages they imply, in time order, a day per transaction."""
    journal = Journal.open(config.journal_path)
    ids = journal.register_targets(config.targets, now_ns=t0 - NS)
    keys = [t.key for t in config.targets]

    def is_down(key: str, t: int) -> bool:
        return any(a <= t < b for a, b in down[key])

    def running(t: int) -> bool:
        return not any(a <= t < b for a, b in gaps)

    run = 0
    state = {k: {"fails": [], "ok_run": 0, "last_ok": None, "open": None, "last_fail": None} for k in keys}
    counts = {"results": 0, "events": 0, "blocks": 0}
    items: list[Result | PendingEvent] = []
    tickets: list[Ticket] = []
    t = t0
    was_running = False
    while t < t1:
        if running(t) and not was_running:
            run += 1
            items.append(
                PendingEvent(
                    EV_AGENT_START,
                    t,
                    {
                        "run": f"r{run}",
                        "targets": sorted(ids.values()),
                        "providers": {"isp": {"name": "Rostelecom", "kind": "isp"}},
                        "quorum": 1,
                    },
                )
            )
            tickets.append(Ticket())
        elif not running(t) and was_running:
            items.append(PendingEvent(EV_AGENT_STOP, t - INTERVAL + NS, {"run": f"r{run}", "reason": "stopped"}))
            tickets.append(Ticket())
        was_running = running(t)
        if was_running:
            for k, key in enumerate(keys):
                ts = t + k * 2 * NS  # staggered
                failed = is_down(key, ts)
                items.append(
                    Result(
                        key,
                        ts,
                        not failed,
                        0.012,
                        FailureKind.CONNECT if failed else None,
                        "connect refused" if failed else "",
                    )
                )
                tickets.append(Ticket())
                s = state[key]
                if failed:
                    s["fails"].append(ts)
                    s["ok_run"] = 0
                    s["last_fail"] = ts
                    if s["open"] is None and len(s["fails"]) == 3:
                        ticket = tickets[-1]
                        items.append(
                            PendingEvent(
                                EV_OUTAGE_OPEN,
                                ts,
                                {
                                    "start_ns": s["fails"][0],
                                    "last_ok_ns": s["last_ok"],
                                    "confirmed_ns": ts,
                                    "failure": "connect",
                                    "detail": "connect refused",
                                },
                                key,
                            )
                        )
                        tickets.append(Ticket())
                        s["open"] = tickets[-1]
                        del ticket
                else:
                    s["ok_run"] += 1
                    if s["ok_run"] == 1:
                        s["first_ok"] = ts
                    s["fails"] = []
                    s["last_ok"] = ts
                    if s["open"] is not None and s["ok_run"] == 2:
                        items.append(
                            PendingEvent(
                                EV_OUTAGE_CLOSE,
                                ts,
                                {"end_ns": s["first_ok"], "last_fail_ns": s["last_fail"]},
                                key,
                                s["open"],
                            )
                        )
                        tickets.append(Ticket())
                        s["open"] = None
            if (t - t0) % (60 * NS) == 0:
                items.append(PendingEvent(EV_ALIVE, t + 10 * NS, {"run": f"r{run}"}))
                tickets.append(Ticket())
        t += INTERVAL
        if (t - t0) % (86400 * NS) == 0 or t >= t1:
            if t >= t1 and was_running:
                items.append(PendingEvent(EV_AGENT_STOP, t1, {"run": f"r{run}", "reason": "stopped"}))
                tickets.append(Ticket())
            journal.append(items, tickets)
            counts["results"] += sum(isinstance(x, Result) for x in items)
            counts["events"] += sum(isinstance(x, PendingEvent) for x in items)
            counts["blocks"] += len(journal.seal(now_ns=t, max_rows=9))
            items, tickets = [], []
    journal.close()
    return counts


def pack(cfg: Path, out: Path) -> float:
    """The household's --share pack for October (cached); seconds it took (0 when cached)."""
    if out.exists():
        return 0.0
    from watchdog.config import load
    from watchdog.documents.pack.build import build_pack
    from watchdog.documents.sharing import shared_identity

    config = load(cfg)
    began = time.perf_counter()
    with Journal.open(config.journal_path, readonly=True) as journal:
        build_pack(
            journal,
            config,
            "isp",
            PERIOD,
            out.with_suffix(".tmp"),
            now_ns=to_ns(dt.datetime.fromisoformat(AS_OF)),
            share=shared_identity(config),
        )
    out.with_suffix(".tmp").rename(out)
    return time.perf_counter() - began


def timeline_lines(cfg: Path) -> list[str]:
    """The household's timeline points, made by the InfluxDB exporter's own code (its shared schema)."""
    from watchdog.agent.sinks import AgentContext
    from watchdog.agent.state import Board
    from watchdog.collective.share import SharedSchema
    from watchdog.config import load
    from watchdog.documents.sharing import shared_identity
    from watchdog.influx.exporter import InfluxExporter

    config = load(cfg)
    assert config.agent.share is not None
    settings = loads(f'influxdb: {{url: "http://127.0.0.1:1", database: {DB}}}', env={}).model.influxdb
    assert settings is not None
    ctx = AgentContext(config, Board.for_targets(config.targets, 0), None)  # type: ignore[arg-type]  # no writes
    exporter = InfluxExporter(ctx, settings, schema=SharedSchema(shared_identity(config)))
    with Journal.open(config.journal_path, readonly=True) as journal:
        return exporter._timeline_lines(journal)


def measure(source: str, target: str, out: str) -> None:
    """In a fresh process: the collective report, its wall time and peak memory."""
    from watchdog.cli import main as cli

    args = ["collective", "--provider", "rostelecom", "--period", PERIOD, "--now", AS_OF, "--json", "-o", out]
    args += ["--packs", target, "--jobs", "2"] if source == "packs" else ["-c", target, "--influx"]
    began = time.perf_counter()
    code = cli(args)
    wall = time.perf_counter() - began
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "source": source,
                "exit": code,
                "wall_s": round(wall, 2),
                "peak_rss_mib": round(own, 1),
                "largest_worker_rss_mib": round(workers, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--cache", default="/tmp/watchdog-bench-collective")
    parser.add_argument("--measure", nargs=3, metavar=("SOURCE", "TARGET", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(*args.measure)
        return
    from influx_server import InfluxServer

    base = Path(args.cache) / f"agents-{args.agents}"
    journals, packs = base / "journals", base / "packs"
    journals.mkdir(parents=True, exist_ok=True)
    packs.mkdir(exist_ok=True)
    print(
        f"{args.agents} households × {DAYS} days, 4 targets every 30 s; Python {sys.version.split()[0]}; cache {base}"
    )

    began = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        made = list(pool.map(household, range(args.agents), [journals] * args.agents))
    rows = sum(c["results"] + c["events"] for _, c in made)
    size = sum((journals / f"hh-{i:03d}" / "journal.sqlite3").stat().st_size for i in range(args.agents))
    print(f"journals: {rows:,} rows, {size / 2**30:.2f} GiB, {time.perf_counter() - began:.0f} s (0 when cached)")

    began = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        secs = list(pool.map(pack, [c for c, _ in made], [packs / f"hh-{i:03d}.zip" for i in range(args.agents)]))
    made_now = [s for s in secs if s]
    zips = sum(p.stat().st_size for p in packs.glob("*.zip"))
    note = f", {sum(made_now) / len(made_now):.1f} s each on one core" if made_now else " (cached)"
    print(f"packs: {args.agents} share packs, {zips / 2**30:.2f} GiB, {time.perf_counter() - began:.0f} s{note}")

    server = InfluxServer(base / "influxd")
    server.start()
    try:
        marker = base / "influxd" / "loaded"
        if not marker.exists():
            began = time.perf_counter()
            server.create_database(DB)
            points = 0
            with ProcessPoolExecutor(2) as pool:
                for lines in pool.map(timeline_lines, [c for c, _ in made]):
                    for start in range(0, len(lines), 5000):
                        server.write(DB, "\n".join(lines[start : start + 5000]))
                    points += len(lines)
            marker.write_text(str(points))
            print(f"influxdb: {points:,} timeline points written in {time.perf_counter() - began:.0f} s")
        else:
            print(f"influxdb: {int(marker.read_text()):,} timeline points (cached)")
        advocate = base / "advocate.yaml"
        advocate.write_text(
            f'agent: {{id: advocate, timezone: Europe/Moscow}}\ninfluxdb: {{url: "{server.url}", database: {DB}}}\n'
        )
        docs = {}
        for source, target in (("packs", str(packs)), ("influxdb", str(advocate))):
            out = base / f"{source}.json"
            line = (
                subprocess.run(
                    [sys.executable, __file__, "--measure", source, target, str(out)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            print(f"collective from {source}: {line}")
            docs[source] = json.loads(out.read_text(encoding="utf-8"))
    finally:
        server.stop()
    a, b = docs["packs"], docs["influxdb"]
    same = a["windows"] == b["windows"] and [x["provider_s"] for x in a["agents"]] == [
        x["provider_s"] for x in b["agents"]
    ]
    for w in a["windows"]:
        print(
            f"  window {w['start']['local']} – {w['end']['local']}: {w['text']}; own line down: {len(w['line_down'])}"
        )
    print(f"agents: {len(a['agents'])}; windows: {len(a['windows'])}; packs and InfluxDB agree: {same}")


if __name__ == "__main__":
    main()
