"""Degraded-service messages: a provider target over a quality limit (opened, closed, folded flaps).

The same folding rules as outages (:class:`~watchdog.notify.fold.FlapFolder`, ``notify.flap_window``), one
subject per target and limit, in their own folder so a degraded flap never folds an outage away. Down wins:
a window that opens while its target is down is not told (the outage message says more), nor is its close.
"""

from __future__ import annotations

from watchdog.agent.sinks import DegradedNotice
from watchdog.agent.state import Board
from watchdog.config import Config
from watchdog.model import NS
from watchdog.notify.fold import FlapFolder, Summary
from watchdog.notify.messages import Messages

LIMIT_UNITS = {"latency": "s", "jitter": "s", "loss": "ratio"}


class DegradedMessages:
    """What the customer hears when a provider is up but worse than its quality limits."""

    def __init__(self, messages: Messages, window_s: float, board: Board) -> None:
        self.messages = messages
        self.board = board
        self.config: Config = messages.config
        self.folder = FlapFolder(window_s)
        self._untold: set[tuple[str, int]] = set()  # (subject, id) of openings not told because down won
        self._names: dict[str, tuple[str, str, str]] = {}  # subject -> provider name, provider id, target name

    @staticmethod
    def subject(notice: DegradedNotice) -> str:
        """One flap subject per target and limit."""
        return f"{notice.target.key}#{notice.window.limit}"

    def _facts(self, notice: DegradedNotice) -> dict[str, object]:
        provider = self.config.provider(notice.target.provider or "")
        self._names[self.subject(notice)] = (provider.display_name, provider.id, notice.target.name)
        # the notice's line counts controls that answer; a degraded window needs a *clean* line (a control
        # over its own limits is not): the board knows which controls are degraded now
        line = self.board.line(clean=True)
        names = {t.key: t.name for t in self.config.targets}
        return {
            "provider": provider.display_name,
            "provider_id": provider.id,
            "target": notice.target.name,
            "limit": notice.window.limit,
            "value": notice.value,
            "max": notice.max,
            "verdict": line.verdict(provider.kind).value,
            "lan_up": line.lan_up,
            "lan_total": line.lan_total,
            "net_up": line.internet_up,
            "net_total": line.internet_total,
            "quorum": line.quorum,
            "failing": [names.get(k, k) for k in line.failing],
            "counts": provider.sla.counts_degraded,
        }

    async def on_notice(self, notice: DegradedNotice) -> None:
        """A provider target's degraded window opened or closed."""
        w = notice.window
        subject = self.subject(notice)
        now = self.messages.clock()
        if notice.event == "opened":
            if notice.down:
                self._untold.add((subject, w.id))
                return
            if not self.folder.opened(subject, w.id, w.start_ns, now):
                return
            await self.messages.queue(
                "degraded_opened", f"degraded-open/{w.id}", "outage", "warning", since=w.start_ns, **self._facts(notice)
            )
            return
        if (subject, w.id) in self._untold:
            self._untold.discard((subject, w.id))
            return
        end = w.end_ns or now
        if not self.folder.closed(subject, w.id, end):
            return
        await self.messages.queue(
            "degraded_closed",
            f"degraded-close/{w.id}",
            "outage",
            "success",
            start=w.start_ns,
            end=end,
            length=(end - w.start_ns) / NS,
            **self._facts(notice),
        )

    async def due(self) -> None:
        """Tell the flap windows that ran out."""
        for summary in self.folder.due(self.messages.clock()):
            await self.summary(summary)

    async def flush(self) -> None:
        """At shutdown: every folded window is told."""
        for summary in self.folder.flush(self.messages.clock()):
            await self.summary(summary)

    async def summary(self, summary: Summary) -> None:
        """What a degraded flap window folded."""
        now = self.messages.clock()
        provider, provider_id, target = self._names.get(summary.subject, ("", "", summary.subject))
        spans = [((o.end_ns if o.end_ns is not None else now) - o.start_ns) / NS for o in summary.outages]
        still = summary.still_open
        await self.messages.queue(
            "degraded_flap",
            f"degraded-flap/{summary.subject}/{summary.window_start_ns}",
            "outage",
            "warning",
            provider=provider,
            provider_id=provider_id,
            target=target,
            limit=summary.subject.rpartition("#")[2],
            count=len(summary.outages),
            window_start=summary.window_start_ns,
            window_end=summary.window_end_ns,
            degraded=sum(spans),
            still=still.start_ns if still is not None else None,
        )
