"""Fixed-rate scheduling on the monotonic clock: no drift, no burst after a stall, crashes contained.

The probes here are tiny probe functions of our own (the scheduler's seam), run through the real
runner; they record when they were called.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import pytest
from helpers import target

from watchdog.agent.scheduler import LatenessWindow, ScheduleStats, SkippedSlotLog, run_target, stagger_offsets
from watchdog.errors import ConnectError
from watchdog.model import FailureKind, Result, Target
from watchdog.probe import Measurement, Probe, ProbeContext, ProbeOptions


def fast_target(key: str = "broker/trading", interval_s: float = 0.2) -> Target:
    t = target(key, interval_s=interval_s)
    return Target(t.key, t.name, t.kind, t.address, t.role, t.provider, interval_s, interval_s / 2)


async def run_for(seconds: float, probe: Probe, tgt: Target, *, on_result=None, stats=None) -> list[Result]:
    results: list[Result] = []

    async def collect(_: Target, r: Result) -> None:
        results.append(r)
        if on_result is not None:
            await on_result(r)

    task = asyncio.create_task(run_target(tgt, probe, ProbeContext(), collect, asyncio.Semaphore(10), stats=stats))
    await asyncio.sleep(seconds)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return results


async def test_fixed_rate_without_drift() -> None:
    starts: list[float] = []

    async def probe(ctx: ProbeContext, t: Target) -> Measurement:
        starts.append(time.monotonic())
        await asyncio.sleep(0.05)  # work inside the slot must not push later slots
        return Measurement()

    stats = ScheduleStats(keep_samples=100)
    await run_for(2.1, Probe(ProbeOptions, probe), fast_target(), stats=stats)
    assert len(starts) == 11  # probe at start, then every 0.2 s: 0.0 … 2.0
    offsets = [s - starts[0] - i * 0.2 for i, s in enumerate(starts)]
    assert max(abs(o) for o in offsets) < 0.03, offsets  # no accumulating drift
    assert stats.runs == 11 and stats.missed_slots == 0


async def test_a_stall_skips_slots_instead_of_bursting() -> None:
    starts: list[float] = []

    async def probe(ctx: ProbeContext, t: Target) -> Measurement:
        starts.append(time.monotonic())
        return Measurement()

    async def block_once(r: Result) -> None:
        if len(starts) == 3:
            time.sleep(0.65)  # noqa: ASYNC251 - blocking the whole event loop on purpose

    stats = ScheduleStats(pooled=LatenessWindow(1.0))
    await run_for(2.05, Probe(ProbeOptions, probe), fast_target(), on_result=block_once, stats=stats)
    # the loop is blocked from ~0.4 s to ~1.05 s: the slots at 0.6 and 0.8 are skipped (not fired in a burst),
    # the 1.0 slot runs late at ~1.05, and from 1.2 on the probes are back on the original grid
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) > 0.1, gaps  # never two probes back to back
    assert stats.missed_slots == 2
    assert stats.pooled is not None and stats.pooled.take() == (9, 0, 2, 0.0)  # the agent's pooled count too
    assert len(starts) == 9  # 0.0 0.2 0.4 | 1.05 1.2 1.4 1.6 1.8 2.0
    phase = [((s - starts[0]) / 0.2) % 1 for s in starts[4:]]
    assert all(p < 0.1 or p > 0.9 for p in phase), phase


async def test_a_crashing_probe_never_stops_the_schedule() -> None:
    calls = 0

    async def probe(ctx: ProbeContext, t: Target) -> Measurement:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise ZeroDivisionError("a bug in a probe")
        raise ConnectError("connect 127.0.0.1:9: Connection refused")

    results = await run_for(1.05, Probe(ProbeOptions, probe), fast_target())
    assert [r.failure for r in results] == [FailureKind.INTERNAL, FailureKind.CONNECT] * 3
    assert results[0].detail == "internal error: ZeroDivisionError: a bug in a probe"


async def test_a_failing_result_handler_is_contained() -> None:
    async def probe(ctx: ProbeContext, t: Target) -> Measurement:
        return Measurement(latency_s=0.001)

    async def explode(r: Result) -> None:
        raise RuntimeError("sink bug")

    results = await run_for(0.65, Probe(ProbeOptions, probe), fast_target(), on_result=explode)
    assert len(results) == 4


async def test_timeout_is_the_runners() -> None:
    async def probe(ctx: ProbeContext, t: Target) -> Measurement:
        await asyncio.sleep(10)
        return Measurement()

    results = await run_for(0.7, Probe(ProbeOptions, probe), fast_target(interval_s=1.0))
    assert [(r.ok, r.failure, r.detail) for r in results] == [(False, FailureKind.TIMEOUT, "no answer within 0.5s")]
    assert 0.49 < (results[0].latency_s or 0) < 0.6


def test_stagger_spreads_first_probes() -> None:
    targets = [fast_target(f"p/t{i}", interval_s=30.0) for i in range(4)]
    assert list(stagger_offsets(targets).values()) == [0.0, 1.25, 2.5, 3.75]
    assert list(stagger_offsets(targets[:2], stagger_s=1.0).values()) == [0.0, 0.5]


def test_skipped_slots_are_logged_at_most_once_a_second(caplog: pytest.LogCaptureFixture) -> None:
    log = SkippedSlotLog(every_s=1.0)
    with caplog.at_level(logging.WARNING, logger="watchdog.agent.scheduler"):
        log.note(10.0, "isp/a", 2, 2.5)
        log.note(10.4, "isp/b", 3, 3.0)
        log.note(10.9, "isp/b", 1, 1.2)
        log.note(11.0, "isp/c", 1, 1.1)
        log.note(11.5, "isp/a", 1, 1.0)
    assert [r.getMessage() for r in caplog.records] == [
        "probe slots missed target=isp/a missed=2 late_s=2.500",
        "probe slots missed target=isp/c missed=1 late_s=1.100 (and 4 slots of 1 targets since the last such line)",
    ]
    assert (log.quiet_slots, log.quiet_targets) == (1, {"isp/a"})
