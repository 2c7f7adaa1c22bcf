"""B6 — Reports at scale: a year of 10 s results for 20 targets; monthly and yearly SLA reports.

The journal is written through the real :class:`~watchdog.journal.store.Journal` API (``append`` = one
``executemany`` transaction per simulated day, then ``seal`` into blocks of about a minute, as the agent
seals), with outages found by the real :class:`~watchdog.agent.detector.Detector` over the generated results,
so every outage event matches its rows. Agent runs restart monthly and crash three times; outages are
seeded: provider faults, the customer's internet down, the LAN down, single controls down. The file is
cached in ``bench/.cache`` (keyed by seed, length and generator version): generating a year takes
minutes.

A report is what ``watchdog report`` will do: :func:`watchdog.analysis.outages.analyse` over the period, then
:func:`watchdog.analysis.sla.compute` for every provider. Each report runs in a fresh process, which reports its
own wall time and peak RSS.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import CACHE, ROOT, Suite, python_env

GENERATOR_VERSION = 3  # 2: journal schema 2, ICMP times rounded as the probe does; 3: journal schema 3
SEED = 20_261_122
ZONE = "Europe/Moscow"
INTERVAL_S = 10
YEAR = 2025

CONFIG_TEXT = """
agent: {id: bench-year, timezone: Europe/Moscow, data_dir: "/nonexistent"}
defaults: {interval: 10s, timeout: 5s, failure_threshold: 3, success_threshold: 2}
controls:
  lan: [{name: router, kind: icmp, address: 127.0.9.1}]
  internet:
    - {name: dns-a, kind: dns, address: "127.0.9.2", dns: {query_name: example.test}}
    - {name: tcp-b, kind: tcp, address: "127.0.9.3:53"}
    - {name: icmp-c, kind: icmp, address: 127.0.9.4}
  quorum: 2
providers:
  - id: isp
    name: Home ISP
    kind: isp
    targets:
      - {name: gateway, kind: icmp, address: 127.0.9.10}
      - {name: portal, kind: tcp, address: "127.0.9.11:443"}
    sla: {availability: 99.0, restore_within: 72h}
  - id: broker
    name: Broker
    kind: broker
    targets:
      - {name: trading-1, kind: tcp, address: "127.0.9.20:443"}
      - {name: trading-2, kind: tcp, address: "127.0.9.21:443"}
      - {name: trading-3, kind: tcp, address: "127.0.9.22:443"}
      - {name: trading-4, kind: tcp, address: "127.0.9.23:443"}
      - {name: web, kind: http, address: "https://127.0.9.24/"}
      - {name: api, kind: http, address: "https://127.0.9.25/api"}
      - {name: cert, kind: tls, address: "127.0.9.24:443"}
      - {name: quotes, kind: tcp, address: "127.0.9.26:9000"}
    service_hours: {days: Mon-Fri, from: "07:00", to: "23:50"}
    maintenance:
      - {from: "2025-06-14 02:00", to: "2025-06-14 04:00", note: announced}
    sla: {availability: 99.5, period: month, restore_within: 4h}
  - id: bank
    name: Bank
    kind: bank
    targets:
      - {name: web, kind: http, address: "https://127.0.9.30/"}
      - {name: login, kind: http, address: "https://127.0.9.31/login"}
      - {name: api, kind: http, address: "https://127.0.9.32/api"}
      - {name: cards, kind: tcp, address: "127.0.9.33:443"}
      - {name: payments, kind: tcp, address: "127.0.9.34:443"}
      - {name: resolver, kind: dns, address: "127.0.9.35", dns: {query_name: bank.test}}
    sla: {availability: 99.9}
"""


@dataclass(frozen=True)
class Episode:
    """A stretch where some targets fail."""

    start_ns: int
    end_ns: int
    keys: frozenset[str]


def _config() -> Any:
    from watchdog.config import loads

    return loads(CONFIG_TEXT, env={})


def journal_path(days: int, seed: int = SEED) -> Path:
    """Where the generated journal of ``days`` days is cached."""
    return CACHE / f"year-v{GENERATOR_VERSION}-seed{seed}-{days}d.sqlite3"


def _episodes(rng: random.Random, config: Any, start_ns: int, end_ns: int) -> list[Episode]:
    months = (end_ns - start_ns) / (30 * 86_400 * 1e9)
    targets = [t.key for t in config.targets]
    internet = [t.key for t in config.targets if t.role.value == "internet"]
    providers = [t for t in config.targets if t.role.value == "provider"]
    out: list[Episode] = []

    def add(count_per_month: float, lo_s: float, hi_s: float, keys_of: Any) -> None:
        for _ in range(max(1, round(count_per_month * months))):
            duration = math.exp(rng.uniform(math.log(lo_s), math.log(hi_s)))
            begin = rng.randrange(start_ns, end_ns - int(hi_s * 1e9))
            out.append(Episode(begin, begin + int(duration * 1e9), frozenset(keys_of())))

    for provider in config.providers:
        mine = [t.key for t in providers if t.provider == provider.id]
        add(3, 60, 4 * 3600, lambda mine=mine: rng.sample(mine, rng.randint(1, len(mine))))
    add(1.5, 120, 1800, lambda: internet + [t.key for t in providers])  # the customer's internet is down
    add(0.5, 300, 3600, lambda: targets)  # the LAN is down: everything fails
    add(2, 300, 3600, lambda: [rng.choice(internet)])  # one anchor's own network fails
    return out


def _runs(rng: random.Random, start_ns: int, end_ns: int) -> list[tuple[int, int, bool]]:
    """(start, end, clean) agent runs: a restart every 30 days, three crashes with longer gaps."""
    day = 86_400 * 10**9
    cuts = list(range(start_ns + 30 * day, end_ns, 30 * day))
    crashes = set(rng.sample(range(len(cuts)), min(3, len(cuts))))
    runs, begin = [], start_ns
    for i, cut in enumerate(cuts):
        gap = rng.randint(600, 7200) if i in crashes else rng.randint(120, 300)
        runs.append((begin, cut, i not in crashes))
        begin = cut + gap * 10**9
    runs.append((begin, end_ns, True))
    return runs


def _ok(kind: str, address: str, rng: random.Random) -> tuple[float, str, dict[str, float]]:
    if kind == "icmp":
        rtt = [0.001 + rng.random() * 0.002 for _ in range(3)]
        a, b, c = round(min(rtt), 6), round(sum(rtt) / 3, 6), round(max(rtt), 6)  # as the probe rounds them
        return (
            b,
            f"3 of 3 ICMP echo replies from {address}, rtt min/avg/max {a * 1e3:.3f}/{b * 1e3:.3f}/{c * 1e3:.3f} ms",
            {"sent": 3, "received": 3, "loss_ratio": 0.0, "rtt_min_s": a, "rtt_max_s": c, "rtt_avg_s": b},
        )
    if kind == "http":
        return 0.05 + rng.random() * 0.05, f"HTTP 200 OK from {address}", {"status_code": 200, "body_bytes": 5123}
    if kind == "dns":
        return 0.002, "DNS NOERROR for example.test A from 127.0.9.2:53: 127.0.0.1", {"rcode": 0, "answers": 1}
    if kind == "tls":
        days = 200.0 - rng.random()
        return 0.03, "certificate CN=broker.test valid until 2026-06-30 (200 days left)", {"days_left": days}
    return 0.01 + rng.random() * 0.01, f"connected to {address}", {}


def _failure(kind: str, address: str) -> tuple[Any, str, dict[str, float]]:
    from watchdog.model import FailureKind

    if kind == "icmp":
        return (
            FailureKind.TIMEOUT,
            f"no reply to 3 ICMP echo requests to {address}",
            {"sent": 3, "received": 0, "loss_ratio": 1.0},
        )
    if kind == "dns":
        return FailureKind.TIMEOUT, "no answer within 5s", {}
    return FailureKind.CONNECT, f"connect {address}: Connection refused", {}


def build_journal(path: Path, days: int, seed: int = SEED) -> dict[str, Any]:
    """Write ``days`` days of 10 s results for the 20 targets (see the module docstring); return what was written."""
    from watchdog.agent.detector import Closed, Detector, Opened
    from watchdog.journal.schema import (
        EV_AGENT_START,
        EV_AGENT_STOP,
        EV_ALIVE,
        EV_OUTAGE_CLOSE,
        EV_OUTAGE_OPEN,
        EV_RUN_END_RECOVERED,
    )
    from watchdog.journal.store import Journal, PendingEvent, Ticket
    from watchdog.model import Result

    rng = random.Random(seed)
    config = _config()
    zone = ZoneInfo(ZONE)
    start_ns = int(dt.datetime(YEAR, 1, 1, tzinfo=zone).timestamp()) * 10**9
    end_ns = start_ns + days * 86_400 * 10**9
    episodes = _episodes(rng, config, start_ns, end_ns)
    runs = _runs(rng, start_ns, end_ns)
    targets = list(config.targets)
    down: dict[str, list[tuple[int, int]]] = {t.key: [] for t in targets}
    for e in episodes:
        for key in e.keys:
            down[key].append((e.start_ns, e.end_ns))
    for spans in down.values():
        spans.sort()

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    journal = Journal.open(tmp)
    journal.conn.execute("PRAGMA synchronous=OFF")  # a generated file: speed over durability
    ids = journal.register_targets(targets, now_ns=start_ns)
    detectors = {t.key: Detector(t) for t in targets}
    tickets: dict[str, Ticket] = {}
    cursor = {t.key: 0 for t in targets}
    phase = {t.key: int(i * INTERVAL_S * 10**9 / len(targets)) for i, t in enumerate(targets)}
    step = INTERVAL_S * 10**9
    counts = {"results": 0, "events": 0, "outages": 0}
    t0 = time.monotonic()
    day = 86_400 * 10**9
    previous_crash: tuple[str, int] | None = None
    for run_no, (run_start, run_end, clean) in enumerate(runs):
        run_id = f"run{run_no}"
        pending: list[Any] = []
        if previous_crash is not None:
            pending.append(
                PendingEvent(EV_RUN_END_RECOVERED, run_start, {"run": previous_crash[0], "last_ns": previous_crash[1]})
            )
        pending.append(
            PendingEvent(
                EV_AGENT_START,
                run_start,
                {"run": run_id, "targets": sorted(ids.values()), "unusable": [], "quorum": config.quorum},
            )
        )
        chunk_start = run_start
        while chunk_start < run_end:
            chunk_end = min(run_end, (chunk_start // day + 1) * day)
            slot = chunk_start - chunk_start % step
            items: list[Any] = pending
            item_tickets: list[Ticket] = [Ticket() for _ in pending]
            pending = []
            next_alive = chunk_start - chunk_start % (60 * 10**9) + 60 * 10**9
            while slot < chunk_end:
                if slot >= next_alive:
                    items.append(PendingEvent(EV_ALIVE, next_alive, {"run": run_id}))
                    item_tickets.append(Ticket())
                    next_alive += 60 * 10**9
                for t in targets:
                    ts = slot + phase[t.key]
                    if ts < chunk_start or ts >= chunk_end:
                        continue
                    spans, i = down[t.key], cursor[t.key]
                    while i < len(spans) and spans[i][1] <= ts:
                        i += 1
                    cursor[t.key] = i
                    if i < len(spans) and spans[i][0] <= ts:
                        failure, detail, metrics = _failure(t.kind, t.address)
                        result = Result(t.key, ts, False, 0.5 if metrics else 5.0, failure, detail, metrics)
                    else:
                        latency, detail, metrics = _ok(t.kind, t.address, rng)
                        result = Result(t.key, ts, True, latency, None, detail, metrics)
                    items.append(result)
                    item_tickets.append(Ticket())
                    transition = detectors[t.key].observe(result)
                    if isinstance(transition, Opened):
                        ticket = Ticket()
                        items.append(
                            PendingEvent(
                                EV_OUTAGE_OPEN,
                                ts,
                                {
                                    "start_ns": transition.start_ns,
                                    "last_ok_ns": transition.last_ok_ns,
                                    "confirmed_ns": transition.confirmed_ns,
                                    "failure": transition.failure.value if transition.failure else None,
                                    "detail": transition.detail,
                                    "failures": transition.failures,
                                },
                                t.key,
                            )
                        )
                        item_tickets.append(ticket)  # the close event refers to this row through it
                        tickets[t.key] = ticket
                        detectors[t.key].bind(transition, -1)
                        counts["outages"] += 1
                    elif isinstance(transition, Closed):
                        closed = transition.outage
                        items.append(
                            PendingEvent(
                                EV_OUTAGE_CLOSE,
                                ts,
                                {
                                    "end_ns": closed.end_ns,
                                    "last_fail_ns": closed.end_bounds[0] if closed.end_bounds else None,
                                    "successes": transition.successes,
                                },
                                t.key,
                                tickets.pop(t.key),
                            )
                        )
                        item_tickets.append(Ticket())
                slot += step
            if chunk_end == run_end and clean:
                items.append(PendingEvent(EV_AGENT_STOP, run_end, {"run": run_id, "reason": "stop requested"}))
                item_tickets.append(Ticket())
            journal.append(items, item_tickets)
            journal.seal(now_ns=chunk_end, max_rows=2 * len(targets) * 6 + 1)
            counts["results"] += sum(1 for x in items if isinstance(x, Result))
            counts["events"] += sum(1 for x in items if not isinstance(x, Result))
            chunk_start = chunk_end
            print(f"\r  generating: day {(chunk_end - start_ns) // day}/{days}", end="", flush=True)
        previous_crash = None if clean else (run_id, run_end - 1)
    print()
    journal.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.close()
    tmp.rename(path)
    built = {**counts, "seconds": time.monotonic() - t0, "start_ns": start_ns, "end_ns": end_ns}
    path.with_suffix(".json").write_text(json.dumps(built))  # how it was built, reported when the file is reused
    return built


def generate_report(journal: Path, config: Any, period_label: str) -> list[Any]:
    """One SLA report: analyse the period, then compute every provider's figures (what ``watchdog report`` does)."""
    from watchdog.analysis.outages import analyse
    from watchdog.analysis.sla import compute, parse_period
    from watchdog.journal.store import Journal

    zone = ZoneInfo(ZONE)
    period = parse_period(period_label, zone)
    with Journal.open(journal, create=False, readonly=True) as j:
        analysis = analyse(
            j,
            provider_kinds={p.id: p.kind for p in config.providers},
            quorum=config.quorum,
            since_ns=period.start_ns,
            until_ns=period.end_ns,
            now_ns=period.end_ns,
        )
    return [compute(analysis, p, period, zone) for p in config.providers]


def _measure(journal: str, period: str) -> dict[str, Any]:
    """In a fresh process: time one report and read the peak RSS."""
    import resource

    config = _config()
    t0 = time.perf_counter()
    figures = generate_report(Path(journal), config, period)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "availability": {f.provider: f.availability for f in figures},
        "incidents": {f.provider: len(f.incidents) for f in figures},
    }


def _text_by_kind(path: Path, sample_rows: int = 2_000_000) -> str:
    """Average detail and metrics text stored in each result row, by probe kind, over the first rows.

    Schema 2 counts only texts stored inline (an interned text costs its row an id of 1 to 3 bytes).
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        kinds = {
            int(tid): json.loads(data)["kind"]
            for tid, data in conn.execute("SELECT target, data FROM events WHERE type = 'target'")
        }
        schema2 = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'result_rows'").fetchone() is not None
        inline = "CASE typeof({0}) WHEN 'text' THEN length(CAST({0} AS BLOB)) ELSE 0 END"
        totals: dict[str, list[float]] = {}
        for tid, n, detail, metrics in conn.execute(
            f"SELECT target, count(*), avg({inline.format('detail')}), avg({inline.format('metrics')}) "
            f"FROM {'result_rows' if schema2 else 'results'} WHERE seq < ? GROUP BY target",
            (sample_rows,),
        ):
            t = totals.setdefault(kinds[tid], [0, 0.0, 0.0])
            t[0] += n
            t[1] += detail * n
            t[2] += metrics * n
    finally:
        conn.close()
    return "; ".join(f"{k} detail {d / n:.0f} B + metrics {m / n:.0f} B" for k, (n, d, m) in sorted(totals.items()))


def _journal_bytes(path: Path) -> dict[str, float]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        results = conn.execute("SELECT count(*) FROM results").fetchone()[0]
        by_table = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    finally:
        conn.close()
    return {"results": results, "file": path.stat().st_size, **{f"table:{k}": v for k, v in by_table.items()}}


RESULTS_DATA = (  # schema 1, 2 and 3
    "results",
    "result_rows",
    "texts",
    "sqlite_autoindex_texts_1",
    "templates",
    "sqlite_autoindex_templates_1",
)


def results_data_bytes(path: Path) -> int:
    """Pages holding the results: the ``results`` table (schema 1), or ``result_rows``, ``texts`` (schema 2) and
    ``templates`` (schema 3)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(RESULTS_DATA))
        row = conn.execute(f"SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ({marks})", RESULTS_DATA)
        return int(row.fetchone()[0])
    finally:
        conn.close()


def run(suite: Suite, *, full: bool) -> None:
    """Measure B6 on a cached generated journal (a year with ``--full``, a month and a half otherwise)."""
    days = 365 if full else 45
    path = journal_path(days)
    if path.exists():
        suite.note(f"journal: cached {path.relative_to(ROOT)} ({days} days, seed {SEED})")
        sidecar = path.with_suffix(".json")
        written = json.loads(sidecar.read_text()) if sidecar.exists() else None
    else:
        suite.note(f"journal: generating {days} days of 10 s results for 20 targets (seed {SEED}), cached afterwards")
        written = build_journal(path, days)
    if written is not None:
        suite.add(
            "journal generation through Journal.append/seal (when the file was built)",
            written["results"] / written["seconds"],
            "results/s",
            note=(
                f"{written['results']:,} results, {written['events']:,} events, {written['outages']:,} outages "
                f"in {written['seconds']:.0f} s"
            ),
        )
    sizes = _journal_bytes(path)
    suite.add("results in the journal", float(sizes["results"]), "rows")
    suite.add("journal file size", sizes["file"] / 2**20, "MiB")
    per_result = sizes["file"] / sizes["results"]
    suite.add(
        "journal bytes per result (whole file: rows, events, seals, indexes)",
        per_result,
        "B",
        "≤ 40 B",
        per_result <= 40,
    )
    suite.add(
        "results data bytes per result (schema 3: result_rows + texts + templates)",
        sum(sizes.get(f"table:{name}", 0) for name in RESULTS_DATA) / sizes["results"],
        "B",
        note=f"inline text per result by kind: {_text_by_kind(path)}",
    )
    suite.add("seal blocks bytes per result", sizes.get("table:blocks", 0) / sizes["results"], "B")
    suite.add(
        "events table + index bytes per result",
        (sizes.get("table:events", 0) + sizes.get("table:events_type_ts", 0)) / sizes["results"],
        "B",
    )
    periods = [("monthly", f"{YEAR}-02", 2.0)]
    periods.append(
        ("yearly", str(YEAR), 10.0)
        if full
        else ("whole journal (45 days, the yearly goal is for 365)", f"{YEAR}-01-01..{YEAR}-02-14", 10.0)
    )
    for label, period, goal_s in periods:
        done = subprocess.run(
            [sys.executable, "-m", "bench.reports", "measure", str(path), period],
            capture_output=True,
            text=True,
            env=python_env(),
            cwd=ROOT,
            check=False,
            timeout=3600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"report {period} failed:\n{done.stderr[-2000:]}")
        m = json.loads(done.stdout.strip().splitlines()[-1])
        avail = ", ".join(f"{k} {v:.3f} %" if v is not None else f"{k} n/a" for k, v in m["availability"].items())
        suite.add(
            f"{label} report ({period}) time", m["seconds"], "s", f"≤ {goal_s:g} s", m["seconds"] <= goal_s, note=avail
        )
        rss_mb = m["peak_rss_kb"] / 1024
        suite.add(
            f"{label} report peak RSS", rss_mb, "MB", "≤ 300 MB", rss_mb <= 300, note=f"incidents {m['incidents']}"
        )


if __name__ == "__main__":
    if sys.argv[1] == "loop":  # generate reports until terminated; one line each (bench/schedule.py's load)
        loop_config = _config()
        while True:
            generate_report(Path(sys.argv[2]), loop_config, sys.argv[3])
            print("report", flush=True)
    if sys.argv[1] == "measure":
        print(json.dumps(_measure(sys.argv[2], sys.argv[3])))
    elif sys.argv[1] == "build":
        days_arg = int(sys.argv[2])
        print(json.dumps(build_journal(journal_path(days_arg), days_arg)))
