"""A real Apprise ``json://`` receiver on loopback (aiohttp) that a test can take down, slow down or break."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    """One POST the receiver got: when, what, and the Basic-auth user it carried."""

    at_mono: float
    at_ns: int
    path: str
    payload: dict[str, Any]
    authorization: str

    @property
    def title(self) -> str:
        return str(self.payload["title"])

    @property
    def body(self) -> str:
        return str(self.payload["message"])

    @property
    def ref(self) -> str:
        """The message's key, from its footer line ("ref. …" / "№ …"); an outage's number says open or close by type."""
        match = re.search(r"(?:ref\.|№) (\S+)$", self.body)
        assert match, self.body
        if match.group(1).isdigit():
            return f"outage-{'open' if self.payload['type'] == 'failure' else 'close'}/{match.group(1)}"
        return match.group(1)


@dataclass
class Receiver:
    """Apprise's json:// plugin POSTs ``{"version", "title", "message", "attachments", "type"}`` here.

    ``delay_s`` > 0: each request is recorded on arrival, then answered that much later (a slow service
    whose answers may come too late). ``status``: the HTTP status it answers with.
    """

    port: int = 0
    delay_s: float = 0.0
    status: int = 200
    received: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    changes: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.port:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
            sock.close()

    def url(self, path: str = "notify", user: str = "", password: str = "") -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"json://{auth}127.0.0.1:{self.port}/{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.received.append(
            Received(time.monotonic(), time.time_ns(), request.path, payload, request.headers.get("Authorization", ""))
        )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.Response(status=self.status, text="ok")

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.changes.append(("up", time.monotonic()))

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.changes.append(("down", time.monotonic()))

    def bodies(self) -> list[str]:
        return [r.body for r in self.received]

    def refs(self) -> list[str]:
        return [r.ref for r in self.received]


class FixedClock:
    """The notifier's wall clock, held still so message texts are exact (the loop's own clock still runs)."""

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


async def wait_until(predicate: Any, limit_s: float = 10.0, step_s: float = 0.02) -> None:
    """Poll ``predicate`` until it holds; fail after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit_s}s")
        await asyncio.sleep(step_s)
