"""Facts for messages, read from the journal the way reports read them (analysis + SLA), off the loop.

Everything here runs in a worker thread on its own read-only connection, so the agent's writer and
event loop are never held up by a month of outages being attributed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from watchdog.analysis.attribution import intersect, total
from watchdog.analysis.outages import analyse
from watchdog.analysis.restore import log_since
from watchdog.analysis.sla import (
    Incident,
    Period,
    SlaFigures,
    compute,
    current_period,
    maintenance_intervals,
    service_intervals,
)
from watchdog.config import Config, ProviderSection
from watchdog.journal.balance import Balance, latest_balances
from watchdog.journal.contacts import Contact, list_contacts
from watchdog.journal.readers import Event, Head
from watchdog.journal.store import Journal
from watchdog.model import NS, Attribution

EV_DEADLINE = "deadline"  # a declared answer deadline (see watchdog.notify.deadlines)


@dataclass(frozen=True, slots=True)
class ProviderStanding:
    """Where a provider stands in its current SLA period, as of ``now``."""

    provider: str
    period: Period
    period_name: str  # for people: "2026-11"
    figures: SlaFigures
    allowed_s: float | None  # downtime the promise allows over the WHOLE period (service hours, maintenance out)

    @property
    def downtime_s(self) -> float:
        """Provider downtime so far in the period."""
        return self.figures.downtime_s

    @property
    def breached(self) -> bool:
        """The downtime so far already exceeds what the whole period allows: the breach is certain."""
        return self.allowed_s is not None and self.downtime_s > self.allowed_s

    def open_incidents(self) -> list[Incident]:
        """Incidents still going on."""
        return [i for i in self.figures.incidents if i.end_ns is None]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Per-provider standings, each outage's time by attribution, and the journal's chain head."""

    now_ns: int
    standings: dict[str, ProviderStanding]
    by_outage: dict[int, dict[Attribution, float]]  # outage id → seconds per attribution
    head: Head | None
    deadlines: tuple[Event, ...]
    # the contact log of each provider from its period's start or an earlier incident's: fault reports start deadlines
    contacts: dict[str, tuple[Contact, ...]] = field(default_factory=dict)


def allowed_downtime_s(provider: ProviderSection, period: Period, zone: ZoneInfo) -> float | None:
    """What the availability promise allows over the whole period: service time minus excluded maintenance."""
    if provider.sla.availability is None:
        return None
    service = service_intervals(provider.hours, period, zone)
    maintenance = intersect(maintenance_intervals(provider, zone), service)
    counted = (total(service) - total(maintenance)) / NS
    return counted * (100.0 - provider.sla.availability) / 100.0


def snapshot(config: Config, path: Path, now_ns: int, *, with_deadlines: bool = False) -> Snapshot:
    """Read the journal once and work out every provider's standing (call it in a thread)."""
    with Journal.open(path, create=False, readonly=True) as journal:
        periods = {}
        for provider in config.providers:
            zone = config.provider_zone(provider.id)
            periods[provider.id] = (current_period(provider.sla.period, now_ns, zone), zone)
        since = min((p.start_ns for p, _ in periods.values()), default=now_ns)
        analysis = analyse(
            journal,
            provider_kinds={p.id: p.kind for p in config.providers},
            quorum=config.quorum,
            since_ns=since,
            now_ns=now_ns,
        )
        # the contact log as the report reads it (watchdog.analysis.restore.log_since): each incident's restore
        # deadline runs from the first fault report in it, even one logged before the period began
        log_from = {
            p.id: log_since(periods[p.id][0].start_ns, (a.outage.start_ns for a in analysis.for_provider(p.id)))
            for p in config.providers
        }
        log = list_contacts(journal, since_ns=min(log_from.values(), default=now_ns))
        standings = {}
        contacts: dict[str, tuple[Contact, ...]] = {}
        for provider in config.providers:
            period, zone = periods[provider.id]
            logged = tuple(c for c in log if c.provider == provider.id and c.at_ns >= log_from[provider.id])
            figures = compute(analysis, provider, period, zone, logged)
            standings[provider.id] = ProviderStanding(
                provider.id, period, period.label, figures, allowed_downtime_s(provider, period, zone)
            )
            if logged:
                contacts[provider.id] = logged
        by_outage = {
            a.outage.id: {k: v / NS for k, v in a.time_by_attribution().items()}
            for a in analysis.outages
            if a.outage.id >= 0
        }
        deadlines = tuple(journal.events([EV_DEADLINE])) if with_deadlines else ()
        return Snapshot(now_ns, standings, by_outage, journal.head(), deadlines, contacts)


def period_start_date(period: Period, zone: ZoneInfo) -> dt.date:
    """The first local day of a period."""
    return dt.datetime.fromtimestamp(period.start_ns / NS, zone).date()


def balances(path: Path) -> dict[str, Balance]:
    """The latest balance reading of each provider in the journal (call it in a thread)."""
    with Journal.open(path, create=False, readonly=True) as journal:
        return latest_balances(journal)


def deadline_events(path: Path) -> tuple[Event, ...]:
    """The ``deadline`` events declared in the journal (call it in a thread)."""
    with Journal.open(path, create=False, readonly=True) as journal:
        return tuple(journal.events([EV_DEADLINE]))
