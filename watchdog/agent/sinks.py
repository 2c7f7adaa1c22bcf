"""Sinks: what happens to a result after the journal holds it. A slow or failing sink delays nobody.

Each sink gets its own bounded queue and worker task (:class:`Fanout`). A sink that raises is logged
once when it starts failing and once when it recovers; the journal still holds everything, so sinks
that must not miss rows (the InfluxDB exporter) read the journal through a cursor instead of relying
on the fan-out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from watchdog.agent.state import Board, LineStatus
from watchdog.errors import WatchdogError
from watchdog.model import Outage, Result, Target

if TYPE_CHECKING:
    from watchdog.agent.writer import JournalWriter
    from watchdog.config import Config

_LOGGER = logging.getLogger(__name__)


class SinkUnavailable(WatchdogError):
    """A sink cannot start for a reason its message says in full (a busy port): logged as one line, no traceback."""


@dataclass(frozen=True, slots=True)
class OutageNotice:
    """An outage opened or closed, with the line as it stood at that moment."""

    event: str  # "opened" | "closed"
    outage: Outage
    target: Target
    line: LineStatus
    seq: int | None  # the journal row of this event (None while the journal is failing)


@dataclass(frozen=True, slots=True)
class DegradedNotice:
    """A degraded window (a quality limit crossed) opened or closed; ``down`` when the target was down then."""

    event: str  # "opened" | "closed"
    window: Outage  # ``window.limit`` names the limit
    target: Target
    line: LineStatus
    seq: int | None
    value: float  # the limit's value at that moment (seconds, or a ratio for loss)
    max: float
    down: bool = False  # the target was down at that moment: down wins, nothing is said of degradation


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """Something about the agent itself: started, stopping, journal failing or recovered, a stall."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


def _no_publish(event: AgentEvent) -> None:
    """Where AgentEvents go before the fan-out exists (and in contexts built without one)."""


@dataclass
class AgentContext:
    """What sinks may use: the config, the live board, the journal writer, and a way to raise AgentEvents."""

    config: Config
    board: Board
    writer: JournalWriter
    run_id: str = ""
    # hands an AgentEvent to every sink (the agent points it at its fan-out), e.g. an exporter's alert
    publish: Callable[[AgentEvent], None] = _no_publish


class Sink:
    """Base class for sinks; override what you need, the defaults do nothing."""

    name = "sink"

    async def start(self) -> None:
        """Called once before the first item."""

    async def on_result(self, result: Result, seq: int | None) -> None:
        """A probe result, after the journal holds it."""

    async def on_outage(self, notice: OutageNotice) -> None:
        """An outage was opened or closed."""

    async def on_agent(self, event: AgentEvent) -> None:
        """An agent-level event."""

    async def on_degraded(self, notice: DegradedNotice) -> None:
        """A degraded window opened or closed."""

    async def aclose(self) -> None:
        """Called once at shutdown, after the queue drained."""


Item = tuple[Result, int | None] | OutageNotice | AgentEvent | DegradedNotice


class Fanout:
    """One bounded queue and one worker per sink."""

    def __init__(self, sinks: list[Sink], *, maxsize: int = 10_000) -> None:
        self.sinks = sinks
        self.queues: dict[str, asyncio.Queue[Item | None]] = {s.name: asyncio.Queue(maxsize) for s in sinks}
        self.dropped: dict[str, int] = {s.name: 0 for s in sinks}
        self.failing: dict[str, bool] = {s.name: False for s in sinks}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every sink and its worker; a sink whose start fails is logged and skipped."""
        for sink in list(self.sinks):
            try:
                await sink.start()
            except SinkUnavailable as exc:
                _LOGGER.error("%s", exc)
                self.sinks.remove(sink)
                continue
            except Exception:
                _LOGGER.exception("sink failed to start, disabled sink=%s", sink.name)
                self.sinks.remove(sink)
                continue
            self._tasks.append(asyncio.create_task(self._work(sink), name=f"sink:{sink.name}"))

    def publish(self, item: Item) -> None:
        """Hand an item to every sink without waiting; a full queue drops (the journal keeps it)."""
        for sink in self.sinks:
            try:
                self.queues[sink.name].put_nowait(item)
            except asyncio.QueueFull:
                self.dropped[sink.name] += 1
                if self.dropped[sink.name] in (1, 100, 10_000):
                    _LOGGER.warning(
                        "sink queue full, item dropped sink=%s dropped=%d", sink.name, self.dropped[sink.name]
                    )

    async def _work(self, sink: Sink) -> None:
        queue = self.queues[sink.name]
        while True:
            item = await queue.get()
            if item is None:
                return
            try:
                if isinstance(item, OutageNotice):
                    await sink.on_outage(item)
                elif isinstance(item, AgentEvent):
                    await sink.on_agent(item)
                elif isinstance(item, DegradedNotice):
                    await sink.on_degraded(item)
                else:
                    await sink.on_result(*item)
            except Exception:
                if not self.failing[sink.name]:
                    _LOGGER.exception("sink failed sink=%s (further failures are counted, not logged)", sink.name)
                self.failing[sink.name] = True
            else:
                if self.failing[sink.name]:
                    _LOGGER.info("sink recovered sink=%s", sink.name)
                self.failing[sink.name] = False

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Drain the queues (bounded by ``timeout_s``), then close every sink."""
        for sink in self.sinks:
            try:
                self.queues[sink.name].put_nowait(None)
            except asyncio.QueueFull:
                pass
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for sink in self.sinks:
            try:
                await sink.aclose()
            except Exception:
                _LOGGER.exception("sink failed to close sink=%s", sink.name)


SinkFactory = Callable[[AgentContext], Sink | None]
"""Makes a sink from the agent's context, or None when the config does not ask for it."""
