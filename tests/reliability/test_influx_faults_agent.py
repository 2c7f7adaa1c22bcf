"""InfluxDB misbehaving under a running agent: down, slow, 429 with Retry-After, hung — then healthy again.

The agent runs for real (probing TCP services on loopback every second, journaling, exporting) against a
real influxd (Debian's 1.6.7) behind a fault proxy in its own process (tests/reliability/influx_proxy.py;
the kernel here has no netem). The phases, one after the other:

* healthy: the proxy forwards (6 s);
* down: no listener, connection refused (30 s; ``WATCHDOG_FAULT_INFLUX_DOWN_S=300`` for the issue's 5 min);
* slow: every request waits 2 s in the proxy, then goes through (12 s);
* 429: writes answered ``429 Too Many Requests`` with ``Retry-After: 3`` (10 s);
* hung: requests read and never answered (10 s);
* healthy again, until the backlog has drained.

What the test checks, once the agent has stopped:

* zero rows lost: the ``probe`` measurement read back from influxd equals the journal, row for row;
* order kept: the export cursor only ever moved forward, and each target's points reached the server in
  the order of their timestamps;
* probing unaffected: no missed slot, and each fault phase's p99 start lateness within 50 ms of the healthy
  phase's (the figures are printed);
* nothing leaked: no task of the agent left running, no socket left open, and while the server hung at
  most one connection to it was open at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Switch
from influx_helpers import build_agent, influx_probe_rows, journal_probe_rows, last_seq, wait_until
from influx_server import InfluxServer, available, free_port

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not available(), reason="influxd not installed")]

DOWN_S = float(os.environ.get("WATCHDOG_FAULT_INFLUX_DOWN_S", "30"))
PHASES: list[tuple[str, str, float]] = [  # (name, proxy mode, seconds)
    ("healthy", "pass", 6.0),
    ("down", "down", DOWN_S),
    ("slow", "slow 2", 12.0),
    ("429", "429 3", 10.0),
    ("hung", "hung", 10.0),
]
PROXY = Path(__file__).with_name("influx_proxy.py")
TARGET_RE = re.compile(r",target=((?:\\.|[^,\\ ])*)")


def my_sockets() -> set[str]:
    """Inodes of this process's open sockets."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(link[8:-1])
    return out


def connections_to(port: int) -> int:
    """This process's established TCP connections whose peer is 127.0.0.1:``port``."""
    mine = my_sockets()
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        remote_port = int(cols[2].split(":")[1], 16)
        if remote_port == port and cols[3] == "01" and cols[9] in mine:
            count += 1
    return count


class FaultProxy:
    """tests/reliability/influx_proxy.py as a subprocess; ``mode()`` switches what it does."""

    def __init__(self, root: Path, upstream: str) -> None:
        self.port = free_port()
        self.mode_file = root / "proxy.mode"
        self.log = root / "proxy.jsonl"
        self.mode_file.write_text("pass\n")
        with (root / "proxy.err").open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(PROXY), str(self.port), upstream, str(self.mode_file), str(self.log)],
                stdout=subprocess.PIPE,
                stderr=err,
            )
        assert self.proc.stdout is not None and self.proc.stdout.readline() == b"listening\n"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def mode(self, mode: str) -> None:
        self.mode_file.write_text(mode + "\n")

    def requests(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[InfluxServer]:
    server = InfluxServer(tmp_path / "influxd")
    server.start()
    yield server
    server.stop()


def p99(samples: list[float]) -> float:
    if len(samples) < 2:
        return max(samples, default=0.0)
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


async def test_influxdb_down_slow_429_and_hung_lose_nothing_and_leave_probing_alone(
    tmp_path: Path, influxd: InfluxServer
) -> None:
    proxy = FaultProxy(tmp_path, influxd.url)
    services = [Switch() for _ in range(4)]
    for s in services:
        await s.up()
    targets = ", ".join(f'{{name: t{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(services[1:]))
    tasks_before = {t for t in asyncio.all_tasks() if not t.done()}
    sockets_before = len(my_sockets())
    agent, exporters, recorder = build_agent(
        f"""
agent: {{id: influx-faults, timezone: UTC, data_dir: "{tmp_path / "data"}"}}
defaults: {{interval: 1s, timeout: 500ms}}
controls:
  internet: [{{name: anchor, kind: tcp, address: "{services[0].address}"}}]
providers: [{{id: broker, targets: [{targets}]}}]
influxdb: {{url: "{proxy.url}", database: faults, timeout: 5s, max_backoff: 2s, heartbeat_interval: 1s}}
"""
    )
    journal_path = tmp_path / "data" / "journal.sqlite3"
    run = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.handle.started.wait(), 10)
        (exporter,) = exporters
        for stats in agent.handle.stats.values():
            stats.keep_samples = 1_000_000
        positions: list[int] = []

        async def watch_cursor() -> None:
            while True:
                positions.append(exporter.cursor)
                await asyncio.sleep(0.1)

        watcher = asyncio.create_task(watch_cursor())
        marks: dict[str, dict[str, int]] = {}
        hung_connections: list[int] = []
        for name, mode, seconds in PHASES:
            proxy.mode(mode)
            marks[name] = {key: len(s.late_samples) for key, s in agent.handle.stats.items()}
            if name == "hung":
                until = time.monotonic() + seconds
                while time.monotonic() < until:
                    await asyncio.sleep(0.25)
                    hung_connections.append(connections_to(proxy.port))
            else:
                await asyncio.sleep(seconds)
            if name in ("down", "429", "hung"):
                assert exporter.state == "failing", (name, exporter.state, exporter.last_error)
        proxy.mode("pass")
        marks["recovered"] = {key: len(s.late_samples) for key, s in agent.handle.stats.items()}
        await wait_until(lambda: exporter.state == "ok" and exporter.cursor >= last_seq(journal_path) - 10, 60)
        await asyncio.sleep(2.0)
        agent.handle.stop.set()
        assert await asyncio.wait_for(run, 30) == 0
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    finally:
        if not run.done():
            agent.handle.stop.set()
            await asyncio.wait_for(run, 30)
        for s in services:
            await s.down()
        proxy.close()

    # zero rows lost, and the stop row went out too
    assert exporter.cursor == last_seq(journal_path)
    expected = journal_probe_rows(journal_path)
    assert len(expected) >= 4 * (sum(p[2] for p in PHASES) - 2)
    assert influx_probe_rows(influxd, "faults") == expected

    # order kept: the cursor moved forward only, and each target's points arrived in time order
    assert positions == sorted(positions)
    arrived: dict[str, list[int]] = {}
    seen: set[tuple[str, int]] = set()
    for request in proxy.requests():
        for line in request.get("probe") or []:  # type: ignore[attr-defined]
            match = TARGET_RE.search(line)
            assert match is not None, line
            point = (match.group(1), int(line.rsplit(" ", 1)[1]))
            if point not in seen:
                seen.add(point)
                arrived.setdefault(point[0], []).append(point[1])
    assert sum(map(len, arrived.values())) == len(expected)
    assert all(ts == sorted(ts) for ts in arrived.values())

    # the faults were the ones the phases meant, and the exporter said so
    by_mode: dict[str, set[object]] = {}
    for request in proxy.requests():
        by_mode.setdefault(str(request["mode"]), set()).add(request["status"])
    assert by_mode["429"] >= {429} and by_mode["hung"] == {None} and by_mode["slow"] == {204}
    types = [e.type for e in recorder.events if e.type.startswith("influx_")]
    assert types == [  # down; the slow server answered; 429 and then hung, one failing stretch; healthy
        "influx_export_failing",
        "influx_export_recovered",
        "influx_export_failing",
        "influx_export_recovered",
    ]

    # probing went on as if nothing happened
    names = [name for name, _, _ in PHASES] + ["recovered"]
    figures = {}
    for i, name in enumerate(names):
        lo, hi = marks[name], marks[names[i + 1]] if i + 1 < len(names) else None
        samples = [
            late
            for key, stats in agent.handle.stats.items()
            for late in stats.late_samples[lo[key] : (hi[key] if hi else None)]
        ]
        figures[name] = (len(samples), p99(samples) * 1000, max(samples) * 1000)
    report = "  ".join(f"{n}: n={c} p99={p:.1f}ms max={m:.1f}ms" for n, (c, p, m) in figures.items())
    print("\nstart lateness by phase:", report)
    for key, stats in agent.handle.stats.items():
        assert stats.missed_slots == 0, key
    healthy = max(figures["healthy"][1], figures["recovered"][1])
    for name in ("down", "slow", "429", "hung"):
        assert figures[name][1] <= healthy + 50.0, report

    # nothing leaked
    assert hung_connections and max(hung_connections) <= 1, hung_connections
    assert connections_to(proxy.port) == 0
    assert {t for t in asyncio.all_tasks() if not t.done()} - tasks_before == set()
    assert len(my_sockets()) <= sockets_before
