"""Message building: facts → words from the catalog → a keyed message queued once for every routed channel."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from watchdog.config import Config
from watchdog.notify.channels import Channels
from watchdog.notify.facts import Snapshot, snapshot
from watchdog.notify.outbox import Message, Outbox
from watchdog.notify.words import Words

_LOGGER = logging.getLogger(__name__)


class Messages:
    """Renders messages and puts them in the outbox; remembers which keys were queued (each fact goes out once)."""

    def __init__(self, config: Config, words: Words, outbox: Outbox, clock: Callable[[], int]) -> None:
        self.config = config
        self.words = words
        self.outbox = outbox
        self.clock = clock
        self.channels: Channels | None = None  # set by the sink's start
        self._seen: set[str] = set()  # keys queued or found queued this run

    async def new(self, key: str) -> bool:
        """True when no message with this key was queued before (in this run or an earlier one)."""
        if key in self._seen:
            return False
        self._seen.add(key)
        return not await self.outbox.has(key)

    async def queue(self, template: str, key: str, category: str, notify_type: str, /, **facts: Any) -> None:
        """Render a message and put it in the outbox for every channel its category is routed to."""
        self._seen.add(key)
        assert self.channels is not None
        names = self.channels.routes.get(category, [])
        if not names:
            return
        now = self.clock()
        words = self.words.render(template, now, agent=self.config.agent.id, written=now, ref=key, **facts)
        message = Message(key, category, notify_type, words.title, words.body, now)
        fresh = await self.outbox.add(message, names)
        if fresh:
            _LOGGER.info("notification queued key=%s channels=%s", key, ",".join(e.channel for e in fresh))
        for entry in fresh:
            ch = self.channels.by_name(entry.channel)
            if ch is not None:
                ch.wake.set()

    async def snapshot(self, as_of_ns: int | None = None) -> Snapshot | None:
        """The SLA standing a message quotes, read from the journal; None (and a warning) when it cannot be read.

        ``as_of_ns`` fixes the instant the figures speak for (default: now).
        """
        now = self.clock() if as_of_ns is None else min(as_of_ns, self.clock())
        try:
            return await asyncio.to_thread(snapshot, self.config, self.config.journal_path, now)
        except Exception as exc:
            _LOGGER.warning("cannot read SLA figures from the journal, message goes without them error=%s", exc)
            return None
