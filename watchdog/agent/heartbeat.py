"""Dead-man's switch: the agent pushes a heartbeat to a service the user already runs, every ``heartbeat.interval``.

When the pushes stop — the Raspberry Pi lost power, its SD card died, the process was killed — the
third party (a Healthchecks check, an Uptime Kuma push monitor, an ntfy topic someone watches) notices
and says so, instead of the gap surfacing weeks later as missing coverage. Every push carries the chain
head, so the remote service also keeps a timestamped copy of it:

* ``method: GET`` appends ``msg=<text>`` to the URL's query (Uptime Kuma shows it as the beat's message;
  Healthchecks ignores it);
* ``method: POST`` sends the text as the body (Healthchecks keeps it as the ping's body; ntfy publishes it).

The text is ``outage-watchdog <agent>: head block <no> rows 1..<last_seq> <hash>``. The URL is a
secret (whoever has it can push in the agent's name): it is never logged; failures are logged as the
HTTP status or error type, once when pushes start failing and once when they work again. Every push's
outcome goes to the other sinks as an ``AgentEvent`` of type :data:`EV_HEARTBEAT` (``ok``, ``at_ns``,
``error``: the status or error type), so the status page can say whether pushes get through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse

import aiohttp

from watchdog.agent.sinks import AgentContext, AgentEvent, Sink
from watchdog.config import HeartbeatSection

_LOGGER = logging.getLogger(__name__)

EV_HEARTBEAT = "heartbeat"  # an AgentEvent: one push's outcome (never journaled: it says nothing about a provider)


def heartbeat_text(agent: str, block: int | None, last_seq: int | None, head: str | None) -> str:
    """What a push says: the agent and its chain head."""
    if block is None:
        return f"outage-watchdog {agent}: no sealed block yet"
    return f"outage-watchdog {agent}: head block {block} rows 1..{last_seq} {head}"


def get_url(url: str, text: str) -> str:
    """The URL with ``msg=<text>`` added to its query."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k != "msg"] + [("msg", text)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class HeartbeatSink(Sink):
    """Pushes every interval; the first push goes out once the agent has started."""

    name = "heartbeat"

    def __init__(self, ctx: AgentContext, section: HeartbeatSection) -> None:
        self.ctx = ctx
        self.section = section
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self.failing = False
        self.pushed = 0

    async def start(self) -> None:
        """Open the HTTP session and start pushing."""
        self._session = aiohttp.ClientSession(trust_env=False)
        self._task = asyncio.create_task(self._loop(), name="heartbeat")

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                await self.push()
            except Exception as exc:  # never the URL: it is the secret
                if not self.failing:
                    _LOGGER.warning(
                        "heartbeat push failed: %s (the monitoring service will report this agent missing)",
                        _reason(exc),
                    )
                self.failing = True
                self.ctx.publish(
                    AgentEvent(EV_HEARTBEAT, {"ok": False, "at_ns": time.time_ns(), "error": _reason(exc)})
                )
            else:
                if self.failing:
                    _LOGGER.info("heartbeat pushes work again")
                self.failing = False
                self.ctx.publish(AgentEvent(EV_HEARTBEAT, {"ok": True, "at_ns": time.time_ns(), "error": None}))
            due += self.section.interval
            now = loop.time()
            if due < now:  # a stall (suspend): the next push goes out now, not a burst of missed ones
                due = now
            await asyncio.sleep(due - now)

    async def push(self) -> None:
        """One push with the current chain head."""
        assert self._session is not None
        if self.ctx.writer.degraded:  # still alive, but say so: the journal is not being written
            text = f"outage-watchdog {self.ctx.config.agent.id}: journal failing: {self.ctx.writer.last_error}"
        else:
            head = await self.ctx.writer.call(lambda j: j.head())
            text = heartbeat_text(
                self.ctx.config.agent.id,
                head.block if head else None,
                head.last_seq if head else None,
                head.hash if head else None,
            )
        assert self.section.url is not None
        url = self.section.url.get_secret_value()
        timeout = aiohttp.ClientTimeout(total=self.section.timeout)
        if self.section.method == "GET":
            request = self._session.get(get_url(url, text), timeout=timeout, allow_redirects=False)
        else:
            request = self._session.post(
                url,
                data=text.encode(),
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=timeout,
                allow_redirects=False,
            )
        async with request as response:
            await response.read()
            if response.status >= 300:
                raise _HttpStatus(response.status)
        self.pushed += 1

    async def aclose(self) -> None:
        """Stop pushing (a clean stop looks like a dead agent to the service: that is the point)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()


class _HttpStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, _HttpStatus):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__  # aiohttp's messages can quote the URL


def heartbeat_sink_factory(ctx: AgentContext) -> Sink | None:
    """The heartbeat sink, when ``heartbeat.url`` is set."""
    section = ctx.config.model.heartbeat
    if section.url is None:
        return None
    return HeartbeatSink(ctx, section)
