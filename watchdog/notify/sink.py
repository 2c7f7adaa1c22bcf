"""The notifier: turns outages, line failures, SLA standing and deadlines into messages, and delivers them.

Flow: an event (an :class:`~watchdog.agent.sinks.OutageNotice`, an :class:`~watchdog.agent.sinks.AgentEvent`, a TLS
result, a tick of the clock) → facts → words from the catalog → a :class:`~watchdog.notify.outbox.Message`
with a stable key → one outbox row per channel (in the journal file, through the writer) → one delivery
loop per channel sends it through Apprise in its own thread, retrying with capped backoff until Apprise
reports success. Nothing is lost when the line or the service is down; the message arrives once they
are back, saying when it was written.

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
import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from watchdog.agent.detector import State
from watchdog.agent.sinks import AgentContext, AgentEvent, OutageNotice, Sink
from watchdog.analysis.sla import Period, service_intervals
from watchdog.config import ProviderSection
from watchdog.model import NS, Attribution, FailureKind, Outage, Result, Role, Target
from watchdog.notify.channels import Attempt, Channel, Channels, SecretFilter, build_channels
from watchdog.notify.deadlines import Deadline, from_events, from_reminders
from watchdog.notify.facts import ProviderStanding, Snapshot, deadline_events, snapshot
from watchdog.notify.fold import FlapFolder, Summary
from watchdog.notify.outbox import Entry, Message, Outbox
from watchdog.notify.words import Words, local_date
from watchdog.timefmt import to_ns

_LOGGER = logging.getLogger(__name__)

TICK_S = 5.0
SLA_CHECK_S = 300.0
DEADLINE_CHECK_S = 3600.0
SETTLE_S = 5.0  # at shutdown, how long delivery may still run for what is due
REACH_FAILURES = (FailureKind.CONNECT, FailureKind.TIMEOUT, FailureKind.RESOLVE)
LINE = "line"
# the InfluxDB exporter (issue 5) raises these through AgentContext.publish: template, Apprise type
EXPORTER_EVENTS = {
    "influx_export_failing": ("influx_failing", "failure"),
    "influx_export_recovered": ("influx_recovered", "success"),
    "influx_auth_failed": ("influx_auth_failed", "failure"),
    "influx_destination_missing": ("influx_destination_missing", "failure"),
    "influx_dead_letters": ("influx_dead_letters", "warning"),
}


@dataclasses.dataclass
class _LineEpisode:
    outage_id: int
    start_ns: int
    isp: bool


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
        self._line: _LineEpisode | None = None
        self._line_ok: bool | None = None
        self._seen: set[str] = set()  # keys queued or found queued this run
        self._digest_day: dt.date | None = None
        self._last_sla_check = -math.inf
        self._last_deadline_check = -math.inf
        self._journal_failing_since: int | None = None
        self._progress = asyncio.Event()  # set after every attempt (shutdown waits on it)

    # ------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Load the channels and the outbox, then start one delivery loop per channel and the ticker."""
        self.channels = build_channels(self.section)
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
            self._tasks.append(asyncio.create_task(self._deliver(ch), name=f"notify:{ch.name}"))
        self._tasks.append(asyncio.create_task(self._ticker(), name="notify:ticker"))

    async def aclose(self) -> None:
        """Tell what flap windows folded, write what the journal refused, give delivery a moment, stop."""
        for summary in self.folder.flush(self.clock()):
            await self._queue_summary(summary)
        await self.outbox.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_s
        while self._anything_due(loop.time()) and (left := deadline - loop.time()) > 0:
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), left)
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
                await self._provider_opened(notice)
            else:
                await self._provider_closed(notice)
        else:
            await self._check_line(notice)

    async def on_agent(self, event: AgentEvent) -> None:
        """The journal failing or recovering; a start after an unclean stop; the InfluxDB exporter's alerts."""
        now = self.clock()
        if event.type == "journal_failing":
            self._journal_failing_since = now
            await self._queue(
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
            await self._queue(
                "journal_recovered", f"journal-recovered/{now}", "agent", "success", end=now, length=(now - since) / NS
            )
        elif event.type == "started":
            recovered = event.data.get("recovered")
            if recovered and recovered.get("last_ns"):
                start = int(recovered["last_ns"])
                await self._queue(
                    "restarted",
                    f"restarted/{event.data.get('run', now)}",
                    "agent",
                    "warning",
                    start=start,
                    end=now,
                    length=(now - start) / NS,
                )
            await self._check_line(None)
        elif event.type in EXPORTER_EVENTS:
            template, notify_type = EXPORTER_EVENTS[event.type]
            d = event.data
            # only counts and statuses: an exporter's error text is not ours to forward
            await self._queue(
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
                self._retry_all_now()
            self._line_ok = ok
        if target.role is Role.LAN and self._line is None:
            await self._check_line(None)  # a pending "internet down" reading waits for the LAN's answer
        if "days_left" in result.metrics and "not_after_ts" in result.metrics:
            await self._check_certificate(target, result)

    # ------------------------------------------------------------------------------- provider outages

    def _provider(self, target: Target) -> ProviderSection:
        return self.config.provider(target.provider or "")

    @staticmethod
    def _outage_ref(outage: Outage) -> str:
        # the journal seq of the opening; while the journal fails there is none yet
        return str(outage.id) if outage.id >= 0 else f"{outage.target}@{outage.start_ns}"

    async def _provider_opened(self, notice: OutageNotice) -> None:
        outage, target, line = notice.outage, notice.target, notice.line
        now = self.clock()
        if not self.folder.opened(target.key, outage.id, outage.start_ns, now):
            return
        provider = self._provider(target)
        restore = provider.sla.restore_within
        names = {t.key: t.name for t in self.config.targets}
        await self._queue(
            "outage_opened",
            f"outage-open/{self._outage_ref(outage)}",
            "outage",
            "failure",
            provider=provider.display_name,
            provider_id=provider.id,
            kind=provider.kind.value,
            target=target.name,
            reach=outage.failure in REACH_FAILURES or outage.failure is None,
            since=outage.start_ns,
            age=(now - outage.start_ns) / NS,
            verdict=line.verdict(provider.kind).value,
            up=line.controls_up,
            total=line.controls_total,
            lan_up=line.lan_up,
            lan_total=line.lan_total,
            net_up=line.internet_up,
            net_total=line.internet_total,
            quorum=line.quorum,
            failing=[names.get(k, k) for k in line.failing],
            detail=outage.detail,
            maintenance=self._maintenance_at(provider, outage.start_ns),
            off_hours=not self._in_service_hours(provider, outage.start_ns),
            restore=restore,
            restore_by=None if restore is None else outage.start_ns + round(restore * NS),
            emergency=provider.contacts.emergency_phone or provider.contacts.support_phone,
        )

    def _maintenance_at(self, provider: ProviderSection, ts_ns: int) -> dict[str, Any] | None:
        """The announced maintenance window (provider's zone) that ``ts_ns`` falls in, if any."""
        zone = self.config.provider_zone(provider.id)
        for window in provider.maintenance:
            start = to_ns(window.from_ if window.from_.tzinfo else window.from_.replace(tzinfo=zone))
            end = to_ns(window.to if window.to.tzinfo else window.to.replace(tzinfo=zone))
            if start <= ts_ns < end:
                return {"start": start, "end": end, "note": window.note, "excluded": window.excluded}
        return None

    def _in_service_hours(self, provider: ProviderSection, ts_ns: int) -> bool:
        """True when the SLA applies at ``ts_ns`` (always, without service hours)."""
        if not provider.hours:
            return True
        zone = self.config.provider_zone(provider.id)
        day = local_date(ts_ns, zone)
        around = Period("day", ts_ns - 2 * 86400 * NS, ts_ns + 2 * 86400 * NS, str(day))
        return any(a <= ts_ns < b for a, b in service_intervals(provider.hours, around, zone))

    async def _provider_closed(self, notice: OutageNotice) -> None:
        outage, target = notice.outage, notice.target
        end = outage.end_ns or self.clock()
        if not self.folder.closed(target.key, outage.id, end):
            return
        provider = self._provider(target)
        snap = await self._snapshot()
        by = None
        standing = None
        if snap is not None:
            seconds = snap.by_outage.get(outage.id)
            if seconds is not None:
                by = {a.value: seconds.get(a, 0.0) for a in Attribution}
            standing = snap.standings.get(provider.id)
        await self._queue(
            "outage_closed",
            f"outage-close/{self._outage_ref(outage)}",
            "outage",
            "success",
            provider=provider.display_name,
            provider_id=provider.id,
            target=target.name,
            start=outage.start_ns,
            end=end,
            length=(end - outage.start_ns) / NS,
            by=by,
            st=None if standing is None else self._standing_facts(provider, standing),
        )
        if standing is not None:
            await self._check_breach(provider, standing)

    def _standing_facts(self, provider: ProviderSection, standing: ProviderStanding) -> dict[str, Any]:
        return {
            "kind": provider.sla.period,
            "period": standing.period_name,
            "downtime": standing.downtime_s,
            "availability": standing.figures.availability,
            "measured": standing.figures.counted_s,
            "allowed": standing.allowed_s,
            "target": provider.sla.availability,
            "breached": standing.breached,
        }

    async def _check_breach(self, provider: ProviderSection, standing: ProviderStanding) -> None:
        if not standing.breached or standing.allowed_s is None:
            return
        key = f"sla-breach/{provider.id}/{standing.period_name}"
        if not await self._new(key):
            return
        await self._queue(
            "sla_breach",
            key,
            "sla",
            "failure",
            provider=provider.display_name,
            provider_id=provider.id,
            period=standing.period_name,
            kind=provider.sla.period,
            downtime=standing.downtime_s,
            allowed=standing.allowed_s,
            target=provider.sla.availability,
            availability=standing.figures.availability,
            measured=standing.figures.counted_s,
        )

    async def _check_restore(self, snap: Snapshot) -> None:
        for provider in self.config.providers:
            promise = provider.sla.restore_within
            standing = snap.standings.get(provider.id)
            if promise is None or standing is None:
                continue
            for incident in standing.open_incidents():
                if incident.duration_s <= promise:
                    continue
                day = int((incident.duration_s - promise) // 86400)  # one reminder per day past the promise
                key = f"restore/{provider.id}/{incident.start_ns}/{day}"
                if not await self._new(key):
                    continue
                await self._queue(
                    "restore_exceeded",
                    key,
                    "sla",
                    "failure",
                    provider=provider.display_name,
                    provider_id=provider.id,
                    promise=promise,
                    length=incident.duration_s,
                    since=incident.start_ns,
                    attributed=incident.downtime_s,
                    period=standing.period_name,
                    emergency=provider.contacts.emergency_phone or provider.contacts.support_phone,
                )

    # -------------------------------------------------------------------------------- customer's line

    async def _check_line(self, notice: OutageNotice | None) -> None:
        """The line is down while a LAN control is down or so many internet controls are that quorum is lost."""
        board = self.ctx.board
        lan = [s for s in board.targets.values() if s.target.role is Role.LAN]
        net = [s for s in board.targets.values() if s.target.role is Role.INTERNET]
        lan_down = [s for s in lan if s.state is State.DOWN]
        net_down = [s for s in net if s.state is State.DOWN]
        quorum = self.config.quorum
        lost = bool(net) and len(net_down) > len(net) - quorum
        down = bool(lan_down) or lost
        now = self.clock()
        isp = next((p for p in self.config.providers if p.kind.value == "isp"), None)
        if down and self._line is None:
            outages = [s.outage for s in lan_down + net_down if s.outage is not None]
            if not outages:
                return
            first = min(outages, key=lambda o: (o.start_ns, o.id))
            if not lan_down and lan:
                # Blame the ISP only once every LAN control has answered *after* the trouble began: when the
                # whole line drops at once, the router may simply not have been probed yet (its hysteresis
                # lags). Until then wait; the next LAN result calls this again.
                since = [s.last for s in lan if s.last is not None and s.last.ts_ns >= first.start_ns]
                if len(since) < len(lan) or not all(r.ok for r in since):
                    return
            as_isp = isp is not None and not lan_down
            self._line = _LineEpisode(first.id, first.start_ns, as_isp)
            if not self.folder.opened(LINE, first.id, first.start_ns, now):
                return
            await self._queue(
                "line_down",
                f"line-down/{first.id}",
                "line",
                "failure",
                isp=isp.display_name if as_isp and isp else None,
                lan_down=bool(lan_down),
                since=first.start_ns,
                age=(now - first.start_ns) / NS,
                failing_lan=[s.target.name for s in lan_down],
                failing_net=[s.target.name for s in net_down],
                net_down=len(net_down),
                net_total=len(net),
                quorum=quorum,
                emergency=(isp.contacts.emergency_phone or isp.contacts.support_phone) if as_isp and isp else "",
            )
        elif not down and self._line is not None:
            episode, self._line = self._line, None
            end = notice.outage.end_ns if notice is not None and notice.outage.end_ns else now
            if not self.folder.closed(LINE, episode.outage_id, end):
                return
            await self._queue(
                "line_up",
                f"line-up/{episode.outage_id}",
                "line",
                "success",
                isp=isp.display_name if episode.isp and isp else None,
                start=episode.start_ns,
                end=end,
                length=(end - episode.start_ns) / NS,
            )

    # --------------------------------------------------------------------------------- expiry warnings

    async def _check_certificate(self, target: Target, result: Result) -> None:
        days_left = float(result.metrics["days_left"])
        if days_left < 0:
            return  # expired: the probe fails and the outage messages say so
        steps = [d for d in self.section.tls_warn_days if days_left <= d]
        if not steps:
            return
        step = min(steps)
        not_after = round(float(result.metrics["not_after_ts"]) * NS)
        key = f"tls/{target.key}/{local_date(not_after, self.config.zone).isoformat()}/{step}d"
        if not await self._new(key):
            return
        provider = self.config.provider(target.provider) if target.provider else None
        await self._queue(
            "tls_expiring",
            key,
            "expiry",
            "warning",
            provider=provider.display_name if provider else None,
            target=target.name,
            address=target.address,
            not_after=not_after,
            days=math.floor(days_left),
            support=(provider.contacts.support_phone or provider.contacts.emergency_phone) if provider else "",
        )

    async def _check_deadlines(self) -> None:
        deadlines: list[Deadline] = from_reminders(self.config.model.reminders)
        try:
            events = await asyncio.to_thread(deadline_events, self.config.journal_path)
        except Exception as exc:
            _LOGGER.warning("cannot read declared deadlines from the journal error=%s", exc)
            events = ()
        deadlines += from_events(events)
        today = local_date(self.clock(), self.config.zone)
        for d in deadlines:
            step = d.step(today)
            if step is None:
                continue
            key = d.key(step)
            if not await self._new(key):
                continue
            provider = None
            if d.provider:
                try:
                    provider = self.config.provider(d.provider)
                except KeyError:
                    _LOGGER.warning("deadline names an unknown provider deadline=%s provider=%s", d.name, d.provider)
            contacts = provider.contacts if provider else None
            days = (d.date - today).days
            if d.kind == "complaint_answer":
                await self._queue(
                    "complaint_deadline",
                    key,
                    "expiry",
                    "warning",
                    provider=provider.display_name if provider else (d.provider or d.name),
                    provider_id=provider.id if provider else (d.provider or ""),
                    complaint=d.ref,
                    sent=d.sent,
                    date=d.date,
                    days=days,
                    note=d.note,
                )
            else:
                await self._queue(
                    "reminder",
                    key,
                    "expiry",
                    "info" if days > 1 else "warning",
                    name=d.name,
                    date=d.date,
                    days=days,
                    note=d.note,
                    provider=provider.display_name if provider else None,
                    support=(contacts.support_phone or contacts.emergency_phone) if contacts else "",
                )

    # ------------------------------------------------------------------------------------ daily digest

    async def _check_digest(self) -> None:
        at = self.section.digest_at
        if at is None:
            return
        now = self.clock()
        local = self.words.local(now)
        if local.time() < at or self._digest_day == local.date():
            return
        self._digest_day = local.date()
        key = f"digest/{local.date().isoformat()}"
        if not await self._new(key):
            return
        snap = await self._snapshot()
        board = self.ctx.board
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
                "provider": self._provider(s.target).display_name,
                "target": s.target.name,
                "since": s.outage.start_ns,
                "age": (now - s.outage.start_ns) / NS,
            }
            for s in board.targets.values()
            if s.target.role is Role.PROVIDER and s.outage is not None and s.state is State.DOWN
        ]
        line = board.line()
        head = snap.head if snap else None
        await self._queue(
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
            await self._queue_summary(summary)
        await self.outbox.flush()
        await self._check_digest()
        if mono - self._last_deadline_check >= DEADLINE_CHECK_S:
            self._last_deadline_check = mono
            await self._check_deadlines()
        if mono - self._last_sla_check >= self.sla_check_s and self._anything_down():
            self._last_sla_check = mono
            snap = await self._snapshot()
            if snap is not None:
                for provider in self.config.providers:
                    standing = snap.standings.get(provider.id)
                    if standing is not None:
                        await self._check_breach(provider, standing)
                await self._check_restore(snap)

    def _anything_down(self) -> bool:
        if self._line is not None:
            return True
        return any(s.state is State.DOWN for s in self.ctx.board.targets.values() if s.target.role is Role.PROVIDER)

    async def _snapshot(self) -> Snapshot | None:
        now = self.clock()
        try:
            return await asyncio.to_thread(snapshot, self.config, self.config.journal_path, now)
        except Exception as exc:
            _LOGGER.warning("cannot read SLA figures from the journal, message goes without them error=%s", exc)
            return None

    async def _queue_summary(self, summary: Summary) -> None:
        now = self.clock()
        spans = [((o.end_ns if o.end_ns is not None else now) - o.start_ns) / NS for o in summary.outages]
        still = summary.still_open
        facts: dict[str, Any] = {
            "count": len(summary.outages),
            "window_start": summary.window_start_ns,
            "window_end": summary.window_end_ns,
            "down": sum(spans),
            "longest": max(spans),
            "windows": [{"start": o.start_ns, "end": o.end_ns} for o in summary.outages[:8]],
            "more": max(0, len(summary.outages) - 8),
            "still_down": still.start_ns if still is not None else None,
        }
        key = f"flap/{summary.subject}/{summary.window_start_ns}"
        if summary.subject == LINE:
            await self._queue("line_flap", key, "line", "warning", **facts)
            return
        target = self.targets[summary.subject]
        provider = self._provider(target)
        await self._queue(
            "flap_summary",
            key,
            "outage",
            "warning",
            provider=provider.display_name,
            provider_id=provider.id,
            target=target.name,
            **facts,
        )

    # ---------------------------------------------------------------------------------------- queueing

    async def _new(self, key: str) -> bool:
        """True when no message with this key was queued before (in this run or an earlier one)."""
        if key in self._seen:
            return False
        self._seen.add(key)
        return not await self.outbox.has(key)

    async def _queue(self, template: str, key: str, category: str, notify_type: str, /, **facts: Any) -> None:
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

    # ---------------------------------------------------------------------------------------- delivery

    def _backoff(self, n: int) -> float:
        return float(min(self.section.retry_max, self.section.retry_min * 2 ** max(0, n - 1)))

    def _retry_all_now(self) -> None:
        if self.channels is None:
            return
        for ch in self.channels.channels:
            ch.pause_until = 0.0
            for entry in self.outbox.pending.get(ch.name, []):
                entry.due_mono = 0.0
            ch.wake.set()

    def _anything_due(self, now: float) -> bool:
        if self.channels is None:
            return False
        return any(
            ch.pause_until <= now and any(e.due_mono <= now for e in self.outbox.pending.get(ch.name, []))
            for ch in self.channels.channels
        )

    async def _deliver(self, ch: Channel) -> None:
        loop = asyncio.get_running_loop()
        while True:
            ch.wake.clear()
            try:
                await self._round(ch)
            except Exception:
                _LOGGER.exception("notification delivery failed channel=%s (retried)", ch.name)
                ch.pause_until = loop.time() + self._backoff(1)
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
                ch.pause_until = loop.time() + self._backoff(ch.failed_rounds)
                return

    async def _attempt(self, ch: Channel, entry: Entry) -> bool:
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
        self._progress.set()
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
        backoff = self._backoff(entry.attempts)
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
