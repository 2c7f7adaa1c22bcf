"""How long the status page takes on a journal of realistic size (prints figures; not a test).

Builds a journal of ``--targets`` targets probed every ``--interval`` seconds for ``--days`` days (with
one outage a day on the first provider target), then times the journal reads behind the pages and the
pages themselves through aiohttp's test server, cold (cache empty) and warm.

    .venv/bin/python bench/web_status.py --targets 10 --days 30 --interval 30
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from watchdog.config import loads
from watchdog.journal.schema import EV_AGENT_START
from watchdog.journal.store import Journal
from watchdog.model import NS, FailureKind, Result
from watchdog.web import JournalSource, StatusService, create_app
from watchdog.web.data import load_history, load_latency


def build(data_dir: Path, targets: int, days: int, interval_s: int) -> tuple[object, int, int]:
    providers = "\n".join(
        f'  - {{id: p{i}, kind: broker, targets: [{{name: t, kind: tcp, address: "127.0.0.1:{1000 + i}"}}],'
        f" sla: {{availability: 99.5}}}}"
        for i in range(targets - 4)
    )
    text = f"""
agent: {{id: bench, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
defaults: {{interval: {interval_s}s, timeout: 5s}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
  internet: [{{name: a, kind: tcp, address: "127.0.0.1:2"}}, {{name: b, kind: tcp, address: "127.0.0.1:3"}},
             {{name: c, kind: tcp, address: "127.0.0.1:4"}}]
providers:
{providers}
"""
    config = loads(text, env={})
    now = time.time_ns()
    origin = now - days * 86400 * NS
    j = Journal.open(config.journal_path)
    j.register_targets(config.targets, now_ns=origin)
    ids = sorted(j.target_id(t.key) for t in config.targets)
    j.add_event(EV_AGENT_START, {"run": "bench", "targets": ids}, ts_ns=origin)
    first = config.targets_of("p0")[0].key
    rows = 0
    batch: list[Result] = []
    for k in range(days * 86400 // interval_s):
        ts = origin + k * interval_s * NS
        down = (k * interval_s) % 86400 < 600  # the first provider target is down 10 minutes a day
        for t in config.targets:
            if t.key == first and down:
                batch.append(Result(t.key, ts, False, 0.0001, FailureKind.CONNECT, "refused"))
            else:
                batch.append(Result(t.key, ts, True, 0.012))
        if len(batch) >= 20_000:
            j.append(batch)
            rows += len(batch)
            batch.clear()
    if batch:
        j.append(batch)
        rows += len(batch)
    for day in range(days):
        start = origin + day * 86400 * NS
        seq = j.add_event(
            "outage_open",
            {
                "start_ns": start,
                "last_ok_ns": start - interval_s * NS,
                "confirmed_ns": start + 2 * interval_s * NS,
                "failure": "connect",
                "detail": "refused",
            },
            target=first,
            ts_ns=start,
        )
        j.add_event(
            "outage_close",
            {"end_ns": start + 600 * NS, "last_fail_ns": start + (600 - interval_s) * NS},
            target=first,
            ref=seq,
            ts_ns=start + 600 * NS,
        )
    t0 = time.perf_counter()
    j.seal()
    print(
        f"journal: {rows} results, {len(config.targets)} targets, {days} d; sealed in {time.perf_counter() - t0:.1f}s"
    )
    j.close()
    return config, now, rows


def timed(label: str, fn, repeat: int = 3) -> None:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    print(f"{label:<40} median {statistics.median(samples) * 1000:8.1f} ms  (n={repeat})")


async def pages(config: object) -> None:
    for cache_s, label in ((0.0, "cold"), (60.0, "warm")):
        app = create_app(StatusService(JournalSource(config, cache_s=cache_s), cache_s=cache_s))  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            await client.get("/")  # fill the cache for the warm run
            for path in ("/", "/providers/p0", "/api/v1/status", "/metrics"):
                samples = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    response = await client.get(path)
                    await response.read()
                    assert response.status == 200, path
                    samples.append(time.perf_counter() - t0)
                print(f"GET {path:<22} ({label} cache)        median {statistics.median(samples) * 1000:8.1f} ms")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--interval", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        config, _now, _ = build(Path(tmp) / "data", args.targets, args.days, args.interval)
        with Journal.open(config.journal_path, create=False, readonly=True) as j:  # type: ignore[attr-defined]
            timed("load_history (30 d analysis, SLA, coverage)", lambda: load_history(j, config, time.time_ns()))
            keys = [t.key for t in config.targets_of("p0")]  # type: ignore[attr-defined]
            timed("load_latency (24 h, one provider)", lambda: load_latency(j, keys, time.time_ns()))
        asyncio.run(pages(config))


if __name__ == "__main__":
    main(sys.argv[1:])
