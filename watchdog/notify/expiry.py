"""Expiry warnings: TLS certificates running out, complaint answer deadlines and the reminders from the config."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math

from watchdog.analysis.balance import project
from watchdog.config import NotifySection
from watchdog.model import NS, Result, Target
from watchdog.notify.deadlines import Deadline, from_events, from_reminders
from watchdog.notify.facts import balances, deadline_events
from watchdog.notify.messages import Messages
from watchdog.notify.words import local_date
from watchdog.timefmt import to_datetime

_LOGGER = logging.getLogger(__name__)


class ExpiryWarnings:
    """Warns once per step (``tls_warn_days``, a deadline's reminder days) before something runs out."""

    def __init__(self, messages: Messages, section: NotifySection) -> None:
        self.messages = messages
        self.config = messages.config
        self.section = section

    async def check_certificate(self, target: Target, result: Result) -> None:
        """A TLS probe's result: warn when the certificate's days left reached a ``tls_warn_days`` step."""
        days_left = float(result.metrics["days_left"])
        if days_left < 0:
            return  # expired: the probe fails and the outage messages say so
        # the target's own min_days_left is a step too: below it the probe marks its results as a warning
        own = getattr(target.options, "min_days_left", None)
        steps = [d for d in (*self.section.tls_warn_days, *((own,) if isinstance(own, int) else ())) if days_left <= d]
        if not steps:
            return
        step = min(steps)
        not_after = round(float(result.metrics["not_after_ts"]) * NS)
        key = f"tls/{target.key}/{local_date(not_after, self.config.zone).isoformat()}/{step}d"
        if not await self.messages.new(key):
            return
        provider = self.config.provider(target.provider) if target.provider else None
        await self.messages.queue(
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

    async def check_deadlines(self) -> None:
        """The config's reminders and the deadlines declared in the journal: warn on the steps reached today."""
        today = local_date(self.messages.clock(), self.config.zone)
        deadlines: list[Deadline] = from_reminders(self.config.model.reminders, today)
        try:
            events = await asyncio.to_thread(deadline_events, self.config.journal_path)
        except Exception as exc:
            _LOGGER.warning("cannot read declared deadlines from the journal error=%s", exc)
            events = ()
        deadlines += from_events(events)
        await self.check_balances(today)
        for d in deadlines:
            step = d.step(today)
            if step is None:
                # its day passed while the agent was off: say so, late, once — for a reminder that was told
                # before (an earlier step or occurrence), not one just added to the config after its day
                step = d.missed(today)
                if step is not None and not await self.messages.outbox.has_prefix(d.prefix):
                    step = None
            if step is None:
                continue
            key = d.key(step)
            if not await self.messages.new(key):
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
                await self.messages.queue(
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
                await self.messages.queue(
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

    async def check_balances(self, today: dt.date) -> None:
        """Each prepaid account's last balance, projected at its tariff: warn ``warn_days`` before it runs out.

        A new, lower reading moves the run-out day closer and so warns afresh (the key holds the day); the
        last warning goes out at least a day before, while the line that carries it still works.
        """
        accounts = [p for p in self.config.providers if p.account is not None]
        if not accounts:
            return
        try:
            latest = await asyncio.to_thread(balances, self.config.journal_path)
        except Exception as exc:
            _LOGGER.warning("cannot read balances from the journal error=%s", exc)
            return
        for provider in accounts:
            account = provider.account
            reading = latest.get(provider.id)
            if account is None or reading is None or account.tariff is None:
                continue
            projection = project(reading, account, self.config.provider_zone(provider.id))
            d = Deadline(provider.id, projection.run_out, tuple(sorted(account.warn_days, reverse=True)), "balance")
            step = d.step(today)
            if step is None:
                continue
            key = d.key(step)
            if not await self.messages.new(key):
                continue
            contacts = provider.contacts
            await self.messages.queue(
                "balance_low",
                key,
                "expiry",
                "warning",
                provider=provider.display_name,
                provider_id=provider.id,
                amount=float(reading.amount),
                currency=reading.currency or account.currency,
                read=reading.at_ns,
                tariff=account.tariff,
                per=account.per,
                date=projection.run_out,
                days=(projection.run_out - today).days,
                support=contacts.support_phone or contacts.emergency_phone,
            )

    async def check_account_expiry(self, provider_id: str, target: Target, days_left: float) -> None:
        """A probe read how many days are left on the account (a card, a paid period): warn at ``warn_days``."""
        provider = self.config.provider(provider_id)
        account = provider.account
        if account is None or account.expiry_from is None:
            return
        now = self.messages.clock()
        today = local_date(now, self.config.zone)
        # the probe counted the days from today in UTC: back to the date it read, then from the local today
        date = to_datetime(now).date() + dt.timedelta(days=math.floor(days_left))
        metric = account.expiry_from.split(":", 1)[1]
        d = Deadline(f"{provider.id}-{metric}", date, tuple(sorted(account.warn_days, reverse=True)), "account")
        step = d.step(today)
        if step is None:
            return
        key = d.key(step)
        if not await self.messages.new(key):
            return
        contacts = provider.contacts
        await self.messages.queue(
            "account_expiry",
            key,
            "expiry",
            "warning",
            provider=provider.display_name,
            what=metric,
            target=target.name,
            date=date,
            days=(date - today).days,
            support=contacts.support_phone or contacts.emergency_phone,
        )
