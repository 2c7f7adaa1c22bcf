"""The ICMP timer wheel (watchdog.agent.icmp_driver): real pings on loopback, the same Results as the task path.

Nothing here is timed: each test waits (bounded) until the results it needs are there, then checks
exact values. Loss, silence and ICMP errors need a far end that misbehaves: tests/probes/test_probe_icmp_wheel.py
does those in network namespaces.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from probes import REGISTRY, icmp
from probes.icmp import IcmpOptions
from watchdog.agent import core, scheduler
from watchdog.agent.core import Agent
from watchdog.agent.icmp_driver import IcmpDriver, tick_for, wheel_targets
from watchdog.agent.runner import RunState, run_probe, settle
from watchdog.agent.scheduler import ScheduleStats
from watchdog.agent.writer import LoopTurn
from watchdog.config import loads
from watchdog.journal.store import Journal, rtt_template
from watchdog.model import Result, Role, Target
from watchdog.probe import Measurement, Probe, ProbeContext

HAS_IPV6 = socket.has_ipv6 and os.path.exists("/proc/net/if_inet6")


def icmp_target(n: int, address: str, *, interval_s: float = 60.0, timeout_s: float = 1.0, **options: Any) -> Target:
    return Target(
        key=f"lo/{n}",
        name=str(n),
        kind="icmp",
        address=address,
        role=Role.PROVIDER,
        provider="lo",
        interval_s=interval_s,
        timeout_s=timeout_s,
        options=IcmpOptions.model_validate(options),
    )


@pytest.fixture
async def icmp_ctx() -> Any:
    """A context whose ICMP mode is known (setup ran); skips where this process may not ping at all."""
    ctx = ProbeContext()
    await icmp.setup_icmp(ctx, [])
    if ctx.resources[icmp.MODE_KEY] is None:
        pytest.skip("this process may open neither raw nor datagram ICMP sockets")
    yield ctx
    await ctx.aclose()


async def until(condition: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    """Wait until ``condition()`` holds (a bound, not a timing assertion)."""
    for _ in range(int(limit_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"still waiting for {what}")


async def one_round(
    ctx: ProbeContext, targets: list[Target], handler: Callable[..., Coroutine[Any, Any, None]] | None = None
) -> tuple[dict[str, Result], IcmpDriver]:
    """Run the driver until every target has a result; return the first result of each."""
    got: dict[str, Result] = {}

    async def on_result(target: Target, result: Result) -> None:
        got.setdefault(target.key, result)
        if handler is not None:
            await handler(target, result)

    driver = IcmpDriver(targets, ctx, on_result, offsets={t.key: 0.0 for t in targets}, stats={})
    task = asyncio.create_task(driver.run())
    try:
        await until(lambda: len(got) == len(targets), "a result of every target")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return got, driver


def shape(result: Result) -> tuple[Any, ...]:
    """What is journaled besides the round-trip times: the verdict and the texts with the times taken out."""
    latency_us = None if result.latency_s is None else round(result.latency_s * 1_000_000)
    metrics_text = json.dumps(dict(result.metrics), separators=(",", ":"), sort_keys=True)
    template = rtt_template(result.detail, metrics_text, result.metrics, latency_us)
    assert template is not None, result  # an ICMP success is stored as a template with its times
    return (result.target, result.ok, result.failure, template[0], template[1])


# ------------------------------------------------------------------------------------------- choosing


def test_which_targets_go_on_the_wheel() -> None:
    ctx = ProbeContext(resources={icmp.MODE_KEY: True})
    literal, v6, name = icmp_target(1, "127.0.0.1"), icmp_target(2, "::1"), icmp_target(3, "localhost")
    # three requests 200 ms apart that may each wait up to 150 ms do not surely end within a 0.5 s timeout
    tight = icmp_target(4, "127.0.0.4", timeout_s=0.5, count=3, packet_interval="200ms")
    tcp = Target("lo/5", "5", "tcp", "127.0.0.1:9", Role.PROVIDER, "lo", 60.0, 1.0)
    targets = [literal, v6, name, tight, tcp]
    assert [t.key for t in wheel_targets(targets, REGISTRY, ctx)] == ["lo/1", "lo/2"]
    other = {**REGISTRY, "icmp": Probe(IcmpOptions, _other_icmp)}  # a replacement probe (bench.legacy_icmp)
    assert wheel_targets(targets, other, ctx) == []
    assert wheel_targets(targets, REGISTRY, ProbeContext(resources={icmp.MODE_KEY: None})) == []
    assert wheel_targets(targets, REGISTRY, ProbeContext()) == []  # setup did not run: the mode is unknown


def test_the_wheel_ticks_wider_the_fewer_requests_a_second() -> None:
    """Slots of 20, 10 or 8 ms: the widest that holds ≤ 20 requests, divides each interval, ends each probe in time."""

    def many(n: int, interval_s: float = 1.0, timeout_s: float = 0.5) -> list[Target]:
        return [
            icmp_target(i, f"127.0.{i // 250}.{i % 250 + 1}", interval_s=interval_s, timeout_s=timeout_s, count=1)
            for i in range(n)
        ]

    assert tick_for(many(1000)) == 0.020  # 1,000 requests a second: 20 a slot
    assert tick_for(many(1001)) == 0.010
    assert tick_for(many(2000)) == 0.010  # 20 a slot
    assert tick_for(many(2001)) == 0.008
    assert tick_for(many(10_000)) == 0.008  # the narrowest, however many
    assert tick_for([icmp_target(1, "127.0.0.1", timeout_s=2.0)]) == 0.020  # 3 requests a minute
    # 3 requests 200 ms apart, each waiting 167 ms: with 20 ms slots the last could end after the 1 s timeout
    assert tick_for([icmp_target(1, "127.0.0.1", timeout_s=1.0)]) == 0.010
    assert tick_for(many(3, interval_s=0.25)) == 0.010  # 250 ms is 12.5 slots of 20 ms: probes would start late
    assert tick_for(many(3, interval_s=0.3)) == 0.020
    assert tick_for(many(3, interval_s=0.123)) == 0.008  # no width divides it: the narrowest, as before
    # a lost request waits 0.9 of the timeout and may expire a slot late: with 20 ms slots a 200 ms timeout is too short
    assert tick_for(many(3, timeout_s=0.2)) == 0.010
    assert tick_for(many(3, timeout_s=0.15)) == 0.008
    assert tick_for([]) == 0.020


async def _other_icmp(ctx: ProbeContext, target: Target) -> Measurement:
    return Measurement()


# ------------------------------------------------------------------------------------------- results


@pytest.mark.parametrize(
    ("sent", "rtts"),
    [
        (1, [0.000043]),
        (1, [0.0000005]),  # rounds to 0 µs... or 1: whatever round() says, both paths say the same
        (1, [1.2345675]),
        (3, [0.000017, 0.000059, 0.000038]),
        (3, [0.1, 0.2, 0.3]),
        (2, [0.0123456789, 0.0000001]),
    ],
)
async def test_the_all_answered_result_is_the_runners(sent: int, rtts: list[float]) -> None:
    target = icmp_target(1, "127.0.0.1", count=sent)
    ctx = ProbeContext(resources={icmp.MODE_KEY: True})
    driver = IcmpDriver([target], ctx, _ignore, offsets={}, stats={})
    probe = driver.probes[0]
    probe.sent, probe.rtts, probe.ts_ns, probe.steady, probe.t0 = sent, list(rtts), 1_790_000_000_000_000_000, 7, 0.0
    fast = probe.all_answered()
    expected = settle(
        RunState(), target, probe.ts_ns, 7, 0.0, icmp.verdict("127.0.0.1", sent, rtts, [], target.options)
    )
    assert fast == expected
    assert (fast.steady_ns, list(fast.metrics)) == (expected.steady_ns, list(expected.metrics))


async def _ignore(target: Target, result: Result) -> None:
    return None


async def test_loopback_results_match_the_task_path(icmp_ctx: ProbeContext, tmp_path: Path) -> None:
    targets = [
        icmp_target(1, "127.0.0.1", count=1),
        icmp_target(2, "127.0.0.2", count=3, packet_interval="10ms"),
        icmp_target(3, "127.0.0.3", count=2, packet_interval="10ms", payload_size=0),
        icmp_target(4, "127.0.0.4", count=1, payload_size=4),
        icmp_target(5, "127.0.0.5", count=2, packet_interval="10ms", payload_size=200),
    ]
    if HAS_IPV6:
        targets.append(icmp_target(6, "::1", count=2, packet_interval="10ms"))
    assert wheel_targets(targets, REGISTRY, icmp_ctx) == targets
    wheel, driver = await one_round(icmp_ctx, targets)
    task = {t.key: await run_probe(REGISTRY["icmp"], t, icmp_ctx) for t in targets}
    assert driver.results == len(targets)
    for target in targets:
        ours, theirs = wheel[target.key], task[target.key]
        assert shape(ours) == shape(theirs)
        count = target.options.count  # type: ignore[union-attr]
        assert {k: ours.metrics[k] for k in ("sent", "received", "loss_ratio")} == {
            "sent": count,
            "received": count,
            "loss_ratio": 0.0,
        }
        assert ours.latency_s == ours.metrics["rtt_avg_s"] and ours.steady_ns is not None
    for shared in icmp_ctx.resources[icmp.SOCKETS_KEY].values():
        assert (shared.in_flight, shared.strays) == (0, 0)
    # In the journal both paths' rows are the same template; only the times differ.
    with Journal.open(tmp_path / "j.sqlite3", create=True) as journal:
        journal.register_targets(targets)
        journal.append([wheel[t.key] for t in targets] + [task[t.key] for t in targets])
        rows = journal.conn.execute("SELECT target, failure, detail FROM result_rows ORDER BY seq").fetchall()
        assert rows[: len(targets)] == rows[len(targets) :]
        assert all(isinstance(detail, int) and detail < 0 for _, _, detail in rows)  # stored as templates
        back = [r for _, r in journal.iter_results(0, 1 << 62)]
    assert back == [wheel[t.key] for t in targets] + [task[t.key] for t in targets]


async def test_the_wheel_tells_the_writer_when_it_ticks(icmp_ctx: ProbeContext) -> None:
    """The writer's LoopTurn learns each tick's start and end and when the next is due; nothing once stopped."""
    targets = [icmp_target(n, f"127.0.0.{n}", interval_s=0.05, count=1) for n in (1, 2)]
    turn = LoopTurn()
    seen: list[tuple[bool, float]] = []

    async def on_result(target: Target, result: Result) -> None:
        seen.append((turn.busy, turn.next_at))

    driver = IcmpDriver(targets, icmp_ctx, on_result, offsets={t.key: 0.0 for t in targets}, stats={}, turn=turn)
    task = asyncio.create_task(driver.run())
    try:
        await until(lambda: len(seen) >= 6, "three rounds of results")
        assert turn._ends >= 3 and not turn.busy
        assert all(not busy for busy, _ in seen)  # handlers run between ticks
        timer = driver._timer
        assert timer is not None and turn.next_at == timer.when()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert (turn.busy, turn.next_at) == (False, math.inf)


@pytest.mark.serial  # timing: ticks must start within 5 ms of their time, not beside the parallel part's workers
async def test_the_wheel_tells_the_writer_when_the_loop_fell_behind_and_caught_up(icmp_ctx: ProbeContext) -> None:
    """A tick that starts late by more than LoopTurn.behind_s (the event loop's thread blocked 0.2 s) marks the loop
    behind; the next ticks on time clear it (issue 19: the writer then stays out of the loop's way)."""
    targets = [icmp_target(n, f"127.0.0.{n}", interval_s=0.05, count=1) for n in (1, 2)]
    turn = LoopTurn()
    seen: list[bool] = []

    async def on_result(target: Target, result: Result) -> None:
        seen.append(turn.behind)

    driver = IcmpDriver(targets, icmp_ctx, on_result, offsets={t.key: 0.0 for t in targets}, stats={}, turn=turn)
    task = asyncio.create_task(driver.run())
    try:
        await until(lambda: len(seen) >= 4, "two rounds of results")
        assert not any(seen)
        time.sleep(0.2)  # noqa: ASYNC251 -- the loop's thread blocked on purpose: the next tick starts ~0.2 s late
        count = len(seen)
        await until(lambda: len(seen) >= count + 2 and True in seen[count:], "a result after the late tick")
        await until(lambda: len(seen) >= count + 12 and not seen[-1], "results after ticks on time")
        assert not turn.behind
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.serial  # timing: ticks must start within 20 ms of their time, not beside the parallel part's workers
async def test_a_probe_rescheduled_late_by_its_handler_does_not_mark_the_loop_behind(icmp_ctx: ProbeContext) -> None:
    """A target's next probe is set when its result was handled (after the journal's commit). A handler that took
    0.3 s (a slow commit) puts it in a slot already past, and its tick runs at once: the loop itself is on time, so
    the writer must not be told it fell behind (issue 19: it would wait for the loop, the commits would come later
    still, and at 5,000 ICMP targets a second the agent stayed late for the rest of the run)."""
    targets = [icmp_target(n, f"127.0.0.{n}", interval_s=0.05, count=1) for n in (1, 2)]
    turn = LoopTurn()
    seen: list[bool] = []
    held: list[str] = []

    async def on_result(target: Target, result: Result) -> None:
        seen.append(turn.behind)
        if not held:
            held.append(target.key)
            await asyncio.sleep(0.3)  # this target's next slots pass meanwhile; the other one runs on

    driver = IcmpDriver(targets, icmp_ctx, on_result, offsets={t.key: 0.0 for t in targets}, stats={}, turn=turn)
    task = asyncio.create_task(driver.run())
    try:
        await until(lambda: len(seen) >= 30, "results after the held one was rescheduled")
        assert held and not any(seen), seen
        assert not turn.behind
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_late_slot_is_skipped_and_counted_as_run_target_does(
    icmp_ctx: ProbeContext, caplog: pytest.LogCaptureFixture
) -> None:
    target = icmp_target(1, "127.0.0.1", interval_s=0.2, count=1)
    stats = ScheduleStats(keep_samples=10)
    driver = IcmpDriver([target], icmp_ctx, _ignore, offsets={}, stats={target.key: stats})
    probe = driver.probes[0]
    loop = asyncio.get_running_loop()
    now = loop.time()
    probe.next_at = now - 0.5  # 2.5 intervals behind: two slots are skipped, the third runs late
    scheduler.SKIPPED_LOG.next_at = float("-inf")
    with caplog.at_level(logging.WARNING, logger="watchdog.agent.scheduler"):
        driver._start(probe, now)
    assert (stats.runs, stats.missed_slots, probe.next_at) == (1, 2, now - 0.5 + 0.4)
    assert stats.late_samples == [pytest.approx(0.1)]
    assert [r.getMessage().split(" missed=")[0] for r in caplog.records] == ["probe slots missed target=lo/1"]
    await until(lambda: bool(driver._done), "the late probe's result")
    [(_, result, _)] = driver._done
    assert result.ok and result.detail.startswith("1 of 1 ICMP echo replies from 127.0.0.1, rtt")


async def test_handlers_run_in_order_one_at_a_time_per_target(
    icmp_ctx: ProbeContext, caplog: pytest.LogCaptureFixture
) -> None:
    slow = icmp_target(1, "127.0.0.1", interval_s=0.1, count=1)
    failing = icmp_target(2, "127.0.0.2", interval_s=0.1, count=1)
    seen: dict[str, list[int]] = {slow.key: [], failing.key: []}
    busy: set[str] = set()
    overlaps = 0

    async def on_result(target: Target, result: Result) -> None:
        nonlocal overlaps
        if target.key in busy:
            overlaps += 1
        busy.add(target.key)
        seen[target.key].append(result.ts_ns)
        try:
            if target.key == slow.key:
                await asyncio.sleep(0.15)  # longer than the interval: a task of its own, and the target waits
            elif len(seen[target.key]) == 1:
                raise RuntimeError("sink bug")
        finally:
            busy.discard(target.key)

    driver = IcmpDriver([slow, failing], icmp_ctx, on_result, offsets={}, stats={})
    with caplog.at_level(logging.ERROR, logger="watchdog.agent.icmp_driver"):
        task = asyncio.create_task(driver.run())
        try:
            await until(lambda: len(seen[slow.key]) >= 3 and len(seen[failing.key]) >= 3, "three results each")
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert overlaps == 0
    for stamps in seen.values():
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert ["result handling failed target=lo/2"] == [r.getMessage() for r in caplog.records]
    await asyncio.sleep(0)  # the cancelled handler's task runs its done callback
    assert driver._waiting == set()  # the handler still waiting at the stop was cancelled with the driver


async def test_a_stop_leaves_nothing_in_flight(icmp_ctx: ProbeContext) -> None:
    target = icmp_target(1, "127.0.0.1")
    driver = IcmpDriver([target], icmp_ctx, _ignore, offsets={}, stats={})
    probe = driver.probes[0]
    driver._start(probe, asyncio.get_running_loop().time())  # sent; its reply waits in the socket
    shared = icmp_ctx.resources[icmp.SOCKETS_KEY][socket.AF_INET]
    assert shared.in_flight == 1
    driver._stop()
    assert (shared.in_flight, driver._timer, driver._heap) == (0, None, [])
    await until(lambda: shared.strays == 1, "the reply read and refused")
    assert (driver.results, driver._done) == (0, [])  # nothing half: no result for the abandoned probe


# ------------------------------------------------------------------------------------------- the agent


def agent_config(data_dir: Path) -> str:
    return f"""
agent: {{id: wheel, timezone: UTC, data_dir: "{data_dir}"}}
defaults: {{interval: 1s, timeout: 500ms}}
providers:
  - id: lo
    targets:
      - {{name: literal, kind: icmp, address: 127.0.0.1, icmp: {{count: 1}}}}
      - {{name: named, kind: icmp, address: localhost, icmp: {{count: 1}}}}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""


@pytest.mark.parametrize("wheel", [True, False])
async def test_the_agent_runs_literal_icmp_targets_on_the_wheel(tmp_path: Path, wheel: bool) -> None:
    if os.geteuid() != 0:
        pytest.skip("the agent's ICMP setup needs raw sockets (root or CAP_NET_RAW) or ping sockets")
    config = loads(agent_config(tmp_path / "data"), env={})
    agent = Agent(config, icmp_wheel=wheel)
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 20)
    stats = agent.handle.stats
    await until(lambda: all(stats[k].runs >= 3 for k in ("lo/literal", "lo/named")), "three probes each", 30)
    agent.handle.stop.set()
    assert await task == 0
    driver = agent.handle.icmp_driver
    if wheel:
        assert driver is not None and [p.key for p in driver.probes] == ["lo/literal"] and driver.results >= 2
    else:
        assert driver is None
    with Journal.open(config.journal_path, create=False, readonly=True) as journal:
        results = [r for _, r in journal.iter_results(0, 1 << 62)]
    by_target = {k: [r for r in results if r.target == k] for k in ("lo/literal", "lo/named")}
    assert len(by_target["lo/literal"]) >= 2 and len(by_target["lo/named"]) >= 2
    assert {(r.ok, r.detail.split(", rtt")[0]) for r in by_target["lo/literal"]} == {
        (True, "1 of 1 ICMP echo replies from 127.0.0.1")
    }
    assert {(r.ok, r.detail.split(", rtt")[0]) for r in by_target["lo/named"]} == {
        (True, "1 of 1 ICMP echo replies from localhost (127.0.0.1)")
    }
    board = agent.board.targets["lo/literal"]
    assert board.last_ok_ns == by_target["lo/literal"][-1].ts_ns  # the detector and the board saw them too


async def test_the_collector_is_tuned_before_the_first_probe_and_restored_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tune_gc`` (``watchdog run``) collects and freezes before any probe is scheduled: its full collection took
    110-130 ms at 5,000 targets, and run 2 s after the start it set a busy agent's probes back (issue 19)."""
    if os.geteuid() != 0:
        pytest.skip("the agent's ICMP setup needs raw sockets (root or CAP_NET_RAW) or ping sockets")
    config = loads(agent_config(tmp_path / "data"), env={})
    agent = Agent(config, tune_gc=True)
    at_tuning: list[tuple[bool, bool]] = []  # (the wheel made yet, the agent said started)
    real_tune = core._tune_gc

    def tune() -> tuple[int, int, int]:
        at_tuning.append((agent.handle.icmp_driver is not None, agent.handle.started.is_set()))
        return real_tune()

    monkeypatch.setattr(core, "_tune_gc", tune)
    before = gc.get_threshold()
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.handle.started.wait(), 20)
        assert at_tuning == [(False, False)]  # once, before the probes were scheduled
        assert gc.get_threshold()[0] == core.GC_GEN0_THRESHOLD and gc.get_freeze_count() > 0
        await until(lambda: agent.handle.stats["lo/literal"].runs >= 1, "a probe", 30)
    finally:
        agent.handle.stop.set()
        assert await task == 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)


async def test_a_bug_in_the_wheel_is_an_internal_result_once(caplog: pytest.LogCaptureFixture) -> None:
    target = icmp_target(1, "127.0.0.1", count=1)
    driver = IcmpDriver([target], ProbeContext(resources={icmp.MODE_KEY: True}), _ignore, offsets={}, stats={})
    probe = driver.probes[0]
    probe.running, probe.ts_ns = True, 1_790_000_000_000_000_000
    with caplog.at_level(logging.ERROR):
        driver._crash(probe, ZeroDivisionError("a bug"))
        driver._crash(probe, ZeroDivisionError("a bug"))  # its Result is made: no second one
    [(_, result, _)] = driver._done
    assert (result.ok, result.failure, result.detail) == (False, "internal", "internal error: ZeroDivisionError: a bug")
    assert [r.getMessage() for r in caplog.records] == [
        "probe crashed target=lo/1 kind=icmp (the same crash again is not logged)",
        "icmp timer wheel failed after a result target=lo/1",
    ]
