"""The sink wired into ``watchdog run``: event intake, the agent's own alerts, the ticker, start and shutdown.

Flow: an event (an :class:`~watchdog.agent.sinks.OutageNotice`, an :class:`~watchdog.agent.sinks.AgentEvent`, a TLS
result, a tick of the clock) → facts → words from the catalog → a :class:`~watchdog.notify.outbox.Message`
with a stable key → one outbox row per channel (in the journal file, through the writer) → one delivery
loop per channel sends it through Apprise in its own thread, retrying with capped backoff until Apprise
reports success. Nothing is lost when the line or the service is down; the message arrives once they
are back, saying when it was written.

Who does what: :mod:`~watchdog.notify.messages` renders and queues (each key once),
:mod:`~watchdog.notify.outages` (provider outages, flaps, SLA breach, restore promise),
:mod:`~watchdog.notify.line` (the customer's line), :mod:`~watchdog.notify.expiry` (certificates, deadlines,
reminders) and :mod:`~watchdog.notify.digest` (the daily digest) decide what to say;
:mod:`~watchdog.notify.delivery` sends. This module holds the lifecycle, the event intake, the agent's own
alerts (journal, restart, InfluxDB exporter) and the ticker that drives the time-based checks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from watchdog.agent.detector import State
from watchdog.agent.sinks import AgentContext, AgentEvent, DegradedNotice, OutageNotice, Sink
from watchdog.model import NS, Result, Role, Target
from watchdog.notify.channels import Channels, SecretFilter, build_channels
from watchdog.notify.degraded import DegradedMessages
from watchdog.notify.delivery import Delivery
from watchdog.notify.digest import Digest
from watchdog.notify.expiry import ExpiryWarnings
from watchdog.notify.fold import FlapFolder
from watchdog.notify.line import LineWatch
from watchdog.notify.messages import Messages
from watchdog.notify.outages import OutageMessages
from watchdog.notify.outbox import Outbox
from watchdog.notify.words import Words

_LOGGER = logging.getLogger(__name__)

TICK_S = 5.0
SLA_CHECK_S = 300.0
DEADLINE_CHECK_S = 3600.0
SETTLE_S = 5.0  # at shutdown, how long delivery may still run for what is due
# the InfluxDB exporter (issue 5) raises these through AgentContext.publish: template, Apprise type
EXPORTER_EVENTS = {
    "influx_export_failing": ("influx_failing", "failure"),
    "influx_export_recovered": ("influx_recovered", "success"),
    "influx_auth_failed": ("influx_auth_failed", "failure"),
    "influx_destination_missing": ("influx_destination_missing", "failure"),
    "influx_dead_letters": ("influx_dead_letters", "warning"),
}


def notify_sink(ctx: AgentContext) -> NotifySink | None:
    """The sink factory for ``watchdog run``: a notifier when the config names at least one URL."""
    if not ctx.config.model.notify.all_channels():
        return None
    return NotifySink(ctx)


class NotifySink(Sink):
    """Notifications through Apprise, durable in the journal's outbox."""

    name = "notify"

    def __init__(
        self,
        ctx: AgentContext,
        *,
        clock: Callable[[], int] = time.time_ns,
        tick_s: float = TICK_S,
        sla_check_s: float = SLA_CHECK_S,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.section = ctx.config.model.notify
        self.clock = clock
        self.tick_s = tick_s
        self.sla_check_s = sla_check_s
        self.settle_s = settle_s
        self.words = Words(self.section.language or self.config.agent.language, self.config.zone)
        self.targets: dict[str, Target] = {t.key: t for t in self.config.targets}
        self.outbox = Outbox(ctx.writer, clock)
        self.folder = FlapFolder(self.section.flap_window)
        self.channels: Channels | None = None
        self._filter: SecretFilter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._messages = Messages(self.config, self.words, self.outbox, clock)
        self._delivery = Delivery(self.section, self.outbox, clock)
        self._outages = OutageMessages(self._messages, self.folder, self.targets)
        self._degraded = DegradedMessages(self._messages, self.section.flap_window, ctx.board)
        self._line = LineWatch(self._messages, self.folder, ctx.board)
        self._expiry = ExpiryWarnings(self._messages, self.section)
        self._digest = Digest(self._messages, self.section, ctx.board)
        self._line_ok: bool | None = None
        self._last_sla_check = -math.inf
        self._last_deadline_check = -math.inf
        self._journal_failing_since: int | None = None
        self._expiry_targets = {  # target key -> (provider id, metric): days left on a card or paid period
            f"{p.id}/{p.account.expiry_from.split(':', 1)[0]}": (p.id, p.account.expiry_from.split(":", 1)[1])
            for p in self.config.providers
            if p.account is not None and p.account.expiry_from is not None
        }
        self._balance_targets = {
            f"{p.id}/{p.account.balance_from.split(':', 1)[0]}"
            for p in self.config.providers
            if p.account is not None and p.account.balance_from is not None
        }

    # ------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Load the channels and the outbox, then start one delivery loop per channel and the ticker."""
        self.channels = build_channels(self.section)
        self._messages.channels = self.channels
        for problem in self.channels.problems:
            _LOGGER.error("%s", problem)
        self._filter = SecretFilter(self.channels.secrets)
        self._filter.install()
        for ch in self.channels.channels:
            tags = ",".join(ch.tags)
            _LOGGER.info("notification channel ready channel=%s url=%s tags=%s", ch.name, ch.privacy_url, tags)
        for category, names in self.channels.routes.items():
            if not names:
                _LOGGER.warning("no notification channel takes this category category=%s", category)
        counts = await self.outbox.load([c.name for c in self.channels.channels])
        if sum(counts.values()):
            _LOGGER.info("undelivered notifications from earlier runs queued count=%d", sum(counts.values()))
        for ch in self.channels.channels:
            self._tasks.append(asyncio.create_task(self._delivery.deliver(ch), name=f"notify:{ch.name}"))
        self._tasks.append(asyncio.create_task(self._ticker(), name="notify:ticker"))

    async def aclose(self) -> None:
        """Tell what flap windows folded, write what the journal refused, give delivery a moment, stop."""
        for summary in self.folder.flush(self.clock()):
            await self._outages.summary(summary)
        await self._degraded.flush()
        await self.outbox.flush()
        await self._delivery.settle(self.channels, self.settle_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.outbox.flush()
        left = sum(len(v) for v in self.outbox.pending.values())
        if left:
            _LOGGER.info("notifications not yet delivered stay queued for the next run count=%d", left)
        if self.channels is not None:
            self.channels.close()
        if self._filter is not None:
            self._filter.remove()

    # ---------------------------------------------------------------------------------------- events

    async def on_outage(self, notice: OutageNotice) -> None:
        """A target's outage opened or closed."""
        if notice.target.role is Role.PROVIDER:
            if notice.event == "opened":
                await self._outages.opened(notice)
            else:
                await self._outages.closed(notice)
        else:
            await self._line.check(notice)

    async def on_degraded(self, notice: DegradedNotice) -> None:
        """A provider target's degraded window opened or closed (the customer's controls: not told)."""
        if notice.target.role is Role.PROVIDER:
            await self._degraded.on_notice(notice)

    async def on_agent(self, event: AgentEvent) -> None:
        """The journal failing or recovering; a start after an unclean stop; the InfluxDB exporter's alerts."""
        now = self.clock()
        if event.type == "journal_failing":
            self._journal_failing_since = now
            await self._messages.queue(
                "journal_failing",
                f"journal-failing/{now}",
                "agent",
                "failure",
                since=now,
                error=str(event.data.get("message", "")),
                ring=self.ctx.writer.ring_max,
            )
        elif event.type == "journal_recovered":
            since = self._journal_failing_since or now
            self._journal_failing_since = None
            await self.outbox.flush()
            await self._messages.queue(
                "journal_recovered", f"journal-recovered/{now}", "agent", "success", end=now, length=(now - since) / NS
            )
        elif event.type == "started":
            recovered = event.data.get("recovered")
            if recovered and recovered.get("last_ns"):
                start = int(recovered["last_ns"])
                await self._messages.queue(
                    "restarted",
                    f"restarted/{event.data.get('run', now)}",
                    "agent",
                    "warning",
                    start=start,
                    end=now,
                    length=(now - start) / NS,
                )
            await self._line.check(None)
        elif event.type in EXPORTER_EVENTS:
            template, notify_type = EXPORTER_EVENTS[event.type]
            d = event.data
            # only counts and statuses: an exporter's error text is not ours to forward
            await self._messages.queue(
                template,
                f"{event.type.replace('_', '-')}/{now}",
                "agent",
                notify_type,
                since=now,
                backlog=d.get("backlog_rows"),
                down=d.get("down_s"),
                status=d.get("status"),
                points=d.get("points", 0),
            )

    async def on_result(self, result: Result, seq: int | None) -> None:
        """Watch the customer's line (retry at once when it returns) and certificate expiry."""
        target = self.targets.get(result.target)
        if target is None:
            return
        controls = [s for s in self.ctx.board.targets.values() if s.target.is_control]
        # a reading of the line needs every control to have answered once; the last answers decide (not
        # the hysteresis): this only says "try sending now", so the first good probe is reason enough
        if target.is_control and all(s.last is not None for s in controls):
            lan = [s.last.ok for s in controls if s.target.role is Role.LAN and s.last is not None]
            net = [s.last.ok for s in controls if s.target.role is Role.INTERNET and s.last is not None]
            ok = all(lan) and (not net or sum(net) >= self.config.quorum)
            if ok and self._line_ok is False:
                _LOGGER.info("line is back, retrying queued notifications now")
                self._delivery.retry_all_now(self.channels)
            self._line_ok = ok
        if target.role is Role.LAN and self._line.episode is None:
            await self._line.check(None)  # a pending "internet down" reading waits for the LAN's answer
        if "days_left" in result.metrics and "not_after_ts" in result.metrics:
            await self._expiry.check_certificate(target, result)
        if result.target in self._balance_targets:
            self._last_deadline_check = -math.inf  # a balance may have moved its run-out day: check at the next tick
        expiry = self._expiry_targets.get(result.target)
        if expiry is not None and expiry[1] in result.metrics:
            await self._expiry.check_account_expiry(expiry[0], target, float(result.metrics[expiry[1]]))

    # ------------------------------------------------------------------------------------------ ticker

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self.tick(loop.time())
            except Exception:
                _LOGGER.exception("notification checks failed (retried next tick)")
            await asyncio.sleep(self.tick_s)

    async def tick(self, mono: float) -> None:
        """One round of the time-driven checks: flap windows, the outbox, digest, deadlines, SLA, restore."""
        for summary in self.folder.due(self.clock()):
            await self._outages.summary(summary)
        await self._degraded.due()
        await self.outbox.flush()
        await self._digest.check()
        if mono - self._last_deadline_check >= DEADLINE_CHECK_S:
            self._last_deadline_check = mono
            await self._expiry.check_deadlines()
        if mono - self._last_sla_check >= self.sla_check_s and self._anything_down():
            self._last_sla_check = mono
            snap = await self._messages.snapshot()
            if snap is not None:
                for provider in self.config.providers:
                    standing = snap.standings.get(provider.id)
                    if standing is not None:
                        await self._outages.check_breach(provider, standing)
                await self._outages.check_restore(snap)

    def _anything_down(self) -> bool:
        if self._line.episode is not None:
            return True
        return any(s.state is State.DOWN for s in self.ctx.board.targets.values() if s.target.role is Role.PROVIDER)
