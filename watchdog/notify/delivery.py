"""The delivery loops: one per channel, sending queued rows oldest first with capped backoff until Apprise succeeds.

Delivery per channel: rows go out oldest first. A failure parks that row for its own backoff and the
next row is tried once; two failures in a row pause the channel (the service is down), so a dead line
costs two attempts per backoff step, not one per queued message, and the queue drains in order when the
service returns. A row that keeps failing while later rows go through (a message the service rejects)
only ever holds up itself. The first try of a row waits ``timeout`` for an answer; every retry waits
``patient_timeout``, so a service that is merely slow yields at most one duplicate (a first try that got
through but whose answer came too late), recognisable by the key printed in both copies. When the
customer's own line comes back, every channel retries at once instead of sleeping out its backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial

from watchdog.config import NotifySection
from watchdog.model import NS
from watchdog.notify.channels import Attempt, Channel, Channels
from watchdog.notify.outbox import Entry, Outbox

_LOGGER = logging.getLogger(__name__)


class Delivery:
    """Sends the outbox's pending rows through the channels and records every attempt in the outbox."""

    def __init__(self, section: NotifySection, outbox: Outbox, clock: Callable[[], int]) -> None:
        self.section = section
        self.outbox = outbox
        self.clock = clock
        self.progress = asyncio.Event()  # set after every attempt (shutdown waits on it)
        self.inflight = 0  # attempts sent or being recorded right now (shutdown lets them end)

    def backoff(self, n: int) -> float:
        """How long to wait after the ``n``-th failure: doubling from ``retry_min``, capped at ``retry_max``."""
        return float(min(self.section.retry_max, self.section.retry_min * 2 ** max(0, n - 1)))

    def retry_all_now(self, channels: Channels | None) -> None:
        """Forget every backoff and pause: each channel tries its queue at once (the line is back)."""
        if channels is None:
            return
        for ch in channels.channels:
            ch.pause_until = 0.0
            for entry in self.outbox.pending.get(ch.name, []):
                entry.due_mono = 0.0
            ch.wake.set()

    def anything_due(self, channels: Channels | None, now: float) -> bool:
        """True when some channel that is not paused has a row due at loop time ``now``."""
        if channels is None:
            return False
        return any(
            ch.pause_until <= now and any(e.due_mono <= now for e in self.outbox.pending.get(ch.name, []))
            for ch in channels.channels
        )

    async def settle(self, channels: Channels | None, settle_s: float) -> None:
        """At shutdown: let delivery run for up to ``settle_s`` while something is due or an attempt is not over."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settle_s
        while (self.inflight or self.anything_due(channels, loop.time())) and (left := deadline - loop.time()) > 0:
            self.progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.progress.wait(), left)

    async def deliver(self, ch: Channel) -> None:
        """The loop of one channel: a round of sending, then sleep until the next row is due or a new one woke it."""
        loop = asyncio.get_running_loop()
        while True:
            ch.wake.clear()
            try:
                await self._round(ch)
            except Exception:
                _LOGGER.exception("notification delivery failed channel=%s (retried)", ch.name)
                ch.pause_until = loop.time() + self.backoff(1)
            pending = self.outbox.pending.get(ch.name, [])
            if not pending:
                await ch.wake.wait()
                continue
            wake_at = max(ch.pause_until, min(e.due_mono for e in pending))
            delay = wake_at - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ch.wake.wait(), delay)

    async def _round(self, ch: Channel) -> None:
        """Send what is due, oldest first, until the queue is empty or two tries in a row failed."""
        loop = asyncio.get_running_loop()
        streak = 0
        while True:
            now = loop.time()
            if now < ch.pause_until:
                return
            entry = next((e for e in self.outbox.pending.get(ch.name, []) if e.due_mono <= now), None)
            if entry is None:
                return
            if await self._attempt(ch, entry):
                streak = 0
                continue
            streak += 1
            if streak >= 2:
                ch.failed_rounds += 1
                ch.pause_until = loop.time() + self.backoff(ch.failed_rounds)
                return

    async def _attempt(self, ch: Channel, entry: Entry) -> bool:
        self.inflight += 1
        try:
            return await self._attempt_once(ch, entry)
        finally:
            self.inflight -= 1
            self.progress.set()

    async def _attempt_once(self, ch: Channel, entry: Entry) -> bool:
        loop = asyncio.get_running_loop()
        m = entry.message
        timeout = self.section.timeout if entry.attempts == 0 else self.section.patient_timeout
        try:
            attempt = await ch.courier.call(partial(ch.send, m.title, m.body, m.notify_type, timeout))
            error = f"no answer within {timeout:g}s" if attempt.no_answer else "refused or failed"
        except Exception as exc:  # a plugin raised; its text may quote the URL, so only the type is kept
            attempt = Attempt(False, 0.0, timeout)
            error = f"Apprise raised {type(exc).__name__}"
        entry.last_try_ns = self.clock()
        self.progress.set()
        if attempt.ok:
            entry.delivered_ns = entry.last_try_ns
            entry.last_error = None
            self.outbox.delivered(entry)
            await self.outbox.save(entry)
            ch.delivered += 1
            if ch.failures:
                _LOGGER.info(
                    "notification channel works again channel=%s url=%s failed_attempts=%d",
                    ch.name,
                    ch.privacy_url,
                    ch.failures,
                )
            ch.failures = 0
            ch.failed_rounds = 0
            ch.failing_since_ns = None
            return True
        entry.attempts += 1
        backoff = self.backoff(entry.attempts)
        entry.due_mono = loop.time() + backoff
        entry.next_ns = entry.last_try_ns + round(backoff * NS)
        entry.last_error = error
        await self.outbox.save(entry)
        ch.failures += 1
        if ch.failures == 1:
            ch.failing_since_ns = entry.last_try_ns
            _LOGGER.warning(
                "notification channel failing, messages stay queued and are retried channel=%s url=%s error=%s",
                ch.name,
                ch.privacy_url,
                error,
            )
        return False
