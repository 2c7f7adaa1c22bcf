"""Provider outage messages: opened, closed with the SLA standing, folded flaps, SLA breach, restore overdue."""

from __future__ import annotations

from typing import Any

from watchdog.agent.sinks import OutageNotice
from watchdog.analysis.restore import first_report
from watchdog.analysis.sla import Period, service_intervals
from watchdog.config import Config, ProviderSection
from watchdog.model import NS, Attribution, FailureKind, Outage, Target
from watchdog.notify.facts import ProviderStanding, Snapshot
from watchdog.notify.fold import FlapFolder, Summary
from watchdog.notify.line import LINE
from watchdog.notify.messages import Messages
from watchdog.notify.words import local_date
from watchdog.timefmt import to_ns

REACH_FAILURES = (FailureKind.CONNECT, FailureKind.TIMEOUT, FailureKind.RESOLVE)
RESTORE_STEPS_S = (3600.0, 86400.0)  # restore-deadline reminders: 1 h and 24 h before it (the tightest reached)


class OutageMessages:
    """What the customer hears about a provider's outages and the SLA they count against."""

    def __init__(self, messages: Messages, folder: FlapFolder, targets: dict[str, Target]) -> None:
        self.messages = messages
        self.config: Config = messages.config
        self.folder = folder
        self.targets = targets

    def provider(self, target: Target) -> ProviderSection:
        """The provider section a target belongs to."""
        return self.config.provider(target.provider or "")

    @staticmethod
    def _outage_ref(outage: Outage) -> str:
        # the journal seq of the opening; while the journal fails there is none yet
        return str(outage.id) if outage.id >= 0 else f"{outage.target}@{outage.start_ns}"

    async def opened(self, notice: OutageNotice) -> None:
        """A provider target's outage opened (unless the flap folder holds it back)."""
        outage, target, line = notice.outage, notice.target, notice.line
        now = self.messages.clock()
        if not self.folder.opened(target.key, outage.id, outage.start_ns, now):
            return
        provider = self.provider(target)
        restore = provider.sla.restore_within
        names = {t.key: t.name for t in self.config.targets}
        await self.messages.queue(
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
            line_ok=line.internet_ok,
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

    async def closed(self, notice: OutageNotice) -> None:
        """A provider target's outage closed: its length, how it was attributed, the standing now."""
        outage, target = notice.outage, notice.target
        end = outage.end_ns or self.messages.clock()
        if not self.folder.closed(target.key, outage.id, end):
            return
        provider = self.provider(target)
        # the standing as of this outage's end, not of the moment its recovery was confirmed: another target
        # of the provider that came back too but is not confirmed yet would otherwise count as down until now,
        # and "10 s" of outage read "11 s" so far this month where the report says 10 s (issue 15)
        snap = await self.messages.snapshot(as_of_ns=end)
        by = None
        standing = None
        if snap is not None:
            seconds = snap.by_outage.get(outage.id)
            if seconds is not None:
                # a part that rounds to 0 s is not said at all ("0 s unclear" tells nothing)
                by = {a.value: s if (s := seconds.get(a, 0.0)) >= 0.5 else 0.0 for a in Attribution}
            standing = snap.standings.get(provider.id)
        await self.messages.queue(
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
            await self.check_breach(provider, standing)

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

    async def check_breach(self, provider: ProviderSection, standing: ProviderStanding) -> None:
        """Once per provider and period: the downtime went past what the SLA allows."""
        if not standing.breached or standing.allowed_s is None:
            return
        key = f"sla-breach/{provider.id}/{standing.period_name}"
        if not await self.messages.new(key):
            return
        await self.messages.queue(
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

    async def check_restore(self, snap: Snapshot) -> None:
        """Reminders of each open incident's restore deadline: 24 h and 1 h before it, then once a day past it.

        The deadline runs from the customer's first fault report of the incident in the contact log, else from
        its start (the message says which): it is the incident's own deadline in the snapshot's SLA figures, so
        the report of the period states the same one (watchdog.analysis.restore). Where the contract names no
        restore time, the one the provider promised on a logged contact is counted with, as in the letter. Each
        reminder has a stable key, so a restart does not send it again; a report logged later moves the deadline,
        and the reminders of the new deadline go out under keys of their own.
        """
        for provider in self.config.providers:
            standing = snap.standings.get(provider.id)
            term = None if standing is None else standing.figures.restore_term
            if standing is None or term is None:
                continue
            promise = term.within_s
            contacts = snap.contacts.get(provider.id, ())
            for incident in standing.open_incidents():
                # the deadline the report states for this incident (computed with the same contact log)
                deadline = incident.restore
                if deadline is None:
                    continue
                report = first_report(contacts, incident.start_ns, snap.now_ns)
                late_s = deadline.late_s(snap.now_ns)
                facts: dict[str, Any] = {
                    "provider": provider.display_name,
                    "provider_id": provider.id,
                    "promise": promise,
                    "since": incident.start_ns,
                    "down": incident.duration_s,
                    "report": deadline.report_ns,
                    "report_ref": report.ref.lstrip("№").strip() if report is not None else "",
                    "due": deadline.due_ns,
                    "length": (snap.now_ns - deadline.from_ns) / NS,
                    "emergency": provider.contacts.emergency_phone or provider.contacts.support_phone,
                }
                base = f"{provider.id}/{incident.start_ns}"
                if late_s < 0:
                    step = next((s for s in RESTORE_STEPS_S if -late_s <= s < promise), None)
                    if step is None:
                        continue
                    key = f"restore-due/{base}/{deadline.from_ns}/{round(step / 3600)}h"
                    if await self.messages.new(key):
                        await self.messages.queue(
                            "restore_due", key, "sla", "warning", step=step, left=-late_s, **facts
                        )
                    continue
                day = int(late_s // 86400)  # one reminder per day past the deadline
                # from the start: the key of earlier versions, so an upgrade does not repeat a reminder
                key = (
                    f"restore/{base}/{day}"
                    if deadline.report_ns is None
                    else f"restore/{base}/r{deadline.report_ns}/{day}"
                )
                if not await self.messages.new(key):
                    continue
                await self.messages.queue(
                    "restore_exceeded",
                    key,
                    "sla",
                    "failure",
                    late=late_s,
                    attributed=incident.downtime_s,
                    period=standing.period_name,
                    **facts,
                )

    async def summary(self, summary: Summary) -> None:
        """What a flap window folded, for a provider target or for the customer's line."""
        now = self.messages.clock()
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
            await self.messages.queue("line_flap", key, "line", "warning", **facts)
            return
        target = self.targets[summary.subject]
        provider = self.provider(target)
        # flaps during which the customer's own line was down are said to be the line's, not the provider's
        line_s = provider_s = 0.0
        snap = await self.messages.snapshot()
        if snap is not None:
            for o in summary.outages:
                seconds = snap.by_outage.get(o.outage_id, {})
                line_s += seconds.get(Attribution.CUSTOMER_LINE, 0.0)
                provider_s += seconds.get(Attribution.PROVIDER, 0.0)
        facts["line_down"] = line_s if line_s >= 0.5 else 0.0
        facts["line_only"] = line_s >= 0.5 and provider_s < 0.5
        await self.messages.queue(
            "flap_summary",
            key,
            "outage",
            "warning",
            provider=provider.display_name,
            provider_id=provider.id,
            target=target.name,
            **facts,
        )
