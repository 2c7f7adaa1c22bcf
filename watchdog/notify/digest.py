"""The daily digest: once a day at ``digest_at``, every provider's standing, the open outages and the journal head."""

from __future__ import annotations

import datetime as dt

from watchdog.agent.detector import State
from watchdog.agent.state import Board
from watchdog.config import NotifySection
from watchdog.model import NS, Role
from watchdog.notify.messages import Messages


class Digest:
    """Queues ``digest/<local date>`` once the local time passed ``digest_at`` (nothing without it)."""

    def __init__(self, messages: Messages, section: NotifySection, board: Board) -> None:
        self.messages = messages
        self.config = messages.config
        self.section = section
        self.board = board
        self._day: dt.date | None = None

    async def check(self) -> None:
        """Called every tick: queue today's digest when it is due and not yet queued."""
        at = self.section.digest_at
        if at is None:
            return
        now = self.messages.clock()
        local = self.messages.words.local(now)
        if local.time() < at or self._day == local.date():
            return
        self._day = local.date()
        key = f"digest/{local.date().isoformat()}"
        if not await self.messages.new(key):
            return
        snap = await self.messages.snapshot()
        board = self.board
        providers = []
        for p in self.config.providers:
            statuses = board.provider_targets(p.id)
            states = {s.state for s in statuses}
            state = "down" if State.DOWN in states else "up" if states == {State.UP} else "unknown"
            standing = snap.standings.get(p.id) if snap else None
            providers.append(
                {
                    "name": p.display_name,
                    "period": standing.period_name if standing else "",
                    "downtime": standing.downtime_s if standing else 0.0,
                    "availability": standing.figures.availability if standing else None,
                    "measured": standing.figures.counted_s if standing else 0.0,
                    "allowed": standing.allowed_s if standing else None,
                    "target": p.sla.availability,
                    "state": state,
                }
            )
        open_outages = [
            {
                "provider": self.config.provider(s.target.provider or "").display_name,
                "target": s.target.name,
                "since": s.outage.start_ns,
                "age": (now - s.outage.start_ns) / NS,
            }
            for s in board.targets.values()
            if s.target.role is Role.PROVIDER and s.outage is not None and s.state is State.DOWN
        ]
        line = board.line()
        head = snap.head if snap else None
        await self.messages.queue(
            "digest",
            key,
            "digest",
            "info",
            day=now,
            providers=providers,
            open=sorted(open_outages, key=lambda o: o["since"]),
            up=line.controls_up,
            total=line.controls_total,
            head=None
            if head is None
            else {"block": head.block, "last_seq": head.last_seq, "hash": head.hash, "sealed": head.sealed_ns},
        )
