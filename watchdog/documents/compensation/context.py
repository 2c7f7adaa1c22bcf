"""What a calculator sees of one provider and period: figures, contract, contact log, calendar, and the fee."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from watchdog.analysis.attribution import Interval, union
from watchdog.analysis.calendars import WorkCalendar
from watchdog.analysis.restore import first_report, restore_deadline
from watchdog.analysis.sla import Incident, SlaFigures
from watchdog.config import ProviderSection
from watchdog.documents.compensation.results import Skipped
from watchdog.documents.compensation.values import ContactEntry, Instant, Money, Percent
from watchdog.documents.rulebook import RuleUse
from watchdog.timefmt import to_datetime

DAY_S = 86_400
HOUR_S = 3_600
# A claim that rests on the period's availability (an SLA tier, a waiver "when the SLA is breached") is made
# only when monitoring data covers at least this share of the period; below it a letter claims only the
# downtime it proves (pro-rata, restore time), never a tier computed on a few seconds or hours of data.
COVERAGE_MIN = 0.9


@dataclass(frozen=True)
class Context:
    """One provider and period as every calculator reads it."""

    figures: SlaFigures
    provider: ProviderSection
    contacts: tuple[ContactEntry, ...]
    total_loss: tuple[Interval, ...]
    zone: ZoneInfo
    sent_on: dt.date
    calendar: WorkCalendar | None

    @property
    def currency(self) -> str | None:
        fee = self.provider.contract.fee
        return fee.currency if fee else None

    def money(self, amount: Decimal) -> Money:
        assert self.currency is not None
        return Money(amount, self.currency)

    def period_fee(self) -> Money | Skipped:
        """The fee for the billing period, from the contract's fee and its ``per``."""
        fee = self.provider.contract.fee
        if fee is None:
            return Skipped("", "no_fee")
        amount = Decimal(str(fee.amount))
        months = _months_in(self.figures.period.label)
        per_months = {"month": 1, "quarter": 3, "year": 12}.get(fee.per)
        days = self.period_days
        if fee.per == "day":
            return Money(amount * days, fee.currency)
        if fee.per == "week" and _is_week(self.figures.period.label):
            return Money(amount, fee.currency)
        if months is None or per_months is None:
            return Skipped("", "fee_period", {"per": fee.per, "period": self.figures.period.label})
        return Money(amount * months / per_months, fee.currency)

    def base(self, use: RuleUse) -> Money | Skipped:
        """The amount a rule works on: its ``fee_param`` when given (a price, a charge), else the period's fee."""
        name = use.rule.fee_param
        if name is not None and use.params.get(name) is not None and self.currency is not None:
            return self.money(use.params[name])
        return self.period_fee()

    def monthly_fee(self) -> Money | Skipped:
        """The fee per month (from a monthly, quarterly or yearly fee)."""
        fee = self.provider.contract.fee
        if fee is None:
            return Skipped("", "no_fee")
        per_months = {"month": 1, "quarter": 3, "year": 12}.get(fee.per)
        if per_months is None:
            return Skipped("", "fee_month", {"per": fee.per})
        return Money(Decimal(str(fee.amount)) / per_months, fee.currency)

    @property
    def period_days(self) -> int:
        """Days in the period (a DST month is still 31 days, not 31 days and an hour)."""
        return round(self.figures.period.length_s / DAY_S)

    def counted(self) -> list[tuple[int, Incident]]:
        """Incidents with provider downtime in counted time, with their index."""
        return [(i, inc) for i, inc in enumerate(self.figures.incidents) if inc.downtime_s > 0]

    def end_of(self, incident: Incident) -> Instant:
        """The incident's end, or now while it is still open."""
        if incident.end_ns is None:
            return Instant(self.figures.now_ns, still_open=True)
        return Instant(incident.end_ns)

    def report_between(self, start_ns: int, end_ns: int) -> ContactEntry | None:
        """The fault report: the customer's first contact inside [start, end) (the provider's calls do not count)."""
        return first_report(self.contacts, start_ns, end_ns)

    def late_s(self, incident: Incident) -> float | None:
        """Seconds past the restore deadline (from the fault report, else the start); None: nothing was promised."""
        within = self.provider.sla.restore_within
        if within is None:
            return None
        end = self.end_of(incident).ns
        return restore_deadline(incident.start_ns, end, within, self.contacts).late_s(end)

    def local_date(self, ns: int) -> dt.date:
        return to_datetime(ns, self.zone).date()

    def loss_stretches(self) -> list[tuple[int, int]]:
        """Stretches of total loss that overlap the period (whole, not cut at the period's edges)."""
        p = self.figures.period
        return [(a, b) for a, b in union(self.total_loss) if a < p.end_ns and b > p.start_ns]

    @property
    def judgeable(self) -> bool:
        """True when the period's availability may be claimed on: enough of the period has data."""
        return self.figures.counted_s > 0 and self.figures.coverage >= COVERAGE_MIN

    def low_coverage(self, rule_id: str) -> Skipped:
        """Why an availability-based rule was not applied: the coverage and the minimum, both in percent."""
        share = Decimal(repr(self.figures.coverage)) * 100
        if share >= Decimal("0.1") or share == 0:  # to 0.1 %, cut; below it two significant digits, never "0 %"
            share = share.quantize(Decimal("0.1"), rounding=ROUND_DOWN)
        else:
            share = share.quantize(Decimal(1).scaleb(share.adjusted() - 1), rounding=ROUND_DOWN)
        minimum = Percent(Decimal(round(COVERAGE_MIN * 100)))
        return Skipped(rule_id, "low_coverage", {"coverage": Percent(share), "minimum": minimum})

    @property
    def partial(self) -> bool:
        """True while the period has not ended at the time the figures are computed."""
        return self.figures.now_ns < self.figures.period.end_ns

    def best_case_availability(self) -> Decimal:
        """The highest availability the period can still end with: the rest of it counted as service, no downtime.

        Before a period ends, a claim on its availability stands only if it holds even in this best case.
        """
        f = self.figures
        remaining = Decimal(max(0, f.period.end_ns - f.now_ns)) / Decimal(10**9)
        whole = Decimal(repr(f.counted_s)) + remaining
        return Decimal(100) * (1 - Decimal(repr(f.downtime_s)) / whole)

    def condition_met(self, when: str) -> bool:
        if when == "breach":
            if self.figures.breached is not True or not self.judgeable:
                return False
            target = self.figures.target
            return not self.partial or target is None or self.best_case_availability() < Decimal(repr(target))
        if when == "restore_exceeded":
            return any((self.late_s(i) or 0) > 0 for _, i in self.counted())
        return bool(self.counted())


def _months_in(label: str) -> int | None:
    """Months in a period label: 2026-11 → 1, 2026-Q4 → 3, 2026 → 12; weeks and ranges → None."""
    parts = label.split("-")
    if len(parts) == 1 and label.isdigit():
        return 12
    if len(parts) == 2 and parts[1].isdigit():
        return 1
    if len(parts) == 2 and parts[1].startswith("Q"):
        return 3
    return None


def _is_week(label: str) -> bool:
    return "-W" in label
