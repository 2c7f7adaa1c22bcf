"""Degraded service: the quality trackers (pure) and the agent on loopback against a server that slows down.

The e2e part runs the real agent against real aiohttp servers on 127.0.0.1 whose answers the test slows
down for known windows; the journaled degraded windows' bounds must contain the true switch times, and
attribution must follow the controls (a slow provider while the controls are quick is the provider's; a
slow LAN control at the same time makes it the customer's line).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers import Switch
from slow_http import SlowServer

from watchdog.agent.core import Agent
from watchdog.agent.quality import DegradedClosed, DegradedOpened, QualityTracker
from watchdog.analysis.outages import analyse
from watchdog.config import loads
from watchdog.journal.store import Journal
from watchdog.model import NS, Attribution, ProviderKind, Quality, QualityRule, Result, Role, Target

S = NS  # one probe round a second in the synthetic series


def target(quality: Quality) -> Target:
    return Target("p/x", "x", "tcp", "127.0.0.1:1", Role.PROVIDER, "p", 1.0, 0.5, quality=quality)


def ok(i: int, latency_s: float, **metrics: float) -> Result:
    return Result("p/x", i * S, True, latency_s, metrics=metrics)


def fail(i: int) -> Result:
    from watchdog.model import FailureKind

    return Result("p/x", i * S, False, 0.5, FailureKind.TIMEOUT, "no answer")


def run(tracker: QualityTracker, results: list[Result]) -> list[DegradedOpened | DegradedClosed]:
    out: list[DegradedOpened | DegradedClosed] = []
    for r in results:
        for change in tracker.observe(r):
            if isinstance(change, DegradedOpened):
                tracker.limits[change.limit].bind(change, 100 + len(out))
            out.append(change)
    return out


def test_latency_opens_n_of_m_and_closes_after_k_good_rounds() -> None:
    rule = QualityRule(max=0.2, open_bad=2, open_of=3, close_good=2)
    tracker = QualityTracker(target(Quality(latency=rule)))
    lat = [0.01, 0.01, 0.3, 0.01, 0.3, 0.3, 0.3, 0.01, 0.3, 0.01, 0.01, 0.01]
    opened, closed = run(tracker, [ok(i, v) for i, v in enumerate(lat)])
    assert isinstance(opened, DegradedOpened) and isinstance(closed, DegradedClosed)
    # rounds 2 and 4 are slow: 2 of the last 3 at round 4; the window starts at the first slow round
    assert (opened.start_ns, opened.last_ok_ns, opened.confirmed_ns) == (2 * S, 1 * S, 4 * S)
    assert (opened.bad_rounds, opened.of_rounds, opened.detail) == (2, 3, "latency 300 ms > 200 ms")
    # round 7 is good but round 8 is slow again (streak reset); 9 and 10 are good: closed at 9
    w = closed.window
    assert (w.start_ns, w.start_bounds, w.limit) == (2 * S, (S, 2 * S), "latency")
    assert (w.end_ns, w.end_bounds) == (9 * S, (8 * S, 9 * S))
    assert closed.good_rounds == 2
    assert tracker.degraded == ()


def test_failed_rounds_are_not_judged_for_latency_but_are_lost_for_loss() -> None:
    quality = Quality(
        latency=QualityRule(max=0.2, open_bad=1, open_of=1, close_good=1),
        loss=QualityRule(max=0.25, open_bad=1, open_of=1, close_good=2, window=4),
    )
    tracker = QualityTracker(target(quality))
    rounds = [ok(0, 0.01), ok(1, 0.01), ok(2, 0.01), ok(3, 0.01), fail(4), ok(5, 0.01), fail(6)]
    rounds += [ok(i, 0.01) for i in range(7, 12)]
    changes = run(tracker, rounds)
    assert [type(c).__name__ for c in changes] == ["DegradedOpened", "DegradedClosed"]
    opened, closed = changes
    assert isinstance(opened, DegradedOpened) and isinstance(closed, DegradedClosed)
    # loss over the last 4 rounds: 1/4 at round 4 (not over 25 %), 2/4 at round 6: opened, first lost round 4
    assert (opened.limit, opened.start_ns, opened.last_ok_ns, opened.confirmed_ns) == ("loss", 4 * S, 3 * S, 6 * S)
    assert opened.value == 0.5 and opened.detail == "loss 50.0% > 25.0%"
    # 2/4 at round 7 (bad), 1/4 at round 8 and 0/4 at 9 (good): closed at 9; the end is the round after the
    # last lost one (7), bounded by that lost round (6)
    assert (closed.window.end_ns, closed.window.end_bounds) == (7 * S, (6 * S, 7 * S))


def test_icmp_loss_counts_packets() -> None:
    quality = Quality(loss=QualityRule(max=0.1, open_bad=2, open_of=2, close_good=1, window=3))
    tracker = QualityTracker(target(quality))
    clean = {"sent": 5.0, "received": 5.0}
    lossy = {"sent": 5.0, "received": 4.0}  # 20 % of packets lost, the probe itself passes
    rounds = [ok(0, 0.01, **clean), ok(1, 0.01, **lossy), ok(2, 0.01, **lossy), ok(3, 0.01, **clean)]
    (opened,) = run(tracker, rounds)
    assert isinstance(opened, DegradedOpened)
    # 1/10 at round 1 is not over 10 %; 2/15 at round 2 is: 2 bad rounds are needed, so round 3 (2/15) confirms
    assert (opened.start_ns, opened.last_ok_ns, opened.confirmed_ns) == (1 * S, 0, 3 * S)
    assert round(opened.value, 4) == round(2 / 15, 4)


def test_jitter_is_the_mean_latency_difference_over_the_window() -> None:
    quality = Quality(jitter=QualityRule(max=0.02, open_bad=1, open_of=1, close_good=1, window=4))
    tracker = QualityTracker(target(quality))
    lat = [0.010, 0.011, 0.010, 0.070, 0.010, 0.011, 0.010, 0.011, 0.010, 0.011]
    opened, closed = run(tracker, [ok(i, v) for i, v in enumerate(lat)])
    assert isinstance(opened, DegradedOpened) and isinstance(closed, DegradedClosed)
    # differences: r1 1ms, r2 1ms, r3 60ms (mean of 3 = 20.7 ms > 20 ms)
    assert (opened.start_ns, opened.confirmed_ns, opened.detail) == (3 * S, 3 * S, "jitter 21 ms > 20 ms")
    # r4's jump back (60 ms) keeps it over; the window forgets both jumps by r6 (mean 31 ms at r5, 15.5 ms at r7)
    assert (closed.window.end_ns, closed.window.end_bounds) == (5 * S, (4 * S, 5 * S))


def test_restored_open_window_closes_with_its_journal_id() -> None:
    from watchdog.model import Outage

    rule = QualityRule(max=0.2, open_bad=2, open_of=3, close_good=2)
    window = Outage(7, "p/x", 1 * S, (0, 1 * S), 2 * S, detail="latency 300 ms > 200 ms", limit="latency")
    tracker = QualityTracker(target(Quality(latency=rule)), {"latency": window})
    assert tracker.degraded == ("latency",)
    (closed,) = run(tracker, [ok(10, 0.01), ok(11, 0.01)])
    assert isinstance(closed, DegradedClosed)
    assert (closed.window.id, closed.window.end_ns, closed.window.end_bounds) == (7, 10 * S, (2 * S, 10 * S))


# ------------------------------------------------------------------------------------------------- e2e


@pytest.fixture
async def servers() -> AsyncIterator[tuple[SlowServer, SlowServer, list[Switch]]]:
    provider, router = SlowServer(), SlowServer()
    internet = [Switch(), Switch(), Switch()]
    await provider.start()
    await router.start()
    for s in internet:
        await s.up()
    yield provider, router, internet
    await provider.stop()
    await router.stop()
    for s in internet:
        await s.down()


SLACK_NS = 50_000_000


def contains(bounds: tuple[int | None, int], truth: int) -> bool:
    lo, hi = bounds
    return (lo is None or lo < truth) and truth <= hi + SLACK_NS


@pytest.mark.slow
async def test_slow_provider_is_degraded_with_bounds_and_attribution(
    tmp_path: Path, servers: tuple[SlowServer, SlowServer, list[Switch]]
) -> None:
    provider, router, internet = servers
    nets = "\n".join(f'    - {{name: n{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(internet))
    config = loads(
        f"""
agent: {{id: q, timezone: UTC, data_dir: "{tmp_path}"}}
defaults:
  interval: 1s
  timeout: 900ms
  quality: {{latency_max: 150ms, open: 2 of 3, close: 2}}
controls:
  lan: [{{name: router, kind: http, address: "{router.url}"}}]
  internet:
{nets}
  quorum: 2
providers:
  - id: broker
    kind: broker
    sla: {{availability: 99.9, counts_degraded: true}}
    targets: [{{name: gateway, kind: http, address: "{provider.url}"}}]
ntp: {{enabled: false}}
web: {{enabled: false}}
""",
        env={},
    )
    agent = Agent(config)
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.handle.started.wait(), 10)
    await asyncio.sleep(3.3)
    provider.slow(0.3)  # 1: the provider alone answers slowly
    await asyncio.sleep(4.0)
    provider.slow(0.0)
    await asyncio.sleep(4.0)
    assert agent.board.targets["broker/gateway"].shown_state == "up"
    provider.slow(0.3)  # 2: the provider and the customer's router are both slow
    router.slow(0.3)
    await asyncio.sleep(4.0)
    assert agent.board.targets["broker/gateway"].shown_state == "degraded"
    provider.slow(0.0)
    router.slow(0.0)
    await asyncio.sleep(4.0)
    agent.handle.stop.set()
    assert await asyncio.wait_for(task, 15) == 0

    with Journal.open(tmp_path / "journal.sqlite3", create=False, readonly=True) as journal:
        analysis = analyse(journal, provider_kinds={"broker": ProviderKind.BROKER}, quorum=2)
    assert analysis.for_provider("broker") == []  # slow is not down
    first, second = analysis.degraded_for_provider("broker")
    truth = [t for _, t in provider.changes]
    for a, (slow_at, fast_at) in zip((first, second), (truth[0:2], truth[2:4]), strict=True):
        w = a.outage
        assert w.limit == "latency" and w.detail.startswith("latency ") and w.detail.endswith("> 150 ms")
        assert contains(w.start_bounds, slow_at), (w.start_bounds, slow_at)
        assert w.end_bounds is not None and contains(w.end_bounds, fast_at), (w.end_bounds, fast_at)
        assert w.start_ns - (w.start_bounds[0] or 0) <= 1.1 * NS
    assert first.attribution is Attribution.PROVIDER
    # the customer's router was as slow as the provider while the internet anchors answered quickly: the
    # controls disagree, so most of the second window is inconclusive, not the provider's
    assert second.attribution is Attribution.INCONCLUSIVE
    reasons = {s.reason for s in second.segments if s.attribution is Attribution.INCONCLUSIVE}
    assert "LAN 0/1 clean, internet 3/3 clean (quorum 2); LAN control degraded or down but internet clean" in reasons
    assert [c.outage.target for c in analysis.degraded if c.role is Role.LAN] == ["lan/router"]


def test_the_speed_gate_waits_while_the_line_or_the_provider_is_down(tmp_path: Path) -> None:
    from watchdog.agent.detector import State

    config = loads(
        f"""
agent: {{id: g, data_dir: "{tmp_path}"}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:1"}}]
  internet: [{{name: a, kind: tcp, address: "127.0.0.1:2"}}, {{name: b, kind: tcp, address: "127.0.0.1:3"}}]
  quorum: 1
providers:
  - id: isp
    kind: isp
    targets:
      - {{name: gw, kind: tcp, address: "127.0.0.1:4"}}
      - {{name: speed, kind: speed, address: "http://127.0.0.1:5/big", interval: 1h, timeout: 1m}}
ntp: {{enabled: false}}
""",
        env={},
    )
    agent = Agent(config)
    speed = config.target("isp/speed")
    board = agent.board.targets

    def seen(key: str, ok: bool, state: State) -> None:
        board[key].last = Result(key, 1, ok, 0.01)
        board[key].state = state

    for key in ("lan/router", "internet/a", "internet/b", "isp/gw"):
        seen(key, True, State.UP)
    assert agent._speed_gate(speed) is None
    seen("isp/gw", False, State.DOWN)
    assert agent._speed_gate(speed) == "isp is down (gw)"
    seen("isp/gw", True, State.UP)
    seen("internet/a", False, State.DOWN)
    seen("internet/b", False, State.UP)  # failing, not yet down: not up either
    assert agent._speed_gate(speed) == "the internet line is down (0 of 2 controls up)"
    seen("lan/router", False, State.DOWN)
    assert agent._speed_gate(speed) == "the home network (LAN control) is down"
