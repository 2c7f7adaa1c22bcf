"""End to end on loopback: real TCP services go down for known windows while the agent runs.

The true switch times are recorded by the test; the reported bounds must contain them. A probe's
timestamp is its start, and its verdict covers start to end, so the truth may trail the first failing
probe's start by at most that probe's duration (well under 50 ms on loopback).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers import Switch

from watchdog.agent.core import Agent
from watchdog.analysis.outages import analyse
from watchdog.config import loads
from watchdog.errors import JournalError
from watchdog.journal.store import Journal
from watchdog.journal.verify import verify_journal
from watchdog.model import NS, Attribution, ProviderKind

SLACK_NS = 50_000_000
ROOT = str(Path(__file__).resolve().parents[2])


def config_text(data_dir: Path, provider: Switch, lan: Switch, internet: list[Switch]) -> str:
    nets = "\n".join(f'    - {{name: n{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(internet))
    return f"""
agent: {{id: e2e, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 3, success_threshold: 2}}
controls:
  lan:
    - {{name: router, kind: tcp, address: "{lan.address}"}}
  internet:
{nets}
  quorum: 2
providers:
  - id: broker
    name: Broker
    kind: broker
    targets:
      - {{name: trading, kind: tcp, address: "{provider.address}"}}
ntp: {{enabled: false}}  # the default servers are public pools; tests never leave loopback
web: {{enabled: false}}  # no fixed port shared between tests
"""


@pytest.fixture
async def net() -> AsyncIterator[tuple[Switch, Switch, list[Switch]]]:
    """A provider service, a LAN control and three internet controls, all up; closed after the test."""
    provider, lan, internet = Switch(), Switch(), [Switch(), Switch(), Switch()]
    for s in (provider, lan, *internet):
        await s.up()
    yield provider, lan, internet
    for s in (provider, lan, *internet):
        await s.down()


def contains(bounds: tuple[int | None, int], truth: int) -> bool:
    lo, hi = bounds
    return (lo is None or lo < truth) and truth <= hi + SLACK_NS


def provider_outages(data_dir: Path) -> list:
    with Journal.open(data_dir / "journal.sqlite3", create=False, readonly=True) as journal:
        analysis = analyse(journal, provider_kinds={"broker": ProviderKind.BROKER}, quorum=2)
    return analysis.for_provider("broker")


async def run_for(agent: Agent, seconds: float) -> asyncio.Task[int]:
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    return task


async def stop(agent: Agent, task: asyncio.Task[int]) -> None:
    agent.handle.stop.set()
    assert await asyncio.wait_for(task, 15) == 0


@pytest.mark.slow
async def test_provider_down_while_line_is_fine(tmp_path: Path, net: tuple[Switch, Switch, list[Switch]]) -> None:
    provider, lan, internet = net
    config = loads(config_text(tmp_path, provider, lan, internet), env={})
    agent = Agent(config)
    task = await run_for(agent, 0)
    await asyncio.sleep(3.3)
    await provider.down()
    await asyncio.sleep(5.0)
    await provider.up()
    await asyncio.sleep(3.5)
    await stop(agent, task)

    (a,) = provider_outages(tmp_path)
    o = a.outage
    down_at, up_at = provider.changes[1][1], provider.changes[2][1]
    assert contains(o.start_bounds, down_at), (o.start_bounds, down_at)
    assert o.end_bounds is not None and contains(o.end_bounds, up_at), (o.end_bounds, up_at)
    assert o.start_ns - (o.start_bounds[0] or 0) <= 1.1 * NS  # bounds one interval wide
    assert a.attribution is Attribution.PROVIDER
    assert [s.attribution for s in a.segments] == [Attribution.PROVIDER]
    assert a.segments[0].reason == "LAN 1/1 up, internet 3/3 up (quorum 2)"
    assert verify_journal(tmp_path / "journal.sqlite3").ok


@pytest.mark.slow
async def test_everything_down_is_the_customers_line(tmp_path: Path, net: tuple[Switch, Switch, list[Switch]]) -> None:
    provider, lan, internet = net
    config = loads(config_text(tmp_path, provider, lan, internet), env={})
    agent = Agent(config)
    task = await run_for(agent, 0)
    await asyncio.sleep(3.3)
    for s in (provider, lan, *internet):
        await s.down()
    await asyncio.sleep(6.0)
    for s in (provider, lan, *internet):
        await s.up()
    await asyncio.sleep(3.5)
    await stop(agent, task)

    (a,) = provider_outages(tmp_path)
    totals = a.time_by_attribution()
    assert a.attribution is Attribution.CUSTOMER_LINE
    # only the edges, where a probe slot separates the switch from its detection, may read otherwise
    assert totals[Attribution.PROVIDER] <= 1.1 * NS
    assert totals[Attribution.CUSTOMER_LINE] >= 3 * NS


@pytest.mark.slow
async def test_agent_stopped_mid_outage_is_no_data_and_the_outage_continues(
    tmp_path: Path, net: tuple[Switch, Switch, list[Switch]]
) -> None:
    provider, lan, internet = net
    config = loads(config_text(tmp_path, provider, lan, internet), env={})
    agent = Agent(config)
    task = await run_for(agent, 0)
    await asyncio.sleep(2.3)
    await provider.down()
    await asyncio.sleep(4.5)
    await stop(agent, task)
    stopped_at = time.time_ns()
    await asyncio.sleep(3.0)
    agent2 = Agent(config)
    task2 = await run_for(agent2, 0)
    restarted_at = time.time_ns()
    await asyncio.sleep(2.0)
    await provider.up()
    await asyncio.sleep(3.5)
    await stop(agent2, task2)

    (a,) = provider_outages(tmp_path)
    assert not a.outage.is_open
    kinds = [s.attribution for s in a.segments]
    assert kinds == [Attribution.PROVIDER, Attribution.NO_DATA, Attribution.PROVIDER]
    gap = a.segments[1]
    assert stopped_at - NS <= gap.start_ns <= stopped_at
    assert restarted_at - NS <= gap.end_ns <= restarted_at
    assert verify_journal(tmp_path / "journal.sqlite3").ok


@pytest.mark.slow
async def test_kill_9_mid_outage_then_restart(tmp_path: Path, net: tuple[Switch, Switch, list[Switch]]) -> None:
    provider, lan, internet = net
    cfg = tmp_path / "watchdog.yaml"
    cfg.write_text(config_text(tmp_path / "data", provider, lan, internet))
    journal_path = tmp_path / "data" / "journal.sqlite3"

    started: list[asyncio.subprocess.Process] = []

    async def start_agent() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "watchdog",
            "run",
            "-c",
            str(cfg),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
        started.append(process)
        return process

    async def wait_for(predicate, limit_s: float = 20.0) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                with Journal.open(journal_path, create=False, readonly=True) as j:
                    if predicate(j):
                        return
            except JournalError:
                pass  # not created yet, or the agent is creating it right now
            await asyncio.sleep(0.2)
        raise AssertionError("timed out waiting for the journal")

    try:
        await kill_9_then_restart(start_agent, wait_for, provider)
    finally:
        for process in started:  # never leave an agent behind, whatever failed
            if process.returncode is None:
                process.kill()
                await process.wait()
    check_after_kill_9(tmp_path, journal_path)


async def kill_9_then_restart(start_agent, wait_for, provider: Switch) -> None:
    """Start, wait for an outage, kill -9 mid-outage, restart, recover, stop cleanly."""
    first = await start_agent()
    await wait_for(lambda j: sum(1 for _ in j.iter_results()) >= 10)
    await provider.down()
    await wait_for(lambda j: len(j.outages()) == 1)
    await asyncio.sleep(0.7)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    await asyncio.sleep(1.5)
    second = await start_agent()
    await asyncio.sleep(2.5)
    await provider.up()
    await wait_for(lambda j: all(not o.is_open for o in j.outages()) and len(j.outages()) >= 1)
    await asyncio.sleep(1.0)
    second.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(second.wait(), 15) == 0


def check_after_kill_9(tmp_path: Path, journal_path: Path) -> None:
    """The journal verifies, the outage was resumed and closed once, the crashed run ends at its last record."""
    verdict = verify_journal(journal_path)
    assert verdict.ok, verdict.problems
    assert verdict.unsealed == 0
    with Journal.open(journal_path, create=False, readonly=True) as j:
        outages = j.outages()
        runs = j.runs()
        closes = j.events(["outage_close"])
    assert len(outages) == 1 and not outages[0].is_open
    assert len(closes) == 1
    assert [r.clean for r in runs] == [False, True]
    assert runs[0].end_ns is not None and runs[0].end_ns < runs[1].start_ns
    analysis_outages = provider_outages(tmp_path / "data")
    assert [s.attribution for s in analysis_outages[0].segments] == [
        Attribution.PROVIDER,
        Attribution.NO_DATA,
        Attribution.PROVIDER,
    ]
