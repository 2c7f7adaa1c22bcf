"""The status page inside a real agent run (live board), and ``watchdog serve`` on the journal it leaves."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from helpers import Switch
from web_helpers import agent_config, free_port

from watchdog.agent.core import Agent
from watchdog.agent.detector import State
from watchdog.agent.sinks import AgentContext
from watchdog.config import loads
from watchdog.web import web_sink

ROOT = str(Path(__file__).resolve().parents[2])
NAMES = ("router", "a", "b", "c", "trading", "online")


@pytest.fixture
async def services() -> AsyncIterator[dict[str, Switch]]:
    switches = {name: Switch() for name in NAMES}
    for s in switches.values():
        await s.up()
    yield switches
    for s in switches.values():
        await s.down()


async def fetch(url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body


async def wait_until(predicate: Any, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_live_page_follows_the_agent_and_stops_with_it(tmp_path: Path, services: dict[str, Switch]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = loads(agent_config(tmp_path / "data", port, {n: s.address for n, s in services.items()}), env={})
    agent = Agent(config, sink_factories=[web_sink])
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.handle.started.wait(), 10)

        async def all_up() -> bool:
            status, body = await fetch(base + "/api/v1/status")
            return status == 200 and all(p["state"] == "up" for p in body["providers"])

        await wait_until(all_up)
        status, health = await fetch(base + "/healthz")
        assert status == 200 and health["ok"] is True and health["mode"] == "live"

        await services["trading"].down()

        async def broker_down() -> bool:
            _, body = await fetch(base + "/api/v1/status")
            return body["providers"][0]["state"] == "down"

        await wait_until(broker_down)
        _, body = await fetch(base + "/api/v1/status")
        broker = body["providers"][0]
        assert body["mode"] == "live" and body["journal"]["writable"] is True
        assert broker["targets"][0]["outage"]["start_ns"] == agent.board.targets["broker/trading"].outage.start_ns
        assert [o["attribution"] for o in broker["outages"] if o["open"]] == ["provider"]
        assert body["line"]["state"] == "ok"

        # the disk fills up: the agent holds results in memory and /healthz says the evidence is not being kept
        pages = await agent.writer.call(lambda j: j.conn.execute("PRAGMA page_count").fetchone()[0])
        await agent.writer.call(lambda j: j.conn.execute(f"PRAGMA max_page_count={pages}"))

        async def unhealthy() -> bool:
            return (await fetch(base + "/healthz"))[0] == 503

        await wait_until(unhealthy, 30)
        _, health = await fetch(base + "/healthz")
        assert health["problems"] == ["journal not writable: OperationalError: database or disk is full"]
        _, body = await fetch(base + "/api/v1/status")
        assert body["journal"] == {
            **body["journal"],
            "writable": False,
            "error": "OperationalError: database or disk is full",
        }
        await agent.writer.call(lambda j: j.conn.execute("PRAGMA max_page_count=1073741823"))

        async def healthy() -> bool:
            return (await fetch(base + "/healthz"))[0] == 200

        await wait_until(healthy, 30)
    finally:
        agent.handle.stop.set()
        assert await asyncio.wait_for(task, 20) == 0
    assert agent.board.targets["broker/trading"].state is State.DOWN
    with pytest.raises(aiohttp.ClientConnectorError):
        await fetch(base + "/healthz")  # the server stopped with the agent


@pytest.mark.slow
async def test_a_taken_port_disables_only_the_page(tmp_path: Path, services: dict[str, Switch]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = loads(agent_config(tmp_path / "data", port, {n: s.address for n, s in services.items()}), env={})
        agent = Agent(config, sink_factories=[web_sink])
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.handle.started.wait(), 10)
        await asyncio.sleep(2.0)
        agent.handle.stop.set()
        assert await asyncio.wait_for(task, 20) == 0
    assert agent.fanout is not None and agent.fanout.sinks == []
    assert all(s.results >= 1 for s in agent.board.targets.values())  # probing and journaling went on


def test_disabled_in_config(tmp_path: Path) -> None:
    text = agent_config(tmp_path, 8080, dict.fromkeys(NAMES, "127.0.0.1:9")).replace(
        "refresh: 5s}", "refresh: 5s, enabled: false}"
    )
    config = loads(text, env={})
    assert web_sink(AgentContext(config, None, None)) is None  # type: ignore[arg-type]


@pytest.mark.slow
async def test_watchdog_serve_on_the_journal(tmp_path: Path, services: dict[str, Switch]) -> None:
    port = free_port()
    cfg = tmp_path / "watchdog.yaml"
    cfg.write_text(agent_config(tmp_path / "data", port, {n: s.address for n, s in services.items()}))
    config = loads(cfg.read_text(), env={})
    agent = Agent(config, duration_s=2.5)
    assert await agent.run() == 0

    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "watchdog",
        "serve",
        "-c",
        str(cfg),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line == f"serving {config.journal_path} on http://127.0.0.1:{port}/\n"
        status, body = await fetch(f"http://127.0.0.1:{port}/api/v1/status")
        assert status == 200 and body["mode"] == "journal" and body["agent_running"] is False
        assert {t["state"] for p in body["providers"] for t in p["targets"]} == {"stale"}
        assert {t["last_state"] for p in body["providers"] for t in p["targets"]} == {"up"}
        _, html = await fetch(f"http://127.0.0.1:{port}/")
        assert "The agent is not running: the last record is from" in html
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0

    loud = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "watchdog",
        "serve",
        "-c",
        str(cfg),
        "--listen",
        "0.0.0.0:0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    out, _ = await loud.communicate()
    assert loud.returncode == 2
    assert out.decode() == "--listen: 0.0.0.0 is reachable from other machines; set web.token in the config first\n"
