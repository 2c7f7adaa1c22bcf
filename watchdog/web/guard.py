"""The page's connection guard: a cap on open connections and deadlines for slow clients.

A flood of half-sent requests must not take the descriptors the probes need (issue 13). So:

* at most ``max_connections`` connections are open at once; at the cap, a new connection closes the oldest
  one that has not finished sending its request head (else the oldest of all), so the page keeps answering
  while a flood holds its slots, and the flood never holds more than the cap;
* a connection has ``HEAD_TIMEOUT_S`` to send its first request head, and an idle keep-alive connection the
  same time for the next one (aiohttp's ``keepalive_timeout`` is armed at connect and is not reset by
  trickled bytes);
* a request body (only the login form has one) must arrive within ``BODY_TIMEOUT_S``; an unread body is
  drained for at most ``LINGER_S`` after the answer.

The evictions are counted and logged once per minute at most, never per connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

_LOGGER = logging.getLogger(__name__)

HEAD_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 10.0
LINGER_S = 2.0
LOG_EVERY_S = 60.0
HANDLER_OPTIONS: dict[str, Any] = {"keepalive_timeout": HEAD_TIMEOUT_S, "lingering_time": LINGER_S}


class _Counted(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: the cap sees it open, send its head, and close."""

    def __init__(self, cap: ConnectionCap, inner: asyncio.Protocol) -> None:
        self.cap = cap
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.head_done = False
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.cap.opened(self)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.head_done:
            seen = self._tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self.head_done = True
            self._tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cap.closed(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionCap:
    """The protocol factory of the page's listening socket: aiohttp's, under a cap on open connections."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], limit: int) -> None:
        self.factory = factory
        self.limit = limit
        self.open: dict[_Counted, None] = {}  # insertion order = age
        self.evicted = 0
        self.peak = 0
        self._logged_evicted = 0
        self._logged_at = 0.0

    def __call__(self) -> asyncio.Protocol:
        return _Counted(self, self.factory())

    def opened(self, conn: _Counted) -> None:
        """A connection was accepted; make room first if the cap is reached."""
        while len(self.open) >= self.limit:
            victim = next((c for c in self.open if not c.head_done), None) or next(iter(self.open))
            del self.open[victim]
            self.evicted += 1
            if victim.transport is not None:
                victim.transport.abort()
        self.open[conn] = None
        self.peak = max(self.peak, len(self.open))
        self._report()

    def closed(self, conn: _Counted) -> None:
        """A connection ended (or was evicted)."""
        self.open.pop(conn, None)

    def _report(self) -> None:
        now = time.monotonic()
        if self.evicted > self._logged_evicted and now - self._logged_at >= LOG_EVERY_S:
            _LOGGER.warning(
                "status page at its connection cap: closed %d slow or idle connections (cap %d; "
                "set web.max_connections; logged at most once a minute)",
                self.evicted - self._logged_evicted,
                self.limit,
            )
            self._logged_evicted = self.evicted
            self._logged_at = now


class CappedSite(web.TCPSite):
    """A TCP site whose connections go through a :class:`ConnectionCap`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, max_connections: int) -> None:
        super().__init__(runner, host, port, reuse_address=True)
        self.max_connections = max_connections
        self.cap: ConnectionCap | None = None

    async def start(self) -> None:
        """Listen, like TCPSite, with the cap in front of aiohttp's protocol factory."""
        server = self._runner.server
        assert server is not None
        self.cap = ConnectionCap(server, self.max_connections)
        await web.BaseSite.start(self)  # registers the site with the runner
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.cap,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
