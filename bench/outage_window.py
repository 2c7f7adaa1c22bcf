"""B4 — Outage-window accuracy: scripted outages of random length on loopback TCP services.

Ten provider services (plus a LAN and three internet controls that stay up) are switched down and up
on a seeded random schedule while the whole agent probes them at I = 1 s (timeout 0.5 s, 3 failures
open, 2 successes close). The switch times, read from the wall clock by this process when the
listener closes or opens, are the truth. For every reported outage:

* the truth must lie inside the reported bounds: last success < went-down ≤ first failure, and last
  failure < came-back ≤ first success — allowing for the probe's own duration (its timestamp is its
  start; on loopback a connect takes well under a millisecond; 50 ms are allowed, as the e2e test does);
* the edge error is |reported edge − truth| ÷ I (the reported start is the first failed probe, the end
  the first successful one), also for the midpoints of the bounds.

Outages of three intervals or more must all be found; shorter ones are found with some probability
(two failures in a row are not an outage), and outages that match no scripted window are false.
"""

from __future__ import annotations

import asyncio
import logging
import random
import tempfile
import time
from pathlib import Path

from bench.common import Suite, mean
from watchdog.agent.core import Agent
from watchdog.config import loads
from watchdog.journal.store import Journal
from watchdog.model import NS, Outage

INTERVAL_S = 1.0
SLACK_NS = 50_000_000
SERVICES = 10


class Service:
    """A TCP listener on a loopback address that the bench closes and reopens; records when."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = 0
        self.server: asyncio.Server | None = None
        self.down_windows: list[tuple[int, int | None]] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def up(self) -> None:
        async def close(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        self.server = await asyncio.start_server(close, self.host, self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        if self.down_windows and self.down_windows[-1][1] is None:
            self.down_windows[-1] = (self.down_windows[-1][0], time.time_ns())

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        self.server = None
        self.down_windows.append((time.time_ns(), None))


def _config(data_dir: Path, services: list[Service], controls: list[Service]) -> str:
    internet = "\n".join(f'    - {{name: n{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(controls[1:]))
    targets = "\n".join(f'      - {{name: s{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(services))
    return f"""
agent: {{id: bench-window, timezone: UTC, data_dir: "{data_dir}"}}
defaults: {{interval: {INTERVAL_S:g}s, timeout: 500ms, failure_threshold: 3, success_threshold: 2}}
controls:
  lan: [{{name: router, kind: tcp, address: "{controls[0].address}"}}]
  internet:
{internet}
  quorum: 2
providers:
  - id: svc
    kind: other
    targets:
{targets}
"""


async def _script(service: Service, rng: random.Random, until: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(rng.uniform(4, 10) * INTERVAL_S)
        if loop.time() > until:
            return
        await service.down()
        await asyncio.sleep(rng.uniform(0.5, 15) * INTERVAL_S)
        await service.up()


async def _run(duration_s: float, seed: int) -> tuple[list[Service], list[Outage]]:
    rng = random.Random(seed)
    services = [Service(f"127.0.6.{i + 1}") for i in range(SERVICES)]
    controls = [Service(f"127.0.7.{i + 1}") for i in range(4)]
    for s in services + controls:
        await s.up()
    with tempfile.TemporaryDirectory(prefix="wd-window-") as tmp:
        config = loads(_config(Path(tmp), services, controls), env={})
        agent = Agent(config, sink_factories=[])
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.handle.started.wait(), 30)
        await asyncio.sleep(3 * INTERVAL_S)
        until = asyncio.get_running_loop().time() + duration_s
        await asyncio.gather(*(_script(s, random.Random(rng.random()), until) for s in services))
        await asyncio.sleep(4 * INTERVAL_S)  # let the last recoveries close
        agent.handle.stop.set()
        await task
        with Journal.open(config.journal_path, create=False, readonly=True) as journal:
            outages = [o for o in journal.outages() if o.target.startswith("svc/")]
    for s in services + controls:
        if s.server is not None:
            s.server.close()
    return services, outages


def _contains(lo: int | None, hi: int, truth: int) -> bool:
    return (lo is None or lo < truth) and truth <= hi + SLACK_NS


def run(suite: Suite, *, full: bool, seed: int | None = None) -> None:
    """Measure B4."""
    seed = seed if seed is not None else random.SystemRandom().randrange(1 << 32)
    logging.getLogger("watchdog").setLevel(logging.ERROR)  # the agent runs in this process: no outage chatter
    duration_s = 600.0 if full else 120.0
    suite.note(
        f"seed {seed} (rerun with `python -m bench --only outage_window --seed {seed}`); I = {INTERVAL_S:g} s, "
        f"{duration_s:.0f} s of scripted outages on {SERVICES} services"
    )
    services, outages = asyncio.run(_run(duration_s, seed))
    by_target: dict[str, list[Outage]] = {}
    for o in outages:
        by_target.setdefault(o.target, []).append(o)
    inside = checked = false = 0
    start_err: list[float] = []
    end_err: list[float] = []
    mid_err: list[float] = []
    found = {"long": [0, 0], "short": [0, 0]}  # [detected, windows]
    for i, service in enumerate(services):
        mine = by_target.get(f"svc/s{i}", [])
        matched: set[int] = set()
        for down_ns, up_ns in service.down_windows:
            if up_ns is None:
                continue
            length = "long" if up_ns - down_ns >= 3 * INTERVAL_S * NS else "short"
            found[length][1] += 1
            hit = [o for o in mine if down_ns - SLACK_NS <= o.start_ns <= up_ns]
            if not hit:
                continue
            o = hit[0]
            matched.add(o.id)
            found[length][0] += 1
            checked += 1
            ok = _contains(o.start_bounds[0], o.start_bounds[1], down_ns)
            if o.end_bounds is not None and o.end_ns is not None:
                ok = ok and _contains(o.end_bounds[0], o.end_bounds[1], up_ns)
                end_err.append(abs(o.end_ns - up_ns) / (INTERVAL_S * NS))
            else:
                ok = False
            inside += ok
            start_err.append(abs(o.start_ns - down_ns) / (INTERVAL_S * NS))
            if o.start_bounds[0] is not None:
                mid_err.append(abs((o.start_bounds[0] + o.start_bounds[1]) / 2 - down_ns) / (INTERVAL_S * NS))
        false += sum(1 for o in mine if o.id not in matched)
    suite.add(
        "scripted outages found (≥ 3 intervals long)",
        f"{found['long'][0]} of {found['long'][1]}",
        "",
        "all",
        found["long"][0] == found["long"][1],
    )
    suite.add(
        "scripted outages found (< 3 intervals long)",
        f"{found['short'][0]} of {found['short'][1]}",
        "",
        note="2 failures in a row are not an outage; 2–3 I is found by chance",
    )
    share = 100 * inside / checked if checked else float("nan")
    suite.add(
        "truth inside the reported bounds",
        share,
        "%",
        "100 %",
        inside == checked and checked > 0,
        note=f"{inside} of {checked} outages, start and end",
    )
    suite.add("false outages", float(false), "", "0", false == 0)
    suite.add(
        "start edge error ÷ I: mean / max", f"{mean(start_err):.3f} / {max(start_err, default=float('nan')):.3f}", "I"
    )
    suite.add("end edge error ÷ I: mean / max", f"{mean(end_err):.3f} / {max(end_err, default=float('nan')):.3f}", "I")
    suite.add(
        "mean edge error ÷ I (start and end)",
        mean(start_err + end_err),
        "I",
        note="reported edge = first failed / first successful probe",
    )
    suite.add("start error of the bounds' midpoint ÷ I: mean", mean(mid_err), "I")
