"""The status page of a running agent says whether its heartbeat pushes get through (issue 17 item 2).

A real agent (in this process) with its status page and its heartbeat, pushing to a real HTTP receiver on
127.0.0.1 that first accepts and then answers 503: the page and ``/api/v1/status`` say when the last push
was accepted, then since when pushes fail and why, never the push URL (it is the secret). ``watchdog
serve`` cannot know (pushes are not journaled): there the field is null.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from web_helpers import agent_config, free_port

from watchdog.agent.core import Agent
from watchdog.agent.heartbeat import heartbeat_sink_factory
from watchdog.config import loads
from watchdog.web import web_sink

SECRET = "hb-canary-77aa1"


async def get(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.json() if response.content_type == "application/json" else await response.text()


async def until(predicate: Any, limit_s: float = 20.0) -> Any:
    deadline = time.monotonic() + limit_s
    while not (found := await predicate()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return found


async def test_page_shows_the_last_push_and_failing_pushes(tmp_path: Path) -> None:
    answer = {"status": 200}

    async def ping(request: web.Request) -> web.Response:
        return web.Response(status=answer["status"], text="OK")

    receiver = web.AppRunner(web.Application())
    receiver.app.router.add_route("*", f"/ping/{SECRET}", ping)
    await receiver.setup()
    site = web.TCPSite(receiver, "127.0.0.1", 0)
    await site.start()
    hb_port = receiver.addresses[0][1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    text = agent_config(
        tmp_path / "data", port, dict.fromkeys(("router", "a", "b", "c", "trading", "online"), "127.0.0.1:9")
    )
    text += f'heartbeat: {{url: "http://127.0.0.1:{hb_port}/ping/{SECRET}", method: POST, interval: 200ms}}\n'
    agent = Agent(loads(text, env={}), sink_factories=[web_sink, heartbeat_sink_factory])
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.handle.started.wait(), 10)

        async def pushed() -> Any:
            beat = (await get(base + "/api/v1/status"))["upkeep"]["heartbeat"]
            return beat if beat["last_push"] is not None else None

        beat = await until(pushed)
        last = beat["last_push"]
        assert beat["configured"] is True and beat["interval_s"] == 0.2
        assert (last["ok"], last["error"], last["failing_since_ns"]) == (True, None, None)
        assert last["at_local"].endswith("+03:00")
        page = await get(base + "/")
        assert "Last push accepted at " in re.sub(r"<[^>]+>", "", page)

        answer["status"] = 503

        async def failing() -> Any:
            beat = (await get(base + "/api/v1/status"))["upkeep"]["heartbeat"]
            return beat if beat["last_push"] and not beat["last_push"]["ok"] else None

        last = (await until(failing))["last_push"]
        assert last["error"] == "HTTP 503"
        assert last["failing_since_ns"] is not None and last["failing_since_ns"] <= last["at_ns"]
        page = await get(base + "/")
        words = re.sub(r"<[^>]+>", "", page)
        assert re.search(
            r"Heartbeat pushes fail since [\d-]+ [\d:]+ \(HTTP 503\): the monitoring service will report this agent "
            r"missing\.",
            words,
        ), words
        assert '<p class="banner bad" data-heartbeat="failing">' in page
        assert SECRET not in page and str(hb_port) not in page
    finally:
        agent.handle.stop.set()
        assert await asyncio.wait_for(task, 20) == 0
        await receiver.cleanup()
