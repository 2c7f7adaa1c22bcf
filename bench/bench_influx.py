"""Benchmark: the InfluxDB exporter against a real influxd on loopback (prints figures, asserts nothing).

1. Export throughput: a journal of N results (50 targets) drained into an empty database, points/s.
2. A one-hour backlog for 50 targets at 10 s (18,000 results, as after InfluxDB was down for an hour):
   how long the exporter takes to catch up.

Usage: .venv/bin/python bench/bench_influx.py [--rows 200000] [--batch 5000]
Needs Debian's influxd (scripts/debian-packages.txt). Client and server share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from influx_server import InfluxServer, available

from watchdog.agent.sinks import AgentContext
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter
from watchdog.config import Config, loads
from watchdog.influx.exporter import InfluxExporter
from watchdog.journal.store import Journal
from watchdog.model import NS, FailureKind, Result

TARGETS = 50


def make_config(data_dir: Path, url: str, db: str, batch: int) -> Config:
    targets = ", ".join(f"{{name: t{i:02d}, kind: tcp, address: '127.0.0.1:9'}}" for i in range(TARGETS))
    return loads(
        f"""
agent: {{id: bench, data_dir: "{data_dir}"}}
defaults: {{interval: 10s, timeout: 5s}}
providers: [{{id: broker, targets: [{targets}]}}]
influxdb: {{url: "{url}", database: {db}, batch_size: {batch}, heartbeat_interval: 1h, sla_interval: 1h}}
""",
        env={},
    )


def fill(config: Config, rows: int, start_ns: int) -> int:
    """Write ``rows`` results, 50 targets at 10 s each, one in 20 failed; return the last seq."""
    keys = [t.key for t in config.targets]
    with Journal.open(config.journal_path) as journal:
        journal.register_targets(config.targets)
        chunk: list[Result] = []
        last = 0
        for i in range(rows):
            slot, target = divmod(i, len(keys))
            ok = i % 20 != 7
            chunk.append(
                Result(
                    target=keys[target],
                    ts_ns=start_ns + slot * 10 * NS + target * 200_000_000,
                    ok=ok,
                    latency_s=0.0123 + (i % 97) * 1e-5,
                    failure=None if ok else FailureKind.TIMEOUT,
                    detail="" if ok else "no answer in 5s",
                )
            )
            if len(chunk) == 10_000:
                last = journal.append(chunk)[-1]
                chunk = []
        if chunk:
            last = journal.append(chunk)[-1]
    return last


async def drain(config: Config, last_seq: int) -> tuple[float, float]:
    """Run an exporter until its cursor reaches ``last_seq``; (wall seconds, this process's CPU seconds)."""
    writer = JournalWriter(config.journal_path)
    await writer.open()
    assert config.model.influxdb is not None
    exporter = InfluxExporter(AgentContext(config, Board.for_targets(config.targets, 0), writer), config.model.influxdb)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    await exporter.start()
    while True:  # polled: the exporter has no "caught up" signal, and 10 ms is far below the figures measured
        await asyncio.sleep(0.01)
        if exporter.cursor >= last_seq:
            break
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    await exporter.aclose()
    await writer.aclose()
    return wall, cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="results for the throughput run")
    parser.add_argument("--batch", type=int, default=5000, help="points per write request")
    args = parser.parse_args()
    if not available():
        sys.exit("influxd is not installed: apt-get install influxdb")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = InfluxServer(root / "influxd")
        server.start()
        try:
            print(f"influxd 1.6.7 on {server.url}; {TARGETS} targets; batch {args.batch} points")

            config = make_config(root / "tput", server.url, "tput", args.batch)
            last = fill(config, args.rows, time.time_ns() - args.rows // TARGETS * 10 * NS)
            wall, cpu = await drain(config, last)
            stored = server.query('SELECT count("ok") FROM "probe"', "tput")[0]["values"][0][1]
            print(
                f"throughput: {args.rows:,} results in {wall:.2f} s = {args.rows / wall:,.0f} points/s "
                f"(exporter CPU {cpu:.2f} s = {cpu / args.rows * 1e6:.1f} µs/point); stored {stored:,}"
            )

            hour = TARGETS * 360
            config = make_config(root / "hour", server.url, "hour", args.batch)
            last = fill(config, hour, time.time_ns() - 3600 * NS)
            wall, cpu = await drain(config, last)
            stored = server.query('SELECT count("ok") FROM "probe"', "hour")[0]["values"][0][1]
            print(
                f"one-hour backlog, {TARGETS} targets at 10 s ({hour:,} results): drained in {wall:.2f} s "
                f"(exporter CPU {cpu:.2f} s); stored {stored:,}"
            )
            print(f"max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
