"""A real aiohttp server on 127.0.0.1 whose answers the test slows down (latency) for known windows."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web


class SlowServer:
    """An aiohttp server on 127.0.0.1 whose answers take ``delay_s`` while the test says so."""

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.changes: list[tuple[float, int]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    def slow(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.changes.append((delay_s, time.time_ns()))

    async def start(self) -> None:
        async def page(request: web.Request) -> web.Response:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/", page)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"
