"""The status page inside ``watchdog run``: a sink that serves the agent's live board while the agent runs."""

from __future__ import annotations

import asyncio
import errno
import logging
import time

from aiohttp import web

from watchdog.agent.heartbeat import EV_HEARTBEAT
from watchdog.agent.sinks import AgentContext, AgentEvent, Sink, SinkUnavailable
from watchdog.config import split_listen
from watchdog.model import Result
from watchdog.web.app import create_app
from watchdog.web.data import AgentHealth, HeartbeatNow, LiveSource, StatusService
from watchdog.web.documents import Documents, DocumentWorker, default_documents
from watchdog.web.guard import HANDLER_OPTIONS, CappedSite

_LOGGER = logging.getLogger(__name__)


async def start_site(
    app: web.Application, host: str, port: int, *, max_connections: int = 256
) -> tuple[web.AppRunner, int]:
    """Start serving ``app``; return the runner and the port actually bound (port 0 picks one).

    Connections are capped and slow clients timed out (see :mod:`watchdog.web.guard`)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, **HANDLER_OPTIONS)
    await runner.setup()
    site = CappedSite(runner, host, port, max_connections=max_connections)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            bound = int(address[1])
            break
    return runner, bound


def bind_problem(host: str, port: int, exc: OSError) -> str:
    """``exc`` from binding ``host:port`` as one line: the address and the system's reason, no traceback."""
    shown = f"[{host}]" if ":" in host else host
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        reason = "the address is already in use (another watchdog, or another program?)"
    return f"cannot listen on {shown}:{port}: {reason}"


class WebSink(Sink):
    """Starts the status page with the agent and stops it at shutdown; learns liveness from the fan-out."""

    name = "web"

    def __init__(self, ctx: AgentContext, *, documents: Documents | None = None, cache_s: float = 5.0) -> None:
        self.ctx = ctx
        self.health = AgentHealth()
        self.source = LiveSource(ctx.config, ctx.board, self.health)
        # the built-in documents are made in a child process: a pack's minute of CPU never delays a probe
        self.worker = DocumentWorker() if documents is None else None
        self.app = create_app(
            StatusService(self.source, cache_s=cache_s),
            documents=default_documents(self.worker) if documents is None else documents,
        )
        self.runner: web.AppRunner | None = None
        self.host, self.port = split_listen(ctx.config.model.web.listen)

    async def start(self) -> None:
        """Bind and serve (a bind failure disables this sink only; the agent keeps probing)."""
        try:
            self.runner, self.port = await start_site(
                self.app, self.host, self.port, max_connections=self.ctx.config.model.web.max_connections
            )
        except OSError as exc:
            if self.worker is not None:
                await asyncio.to_thread(self.worker.close)
                self.worker = None
            raise SinkUnavailable(
                f"status page: {bind_problem(self.host, self.port, exc)} (web.listen); "
                "the agent runs on without the page"
            ) from None
        _LOGGER.info(
            "status page listening url=http://%s:%d/", f"[{self.host}]" if ":" in self.host else self.host, self.port
        )

    async def on_result(self, result: Result, seq: int | None) -> None:
        """A result arrived: the scheduler is alive."""
        self.health.last_result_mono = time.monotonic()

    async def on_agent(self, event: AgentEvent) -> None:
        """Track the journal failing or recovering, the agent stopping, and the heartbeat's pushes."""
        if event.type == EV_HEARTBEAT:
            ok, at = bool(event.data.get("ok")), int(event.data.get("at_ns", 0))
            before = self.health.heartbeat
            since = None if ok else (before.failing_since_ns if before is not None and not before.ok else at)
            error = None if ok else str(event.data.get("error") or "failed")
            self.health.heartbeat = HeartbeatNow(ok, at, error, since)
        elif event.type == "journal_failing":
            self.health.journal_error = str(event.data.get("message", "failing"))
        elif event.type == "journal_recovered":
            self.health.journal_error = None
        elif event.type == "stopping":
            self.health.stopping = True

    async def aclose(self) -> None:
        """Stop serving."""
        if self.worker is not None:
            await asyncio.to_thread(self.worker.close)
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
            _LOGGER.info("status page stopped")


def web_sink(ctx: AgentContext) -> Sink | None:
    """The factory ``watchdog run`` uses: a WebSink unless ``web.enabled`` is false."""
    if not ctx.config.model.web.enabled:
        return None
    return WebSink(ctx)
