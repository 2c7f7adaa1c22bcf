"""The console sink on a real agent (loopback only): the first round, then one line per state change.

A broker's service goes down and comes back while the line is fine, then the router does: every line
the console prints is asserted, clock times and lengths masked.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers import Switch

from watchdog.agent.core import Agent
from watchdog.agent.sinks import AgentContext
from watchdog.agent.state import Board
from watchdog.agent.writer import JournalWriter
from watchdog.config import Config, loads
from watchdog.model import NS, FailureKind, Result
from watchdog.notify.console import FIRST_ROUND_LISTED, ConsoleSink


@pytest.fixture
async def net() -> AsyncIterator[tuple[Switch, Switch, list[Switch]]]:
    broker, router, anchors = Switch(), Switch(), [Switch(), Switch(), Switch()]
    for s in (broker, router, *anchors):
        await s.up()
    yield broker, router, anchors
    for s in (broker, router, *anchors):
        await s.down()


def config_text(data_dir: Path, broker: Switch, router: Switch, anchors: list[Switch]) -> str:
    nets = "\n".join(f'    - {{name: a{i}, kind: tcp, address: "{s.address}"}}' for i, s in enumerate(anchors, 1))
    return f"""
agent: {{id: console, timezone: Europe/Moscow, data_dir: "{data_dir}"}}
defaults: {{interval: 1s, timeout: 500ms, failure_threshold: 2, success_threshold: 2}}
controls:
  lan: [{{name: router, kind: tcp, address: "{router.address}"}}]
  internet:
{nets}
  quorum: 2
providers:
  - {{id: broker, name: Broker, kind: broker, targets: [{{name: trading, kind: tcp, address: "{broker.address}"}}]}}
ntp: {{enabled: false}}
web: {{enabled: false}}
"""


def masked(buf: io.StringIO) -> list[str]:
    text = re.sub(r"\b\d\d:\d\d:\d\d\b", "<T>", buf.getvalue())
    text = re.sub(r"after \d+(\.\d)?s\b", "after <D>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "<ADDR>", text)
    return text.splitlines()


async def wait_for(buf: io.StringIO, needle: str, timeout_s: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while needle not in buf.getvalue():
        assert loop.time() < deadline, f"no {needle!r} in {buf.getvalue()!r}"
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_console_lines(tmp_path: Path, net: tuple[Switch, Switch, list[Switch]]) -> None:
    broker, router, anchors = net
    config = loads(config_text(tmp_path / "data", broker, router, anchors))
    buf = io.StringIO()
    agent = Agent(config, sink_factories=[lambda ctx: ConsoleSink(ctx, hint=["(the hint)"], out=buf)])
    task = asyncio.create_task(agent.run())
    try:
        await wait_for(buf, "(the hint)")
        await broker.down()
        await wait_for(buf, "DOWN broker/trading")
        await broker.up()
        await wait_for(buf, "UP   broker/trading")
        await router.down()
        await wait_for(buf, "LINE DOWN")
        await router.up()
        await wait_for(buf, "LINE UP")
    finally:
        agent.handle.stop.set()
        await task
    assert masked(buf) == [
        "<T> first round: 5 of 5 up",
        "  lan/router      tcp   <ADDR>  up",
        "  internet/a1     tcp   <ADDR>  up",
        "  internet/a2     tcp   <ADDR>  up",
        "  internet/a3     tcp   <ADDR>  up",
        "  broker/trading  tcp   <ADDR>  up",
        "  your line: working (router answers, 3 of 3 anchors up, quorum 2)",
        "(the hint)",
        "<T> DOWN broker/trading since <T>: connect — your line works: the provider's side",
        "<T> UP   broker/trading after <D>",
        "<T> DOWN lan/router since <T>: connect",
        "<T> LINE DOWN since <T>: your router does not answer (lan/router)",
        "<T> UP   lan/router after <D>",
        "<T> LINE UP after <D>",
    ]


async def test_console_quorum_lost(tmp_path: Path, net: tuple[Switch, Switch, list[Switch]]) -> None:
    """Two of three anchors down while the router answers: the line is down for the quorum, once."""
    broker, router, anchors = net
    config = loads(config_text(tmp_path / "data", broker, router, anchors))
    buf = io.StringIO()
    agent = Agent(config, sink_factories=[lambda ctx: ConsoleSink(ctx, out=buf)])
    task = asyncio.create_task(agent.run())
    try:
        await wait_for(buf, "your line: working")
        await anchors[0].down()
        await anchors[1].down()
        await wait_for(buf, "LINE DOWN")
        await anchors[0].up()
        await anchors[1].up()
        await wait_for(buf, "LINE UP")
        await wait_for(buf, "UP   internet/a")
        await asyncio.sleep(2.5)  # the other anchor's close too
    finally:
        agent.handle.stop.set()
        await task
    lines = masked(buf)[7:]
    assert sorted(lines[:2]) == ["<T> DOWN internet/a1 since <T>: connect", "<T> DOWN internet/a2 since <T>: connect"]
    assert lines[2] == (
        "<T> LINE DOWN since <T>: the internet anchors lost their quorum (2 of 3 down, quorum 2: internet/a1, "
        "internet/a2)"
    )
    assert sorted(lines[3:]) == [
        "<T> LINE UP after <D>",
        "<T> UP   internet/a1 after <D>",
        "<T> UP   internet/a2 after <D>",
    ]
    assert lines[4] == "<T> LINE UP after <D>"


# The first-round summary driven directly (no probes run): the sink prints once every target has answered.
NOON_NS = 1_767_268_800 * NS  # 2026-01-01 12:00:00 UTC


def many_targets_config(data_dir: Path, providers: int) -> Config:
    isp = ", ".join(f'{{name: t{i}, kind: tcp, address: "127.0.0.1:9"}}' for i in range(1, providers + 1))
    return loads(f"""
agent: {{id: console, timezone: UTC, data_dir: "{data_dir}"}}
controls:
  lan: [{{name: router, kind: tcp, address: "127.0.0.1:9"}}]
  internet: [{{name: a1, kind: tcp, address: "127.0.0.1:9"}}, {{name: a2, kind: tcp, address: "127.0.0.1:9"}}]
  quorum: 1
providers:
  - {{id: isp, kind: isp, targets: [{isp}]}}
ntp: {{enabled: false}}
web: {{enabled: false}}
""")


async def first_round(config: Config, down: set[str]) -> list[str]:
    """The console's lines after one result per target, those in ``down`` timed out."""
    buf = io.StringIO()
    # the console only prints: the journal writer is never opened (nothing is written)
    ctx = AgentContext(config, Board.for_targets(config.targets, config.quorum), JournalWriter(config.journal_path))
    sink = ConsoleSink(ctx, hint=["(the hint)"], out=buf, clock=lambda: NOON_NS)
    for i, target in enumerate(config.targets):
        ok = target.key not in down
        result = Result(
            target.key,
            NOON_NS - 5 * NS + i,
            ok,
            0.001 if ok else 0.5,
            None if ok else FailureKind.TIMEOUT,
            "" if ok else "no answer in 500ms",
        )
        await sink.on_result(result, i + 1)
    return buf.getvalue().splitlines()


async def test_first_round_lists_every_target_up_to_fifty(tmp_path: Path) -> None:
    config = many_targets_config(tmp_path / "data", 47)  # 1 + 2 + 47 = 50 targets
    lines = await first_round(config, {"internet/a2", "isp/t7"})
    assert len(config.targets) == FIRST_ROUND_LISTED == 50
    assert lines == [
        "12:00:00 first round: 48 of 50 up",
        "  lan/router   tcp   127.0.0.1:9  up",
        "  internet/a1  tcp   127.0.0.1:9  up",
        "  internet/a2  tcp   127.0.0.1:9  DOWN timeout: no answer in 500ms",
        *(f"  isp/t{i:<6}  tcp   127.0.0.1:9  up" for i in range(1, 7)),
        "  isp/t7       tcp   127.0.0.1:9  DOWN timeout: no answer in 500ms",
        *(f"  isp/t{i:<6}  tcp   127.0.0.1:9  up" for i in range(8, 48)),
        "  your line: working (router answers, 1 of 2 anchors up, quorum 1)",
        "(the hint)",
    ]


async def test_past_fifty_targets_only_those_down_are_named(tmp_path: Path) -> None:
    config = many_targets_config(tmp_path / "data", 57)  # 60 targets
    lines = await first_round(config, {"internet/a2", "isp/t10", "isp/t57"})
    assert lines == [
        "12:00:00 first round: 57 of 60 up",
        "  internet/a2  tcp   127.0.0.1:9  DOWN timeout: no answer in 500ms",
        "  isp/t10      tcp   127.0.0.1:9  DOWN timeout: no answer in 500ms",
        "  isp/t57      tcp   127.0.0.1:9  DOWN timeout: no answer in 500ms",
        "  not listed: 57 up (past 50 targets only those down are listed)",
        "  your line: working (router answers, 1 of 2 anchors up, quorum 1)",
        "(the hint)",
    ]


async def test_past_fifty_targets_at_most_fifty_down_are_named(tmp_path: Path) -> None:
    config = many_targets_config(tmp_path / "data", 57)  # 60 targets, the router and 54 of the ISP's down
    down = {"lan/router", *(f"isp/t{i}" for i in range(1, 55))}
    lines = await first_round(config, down)
    assert lines == [
        "12:00:00 first round: 5 of 60 up",
        "  lan/router  tcp   127.0.0.1:9  DOWN timeout: no answer in 500ms",
        *(f"  isp/t{i:<5}  tcp   127.0.0.1:9  DOWN timeout: no answer in 500ms" for i in range(1, 50)),
        "  not listed: 5 up, 5 more down (past 50 targets only those down are listed)",
        "  your line: NOT working (router does NOT answer, 2 of 2 anchors up, quorum 1)",
        "(the hint)",
    ]
