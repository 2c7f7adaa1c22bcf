"""SLA accounting: pure, time-based figures per provider and billing period.

Method (stated in every report so anyone can recompute it):

* the **period** is a calendar month, ISO week, quarter, year or a custom range, in the provider's
  time zone, through the tz database (never a fixed offset);
* **service time** = the period ∩ the service hours (all of it when none are set);
* **counted time** = service time − announced maintenance the contract excludes − time without data;
* **downtime** = the stretches of the provider's outages attributed ``provider`` that fall in counted
  time (a provider is down while any of its targets is down; outages crossing the period's edges are
  cut there);
* **availability** = 1 − downtime / counted time; ``inconclusive`` and ``customer_line`` time is
  shown apart and counted neither way; **coverage** = the share of the period (so far) with data;
* an **incident** is a connected stretch where any of the provider's targets was down; the promised
  ``restore_within`` runs from the customer's first fault report inside it (the contact log), else from its
  start (:mod:`watchdog.analysis.restore`, the deadline letters and reminders use); MTTR is the mean
  incident duration of incidents that had provider downtime;
* **degraded time** = the stretches of the provider's degraded windows (a quality limit crossed:
  latency, loss, jitter) attributed ``provider`` that fall in counted time, *minus any time the provider
  was down* (down wins); counted as downtime in availability only when ``sla.counts_degraded`` is set.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from watchdog.analysis.attribution import Interval, intersect, subtract, total, union
from watchdog.analysis.outages import Analysis
from watchdog.analysis.restore import Promising, RestoreDeadline, RestoreTerm, restore_deadline, restore_term
from watchdog.config import MaintenanceWindow, ProviderSection, ServiceHours
from watchdog.model import NS, AttributedOutage, Attribution
from watchdog.timefmt import to_ns


@dataclass(frozen=True, slots=True)
class Period:
    """A billing period: [start, end) in UTC ns, with its label and the zone it was cut in."""

    label: str
    start_ns: int
    end_ns: int
    zone: str

    @property
    def length_s(self) -> float:
        """Length in seconds."""
        return (self.end_ns - self.start_ns) / NS


def _local_midnight(day: dt.date, zone: ZoneInfo) -> int:
    return to_ns(dt.datetime.combine(day, dt.time(), tzinfo=zone))


def parse_period(label: str, zone: ZoneInfo) -> Period:
    """``2026-11`` (month), ``2026-W47`` (ISO week), ``2026-Q4``, ``2026``, ``2026-11-01..2026-11-15`` (days).

    A custom range includes both days. ValueError names the accepted forms.
    """
    text = label.strip()
    name = str(zone.key) if hasattr(zone, "key") else str(zone)
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"no month {month} in {label!r}")
        first = dt.date(year, month, 1)
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    elif m := re.fullmatch(r"(\d{4})-W(\d{2})", text):
        first = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        nxt = first + dt.timedelta(days=7)
    elif m := re.fullmatch(r"(\d{4})-Q([1-4])", text):
        year, q = int(m.group(1)), int(m.group(2))
        first = dt.date(year, 3 * q - 2, 1)
        nxt = dt.date(year + (q == 4), (3 * q) % 12 + 1, 1)
    elif m := re.fullmatch(r"(\d{4})", text):
        first, nxt = dt.date(int(text), 1, 1), dt.date(int(text) + 1, 1, 1)
    elif m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", text):
        first = dt.date.fromisoformat(m.group(1))
        nxt = dt.date.fromisoformat(m.group(2)) + dt.timedelta(days=1)
        if nxt <= first:
            raise ValueError(f"the range {label!r} ends before it starts")
    else:
        raise ValueError(
            f"cannot read period {label!r}: use 2026-11 (month), 2026-W47 (week), 2026-Q4, 2026, "
            "or 2026-11-01..2026-11-15"
        )
    return Period(text, _local_midnight(first, zone), _local_midnight(nxt, zone), name)


def current_period(kind: str, now_ns: int, zone: ZoneInfo) -> Period:
    """The billing period of ``kind`` (month, week, quarter, year) that contains ``now_ns``."""
    today = dt.datetime.fromtimestamp(now_ns / NS, zone).date()
    if kind == "month":
        label = f"{today.year:04d}-{today.month:02d}"
    elif kind == "week":
        iso = today.isocalendar()
        label = f"{iso.year:04d}-W{iso.week:02d}"
    elif kind == "quarter":
        label = f"{today.year:04d}-Q{(today.month - 1) // 3 + 1}"
    elif kind == "year":
        label = f"{today.year:04d}"
    else:
        raise ValueError(f"unknown period kind {kind!r}")
    return parse_period(label, zone)


def service_intervals(hours: Sequence[ServiceHours], period: Period, zone: ZoneInfo) -> list[Interval]:
    """The service-hour windows inside the period (the whole period when no hours are set)."""
    if not hours:
        return [(period.start_ns, period.end_ns)]
    first = dt.datetime.fromtimestamp(period.start_ns / NS, zone).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(period.end_ns / NS, zone).date()
    out: list[Interval] = []
    day = first
    while day <= last:
        for window in hours:
            if day.weekday() not in window.weekdays:
                continue
            start = to_ns(dt.datetime.combine(day, window.from_, tzinfo=zone))
            if window.to == dt.time.max:
                end = _local_midnight(day + dt.timedelta(days=1), zone)
            elif window.to <= window.from_:
                end = to_ns(dt.datetime.combine(day + dt.timedelta(days=1), window.to, tzinfo=zone))
            else:
                end = to_ns(dt.datetime.combine(day, window.to, tzinfo=zone))
            out.append((start, end))
        day += dt.timedelta(days=1)
    return intersect(union(out), [(period.start_ns, period.end_ns)])


def window_interval(window: MaintenanceWindow, zone: ZoneInfo) -> Interval:
    """One maintenance window (local times in the provider's zone unless an offset is given) in UTC ns."""
    start, end = window.from_, window.to
    start = start if start.tzinfo else start.replace(tzinfo=zone)
    end = end if end.tzinfo else end.replace(tzinfo=zone)
    return to_ns(start), to_ns(end)


def maintenance_intervals(provider: ProviderSection, zone: ZoneInfo, *, excluded_only: bool = True) -> list[Interval]:
    """Announced maintenance windows (local times in the provider's zone) as UTC intervals."""
    return union(window_interval(w, zone) for w in provider.maintenance if w.excluded or not excluded_only)


@dataclass(frozen=True, slots=True)
class Incident:
    """A connected stretch where any of the provider's targets was down."""

    start_ns: int
    end_ns: int | None  # None while still open
    targets: tuple[str, ...]
    downtime_s: float  # counted provider downtime inside the period
    inconclusive_s: float
    customer_line_s: float
    no_data_s: float
    duration_s: float  # start → end (or now), wall clock
    restore_excess_s: float | None  # time past its restore deadline (``restore``; None when no promise)
    attribution: Attribution  # what covers most of it
    outages: tuple[AttributedOutage, ...] = field(default=(), repr=False)
    restore: RestoreDeadline | None = None  # from the first fault report, else the start (None: no promise)


@dataclass(frozen=True)
class SlaFigures:
    """Everything a report states about one provider and one period."""

    provider: str
    period: Period
    now_ns: int
    service_s: float
    maintenance_s: float
    no_data_s: float
    counted_s: float
    downtime_s: float
    inconclusive_s: float
    customer_line_s: float
    availability: float | None  # percent; None when nothing was counted
    coverage: float  # share of the period with data, 0..1
    incidents: tuple[Incident, ...]
    target: float | None  # the SLA's availability promise, percent
    breached: bool | None  # None when there is no promise or nothing was counted
    restore_within_s: float | None  # the restore time the deadlines count with (the contract's, else a promise)
    degraded_s: float = 0.0  # provider-attributed degraded time in counted time, outside any downtime
    degraded_inconclusive_s: float = 0.0
    degraded_customer_line_s: float = 0.0
    counts_degraded: bool = False  # sla.counts_degraded: degraded time is in ``availability``
    degraded: tuple[AttributedOutage, ...] = field(default=(), repr=False)  # the windows overlapping the period
    restore_term: RestoreTerm | None = None  # where restore_within_s comes from: the contract or a logged promise

    @property
    def counted_incidents(self) -> list[Incident]:
        """Incidents with provider downtime inside counted time."""
        return [i for i in self.incidents if i.downtime_s > 0]

    @property
    def past_restore(self) -> list[Incident]:
        """Incidents with provider downtime restored (or still down) after their restore deadline."""
        return [i for i in self.counted_incidents if (i.restore_excess_s or 0) > 0]

    @property
    def longest_s(self) -> float:
        """The longest counted incident (its counted downtime)."""
        return max((i.downtime_s for i in self.counted_incidents), default=0.0)

    @property
    def mttr_s(self) -> float | None:
        """Mean duration (start → end) of the incidents that had provider downtime; open ones excluded."""
        closed = [i.duration_s for i in self.counted_incidents if i.end_ns is not None]
        return sum(closed) / len(closed) if closed else None

    @property
    def allowed_downtime_s(self) -> float | None:
        """Downtime the promise allows over the counted time."""
        if self.target is None:
            return None
        return self.counted_s * (100.0 - self.target) / 100.0


def _segments(outages: Iterable[AttributedOutage], attribution: Attribution) -> list[Interval]:
    return union((s.start_ns, s.end_ns) for o in outages for s in o.segments if s.attribution is attribution)


def compute(
    analysis: Analysis,
    provider: ProviderSection,
    period: Period,
    zone: ZoneInfo,
    contacts: Iterable[Promising] = (),
) -> SlaFigures:
    """The SLA figures of one provider over one period (the analysis must cover the period).

    ``contacts`` is the provider's contact log: each incident's restore deadline runs from the first fault
    report in it (none given: from the incident's start, as ``Incident.restore`` then says). Where the contract
    names no restore time, the first one the provider promised on a logged contact is counted with instead
    (``restore_term`` says which); read the log from :func:`watchdog.analysis.restore.log_since`.
    """
    logged = tuple(contacts)
    now = analysis.now_ns
    window = [(period.start_ns, min(period.end_ns, now))]
    service = intersect(service_intervals(provider.hours, period, zone), window)
    maintenance = intersect(maintenance_intervals(provider, zone), service)
    data = intersect(union(analysis.coverage), window)
    no_data = subtract(subtract(service, maintenance), data)
    counted = subtract(subtract(service, maintenance), no_data)
    outages = analysis.for_provider(provider.id)
    downtime = intersect(_segments(outages, Attribution.PROVIDER), counted)
    inconclusive = intersect(_segments(outages, Attribution.INCONCLUSIVE), counted)
    customer = intersect(_segments(outages, Attribution.CUSTOMER_LINE), counted)
    counted_s = total(counted) / NS
    down_any = union((o.outage.start_ns, o.outage.end_ns if o.outage.end_ns is not None else now) for o in outages)
    windows = [
        w
        for w in analysis.degraded_for_provider(provider.id)
        if w.outage.start_ns < period.end_ns and (w.outage.end_ns or now) > period.start_ns
    ]
    up_counted = subtract(counted, down_any)  # down wins over degraded
    degraded_by = {
        att: total(intersect(_segments(windows, att), up_counted)) / NS
        for att in (Attribution.PROVIDER, Attribution.INCONCLUSIVE, Attribution.CUSTOMER_LINE)
    }
    downtime_s = total(downtime) / NS
    counts_degraded = provider.sla.counts_degraded
    lost_s = downtime_s + (degraded_by[Attribution.PROVIDER] if counts_degraded else 0.0)
    availability = None if counted_s <= 0 else 100.0 * (1.0 - lost_s / counted_s)
    promise = provider.sla.availability
    term = restore_term(provider.sla.restore_within, logged)
    restore = None if term is None else term.within_s

    incidents = []
    spans = union((o.outage.start_ns, o.outage.end_ns if o.outage.end_ns is not None else now) for o in outages)
    for a, b in spans:
        if b <= period.start_ns or a >= period.end_ns:
            continue
        members = tuple(
            o
            for o in outages
            if o.outage.start_ns < b and (o.outage.end_ns if o.outage.end_ns is not None else now) > a
        )
        is_open = any(o.outage.is_open for o in members)
        duration_s = (b - a) / NS
        span = [(a, b)]
        by: dict[Attribution, float] = {
            att: total(intersect(intersect(_segments(members, att), span), counted)) / NS
            for att in (Attribution.PROVIDER, Attribution.INCONCLUSIVE, Attribution.CUSTOMER_LINE)
        }
        nd = total(intersect(_segments(members, Attribution.NO_DATA), span)) / NS
        wall = {att: total(intersect(_segments(members, att), span)) for att in Attribution}
        deadline = None if restore is None else restore_deadline(a, b, restore, logged)
        incidents.append(
            Incident(
                start_ns=a,
                end_ns=None if is_open else b,
                targets=tuple(sorted({o.outage.target for o in members})),
                downtime_s=by[Attribution.PROVIDER],
                inconclusive_s=by[Attribution.INCONCLUSIVE],
                customer_line_s=by[Attribution.CUSTOMER_LINE],
                no_data_s=nd,
                duration_s=duration_s,
                restore_excess_s=None if deadline is None else max(0.0, deadline.late_s(b)),
                attribution=max(wall, key=lambda att: wall[att]),
                outages=members,
                restore=deadline,
            )
        )
    return SlaFigures(
        provider=provider.id,
        period=period,
        now_ns=now,
        service_s=total(service) / NS,
        maintenance_s=total(maintenance) / NS,
        no_data_s=total(no_data) / NS,
        counted_s=counted_s,
        downtime_s=downtime_s,
        inconclusive_s=total(inconclusive) / NS,
        customer_line_s=total(customer) / NS,
        availability=availability,
        coverage=total(data) / max(1, total(window)),
        incidents=tuple(incidents),
        target=promise,
        breached=None if promise is None or availability is None else availability < promise,
        restore_within_s=restore,
        degraded_s=degraded_by[Attribution.PROVIDER],
        degraded_inconclusive_s=degraded_by[Attribution.INCONCLUSIVE],
        degraded_customer_line_s=degraded_by[Attribution.CUSTOMER_LINE],
        counts_degraded=counts_degraded,
        degraded=tuple(windows),
        restore_term=term,
    )
