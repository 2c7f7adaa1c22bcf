"""The compensation engine: pure functions from SLA figures, contract, contact log and rules to claims.

:func:`assess` takes what a letter rests on — the period's SLA figures (:func:`watchdog.analysis.sla.compute`),
the provider's config section (contract, SLA, ``compensation:`` entries, jurisdiction), the contact
log, the stretches when the service was lost entirely (all internet controls down while the LAN was
up, from :func:`total_loss_intervals`), the rulebook and the letter's date — and returns an
:class:`Assessment`: claim items, each with its amount (``Decimal`` and currency), the formula variant
and the typed inputs the letter prints, and the rule that gives the rounding, legal basis and flags;
answer deadlines counted on working-day calendars; and the rules that gave nothing, with the reason.

Money is ``Decimal``, never float. Inputs that are printed (hours, days) are rounded first, as the rule
states, so anyone can recompute the printed amount from the printed numbers; amounts are rounded to the
currency's minor unit, halves up. Words live in the rule files and the templates; this module returns
keys and numbers only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision

from watchdog.analysis.attribution import Interval, union
from watchdog.analysis.calendars import WorkCalendar
from watchdog.analysis.outages import Analysis
from watchdog.analysis.sla import Incident, SlaFigures
from watchdog.config import ProviderSection
from watchdog.documents.rulebook import ProviderFacts, Rule, Rulebook, RuleUse
from watchdog.model import NS
from watchdog.timefmt import to_datetime

DAY_S = 86_400
HOUR_S = 3_600
_HUNDRED = Decimal(100)


# ------------------------------------------------------------------------------------------ values


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in a currency (ISO 4217 code)."""

    amount: Decimal
    currency: str

    def rounded(self) -> Money:
        """Rounded to the currency's minor unit, halves up."""
        exponent = Decimal(1).scaleb(-get_currency_precision(self.currency))
        return Money(self.amount.quantize(exponent, rounding=ROUND_HALF_UP), self.currency)

    def times(self, factor: Decimal | int) -> Money:
        """Unrounded product."""
        return Money(self.amount * Decimal(factor), self.currency)


@dataclass(frozen=True, slots=True)
class Duration:
    """A length of time, printed per locale ("7 суток 22 ч 30 мин"; ``in_hours``: "72 ч", as contracts say)."""

    seconds: float
    in_hours: bool = False


@dataclass(frozen=True, slots=True)
class Instant:
    """A moment, printed in local time with its UTC offset; ``still_open``: "not restored as of"."""

    ns: int
    still_open: bool = False


@dataclass(frozen=True, slots=True)
class Percent:
    """A percentage, printed with the decimals it carries ("3 %", "98,699 %")."""

    value: Decimal


@dataclass(frozen=True, slots=True)
class Breakdown:
    """A sum of amounts times counts, printed "£9.98 × 2 + £10.34 × 3"."""

    parts: tuple[tuple[Money, int], ...]


@dataclass(frozen=True, slots=True)
class ContactEntry:
    """One entry of the customer's contact log: a call, e-mail, chat or visit, with the provider's ref."""

    at_ns: int
    channel: str  # phone | email | chat | visit | letter | portal
    ref: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class ClaimItem:
    """One demand with money: the amount, how it was computed, and the rule it rests on."""

    use: RuleUse
    amount: Money
    formula: str  # key into rule.formula
    explain: str | None  # key into rule.explain
    inputs: Mapping[str, Any]
    optional: bool
    incident: int | None = None  # index into SlaFigures.incidents (None: the whole period)

    @property
    def rule(self) -> Rule:
        """The rule behind the item."""
        return self.use.rule

    @property
    def contested(self) -> bool:
        """True when the letter must print the rule's warning with it."""
        return self.use.rule.flags.contested


@dataclass(frozen=True, slots=True)
class Deadline:
    """When the provider must answer, and where the customer goes next."""

    use: RuleUse
    received_on: dt.date
    registration_by: dt.date | None
    answer_by: dt.date
    explain: str  # key into rule.explain
    inputs: Mapping[str, Any]
    calendar: str | None  # the working-day calendar used, if any

    @property
    def rule(self) -> Rule:
        """The rule behind the deadline."""
        return self.use.rule


@dataclass(frozen=True, slots=True)
class Skipped:
    """A rule that gave nothing, with a reason key (worded in the letter locale files) and its values."""

    rule_id: str
    reason: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the customer must know before sending (worded in the letter locale files)."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    """What the customer can claim for one provider and period."""

    items: tuple[ClaimItem, ...]
    deadlines: tuple[Deadline, ...]
    skipped: tuple[Skipped, ...]
    notices: tuple[Notice, ...]

    def totals(self, *, optional: bool) -> dict[str, Money]:
        """Sum per currency of the items that are (or are not) optional."""
        out: dict[str, Money] = {}
        for item in self.items:
            if item.optional != optional:
                continue
            prev = out.get(item.amount.currency, Money(Decimal(0), item.amount.currency))
            out[item.amount.currency] = Money(prev.amount + item.amount.amount, prev.currency)
        return out

    @property
    def rules(self) -> list[Rule]:
        """The rules that produced an item or a deadline, each once, in letter order."""
        seen: dict[str, Rule] = {}
        for rule in [i.rule for i in self.items] + [d.rule for d in self.deadlines]:
            seen.setdefault(rule.id, rule)
        return list(seen.values())


# ----------------------------------------------------------------------------------------- context


@dataclass(frozen=True)
class _Context:
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
            return Skipped("", "fee_period", {"per": fee.per, "period": "month"})
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
        """The first contact-log entry inside [start, end): the fault report."""
        return next((c for c in self.contacts if start_ns <= c.at_ns < end_ns), None)

    def local_date(self, ns: int) -> dt.date:
        return to_datetime(ns, self.zone).date()

    def loss_stretches(self) -> list[tuple[int, int]]:
        """Stretches of total loss that overlap the period (whole, not cut at the period's edges)."""
        p = self.figures.period
        return [(a, b) for a, b in union(self.total_loss) if a < p.end_ns and b > p.start_ns]

    def condition_met(self, when: str) -> bool:
        if when == "breach":
            return self.figures.breached is True
        if when == "restore_exceeded":
            return any((i.restore_excess_s or 0) > 0 for _, i in self.counted())
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


def _count(seconds: float, unit_s: int, how: str) -> int:
    """Started (``ceil``) or full (``floor``) units in ``seconds``."""
    units = seconds / unit_s
    return math.ceil(units - 1e-9) if how == "started" else math.floor(units + 1e-9)


def _dec(seconds: float) -> Decimal:
    """Seconds (a float from ns/NS) as an exact Decimal of its shortest repr."""
    return Decimal(repr(seconds))


def _q(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _plain(value: Decimal) -> Decimal:
    """744.000 → 744; 190.50 → 190.5 (what is printed is exactly what is computed)."""
    return value.to_integral_value() if value == value.to_integral_value() else value.normalize()


# ------------------------------------------------------------------------------------- calculators

Result = list[ClaimItem] | Skipped
DeadlineResult = Deadline | Skipped


def _prorata(ctx: _Context, use: RuleUse) -> Result:
    fee = ctx.period_fee()
    if isinstance(fee, Skipped):
        return fee
    minimum = use.params.get("min_outage")
    eligible = [(i, inc) for i, inc in ctx.counted() if minimum is None or inc.duration_s >= minimum]
    if not eligible:
        return Skipped(use.rule.id, "no_downtime" if not ctx.counted() else "below_minimum", {"minimum": minimum})
    down_s = sum(inc.downtime_s for _, inc in eligible)
    inputs: dict[str, Any] = {"fee": fee.rounded(), "downtime": Duration(down_s)}
    if use.params.get("method", "hours") == "days":
        days = min(sum(_count(inc.downtime_s, DAY_S, use.params["day_count"]) for _, inc in eligible), ctx.period_days)
        amount = fee.times(Decimal(days) / Decimal(ctx.period_days))
        inputs |= {"days": days, "period_days": ctx.period_days}
        variant = "days"
    else:
        down_h = _q(_dec(down_s) / HOUR_S)
        period_h = _plain(_q(_dec(ctx.figures.period.length_s) / HOUR_S))
        amount = fee.times(down_h / period_h)
        inputs |= {"downtime_h": _plain(down_h), "period_h": period_h}
        variant = "hours"
    money = amount.rounded()
    if money.amount <= 0:
        return Skipped(use.rule.id, "nothing_due")
    return [ClaimItem(use, money, variant, variant, inputs, optional=use.rule.flags.optional)]


def _clock(ctx: _Context, incident: Incident, how: str) -> tuple[int, ContactEntry | None]:
    end = incident.end_ns if incident.end_ns is not None else ctx.figures.now_ns
    report = ctx.report_between(incident.start_ns, end) if how == "report" else None
    return (report.at_ns if report else incident.start_ns), report


def _late(ctx: _Context, use: RuleUse, unit_s: int) -> list[tuple[int, Incident, int, dict[str, Any]]]:
    """Incidents past the promised restore time: (index, incident, units late, explain inputs)."""
    restore_s = ctx.provider.sla.restore_within
    assert restore_s is not None
    out = []
    for i, inc in ctx.counted():
        start, report = _clock(ctx, inc, use.params.get("clock", "report"))
        due = start + round(restore_s * NS)
        end = ctx.end_of(inc)
        late_s = (end.ns - due) / NS
        units = _count(late_s, unit_s, use.params.get("count", "started")) if late_s > 0 else 0
        if units <= 0:
            continue
        facts: dict[str, Any] = {
            "promise": Duration(restore_s, in_hours=True),
            "start": Instant(inc.start_ns),
            "due": Instant(due),
            "restored": end,
            "late_time": Duration(late_s),
            "late": units,
        }
        if report is not None:
            facts |= {"report": Instant(report.at_ns), "report_ref": report}
        out.append((i, inc, units, facts))
    return out


def _delay_penalty(ctx: _Context, use: RuleUse) -> Result:
    if ctx.provider.sla.restore_within is None:
        return Skipped(use.rule.id, "no_restore_within")
    price = ctx.base(use)
    if isinstance(price, Skipped):
        return price
    unit = str(use.rule.constants["unit"])
    rate = Decimal(str(use.rule.constants["rate_percent"]))
    items = []
    for i, _inc, units, facts in _late(ctx, use, DAY_S if unit == "day" else HOUR_S):
        raw = price.times(rate / _HUNDRED * units)
        capped = raw.amount > price.amount
        amount = (price if capped else raw).rounded()
        inputs = facts | {"rate": Percent(rate), "price": price.rounded()}
        variant = f"{unit}_capped" if capped else unit
        explain = "report" if "report" in facts else "start"
        items.append(ClaimItem(use, amount, variant, explain, inputs, optional=True, incident=i))
    return items or Skipped(use.rule.id, "in_time")


def _restore_delay(ctx: _Context, use: RuleUse) -> Result:
    if ctx.provider.sla.restore_within is None or ctx.currency is None:
        return Skipped(use.rule.id, "no_restore_within" if ctx.currency else "no_fee")
    per_day = ctx.money(use.params["per_day"])
    cap = ctx.money(use.params["cap"]) if use.params.get("cap") is not None else None
    items = []
    for i, _inc, units, facts in _late(ctx, use, DAY_S):
        raw = per_day.times(units)
        capped = cap is not None and raw.amount > cap.amount
        amount = (cap if capped and cap is not None else raw).rounded()
        inputs = facts | {"per_day": per_day.rounded()} | ({"cap": cap.rounded()} if cap else {})
        explain = "report" if "report" in facts else "start"
        items.append(ClaimItem(use, amount, "capped" if capped else "main", explain, inputs, False, incident=i))
    return items or Skipped(use.rule.id, "in_time")


def _repair_runs(ctx: _Context, use: RuleUse) -> list[tuple[ContactEntry, int, int]] | Skipped:
    """Total-loss stretches with their fault report: (report, start, end); Skipped if none qualifies."""
    stretches = ctx.loss_stretches()
    if not stretches:
        return Skipped(use.rule.id, "no_total_loss")
    runs = []
    for a, b in stretches:
        # the stretch ends at the last failed probe; service was back at the incident's first success
        holder = next((i for _, i in ctx.counted() if i.start_ns <= a and (i.end_ns or ctx.figures.now_ns) >= b), None)
        end = b if holder is None else (holder.end_ns if holder.end_ns is not None else ctx.figures.now_ns)
        report = ctx.report_between(holder.start_ns if holder else a, end)
        if report is not None:
            runs.append((report, a, end))
    if not runs:
        return Skipped(use.rule.id, "no_report", {"start": Instant(stretches[0][0])})
    return runs


def _restored(ctx: _Context, end_ns: int) -> Instant:
    return Instant(end_ns, still_open=end_ns >= ctx.figures.now_ns)


def _ofcom_repair(ctx: _Context, use: RuleUse) -> Result:
    runs = _repair_runs(ctx, use)
    if isinstance(runs, Skipped):
        return runs
    if ctx.calendar is None or ctx.currency is None:
        return Skipped(use.rule.id, "no_fee" if ctx.currency is None else "no_calendar")
    working_days = int(use.rule.constants["working_days"])
    include = bool(use.params.get("count_restoration_day", False))
    items = []
    for report, _start, end in runs:
        report_day = ctx.local_date(report.at_ns)
        deadline = ctx.calendar.add_working_days(report_day, working_days)
        repaired_day = ctx.local_date(end)
        first = deadline + dt.timedelta(days=1)
        last = repaired_day if include else repaired_day - dt.timedelta(days=1)
        days = (last - first).days + 1
        if days <= 0:
            continue
        parts: list[tuple[Money, int]] = []
        for n in range(days):
            day = first + dt.timedelta(days=n)
            entry = use.rule.rate_on(day)
            if entry is None:
                return Skipped(use.rule.id, "no_rate", {"day": day})
            rate = ctx.money(entry.amount)
            if parts and parts[-1][0] == rate:
                parts[-1] = (rate, parts[-1][1] + 1)
            else:
                parts.append((rate, 1))
        total = sum((m.amount * n for m, n in parts), Decimal(0))
        inputs: dict[str, Any] = {
            "rate": parts[-1][0],
            "days": days,
            "first_day": first,
            "last_day": last,
            "breakdown": Breakdown(tuple(parts)),
            "report": Instant(report.at_ns),
            "report_ref": report,
            "deadline": deadline,
            "restored": _restored(ctx, end),
        }
        variant = "single" if len(parts) == 1 else "mixed"
        item = ClaimItem(use, ctx.money(total).rounded(), variant, "incl" if include else "excl", inputs, False)
        items.append(item)
    return items or Skipped(use.rule.id, "in_time")


def _tkg_daily(ctx: _Context, use: RuleUse) -> Result:
    runs = _repair_runs(ctx, use)
    if isinstance(runs, Skipped):
        return runs
    fee = ctx.monthly_fee()
    if isinstance(fee, Skipped):
        return fee
    c = use.rule.constants
    first_day, late_from = int(c["first_day"]), int(c["late_from_day"])
    early_min, late_min = ctx.money(Decimal(str(c["early_min"]))), ctx.money(Decimal(str(c["late_min"])))
    early_pct, late_pct = Decimal(str(c["early_pct"])), Decimal(str(c["late_pct"]))
    early_each = max(early_min.amount, fee.amount * early_pct / _HUNDRED)
    late_each = max(late_min.amount, fee.amount * late_pct / _HUNDRED)
    items = []
    for report, _start, end in runs:
        repair_day = (ctx.local_date(end) - ctx.local_date(report.at_ns)).days
        if repair_day < first_day:
            continue
        early_days = min(repair_day, late_from - 1) - first_day + 1
        late_days = max(0, repair_day - late_from + 1)
        total = early_each * early_days + late_each * late_days
        inputs: dict[str, Any] = {
            "fee": fee.rounded(),
            "early_days": early_days,
            "late_days": late_days,
            "early_min": early_min.rounded(),
            "late_min": late_min.rounded(),
            "early_pct": Percent(early_pct),
            "late_pct": Percent(late_pct),
            "report": Instant(report.at_ns),
            "report_ref": report,
            "restored": _restored(ctx, end),
            "repair_day": repair_day,
        }
        variant = "both" if late_days else "early"
        items.append(ClaimItem(use, ctx.money(total).rounded(), variant, "main", inputs, optional=False))
    return items or Skipped(use.rule.id, "in_time")


def _ny_credit(ctx: _Context, use: RuleUse) -> Result:
    fee = ctx.monthly_fee()
    if isinstance(fee, Skipped):
        return fee
    items = []
    for i, inc in ctx.counted():
        long = inc.downtime_s >= DAY_S
        days = _count(inc.downtime_s, DAY_S, "started") if long else 1
        inputs = {
            "fee": fee.rounded(),
            "days": days,
            "downtime": Duration(inc.downtime_s),
            "start": Instant(inc.start_ns),
        }
        variant = "long" if long else "short"
        amount = fee.times(Decimal(days) / 30).rounded()
        items.append(ClaimItem(use, amount, variant, variant, inputs, optional=not long, incident=i))
    return items or Skipped(use.rule.id, "no_downtime")


def _tiered(ctx: _Context, use: RuleUse) -> Result:
    f = ctx.figures
    if f.counted_s <= 0:
        return Skipped(use.rule.id, "no_counted_time")
    base = ctx.base(use)
    if isinstance(base, Skipped):
        return base
    availability = _HUNDRED * (1 - _dec(f.downtime_s) / _dec(f.counted_s))
    missed = [(below, credit) for below, credit in use.params["tiers"] if availability < below]
    shown = Percent(availability.quantize(Decimal("0.001"), rounding=ROUND_DOWN))
    if not missed:
        return Skipped(use.rule.id, "above_threshold", {"availability": shown})
    threshold, percent = max(missed, key=lambda t: t[1])
    amount = base.times(percent / _HUNDRED).rounded()
    if amount.amount <= 0:
        return Skipped(use.rule.id, "nothing_due")
    target = Percent(_plain(Decimal(repr(f.target)))) if f.target is not None else Percent(threshold)
    inputs = {
        "base": base.rounded(),
        "percent": Percent(_plain(percent)),
        "availability": shown,
        "threshold": Percent(_plain(threshold)),
        "target": target,
    }
    return [ClaimItem(use, amount, "main", "main", inputs, optional=False)]


def _service_credit(ctx: _Context, use: RuleUse) -> Result:
    if not ctx.condition_met(use.params.get("when", "downtime")):
        return Skipped(use.rule.id, "condition", {"when": use.params.get("when", "downtime")})
    fee = ctx.period_fee()
    if isinstance(fee, Skipped):
        return fee
    days = int(use.params["days"])
    amount = fee.times(Decimal(days) / Decimal(ctx.period_days)).rounded()
    inputs = {"fee": fee.rounded(), "days": days, "period_days": ctx.period_days}
    return [ClaimItem(use, amount, "main", None, inputs, optional=False)]


def _fee_waiver(ctx: _Context, use: RuleUse) -> Result:
    if not ctx.condition_met(use.params.get("when", "downtime")):
        return Skipped(use.rule.id, "condition", {"when": use.params.get("when", "downtime")})
    fee = ctx.monthly_fee()
    if isinstance(fee, Skipped):
        return fee
    months = int(use.params["months"])
    inputs = {"fee": fee.rounded(), "months": months}
    return [ClaimItem(use, fee.times(months).rounded(), "main", None, inputs, optional=False)]


# --------------------------------------------------------------------------------------- deadlines


def _ru_svyaz_55(ctx: _Context, use: RuleUse) -> DeadlineResult:
    if ctx.calendar is None:
        return Skipped(use.rule.id, "no_calendar")
    received = ctx.sent_on
    registration = ctx.calendar.next_working_day(received)
    day30 = registration + dt.timedelta(days=int(use.rule.constants["answer_days"]))
    answer = ctx.calendar.roll_forward(day30)
    inputs = {"received": received, "registration": registration, "answer": answer, "day30": day30}
    variant = "plain" if answer == day30 else "rolled"
    return Deadline(use, received, registration, answer, variant, inputs, ctx.calendar.name)


def _ru_fin_442(ctx: _Context, use: RuleUse) -> DeadlineResult:
    if ctx.calendar is None:
        return Skipped(use.rule.id, "no_calendar")
    received = ctx.sent_on
    registration = ctx.calendar.next_working_day(received)
    answer = ctx.calendar.add_working_days(registration, int(use.rule.constants["answer_working_days"]))
    extended = ctx.calendar.add_working_days(answer, int(use.rule.constants["extension_working_days"]))
    inputs = {"received": received, "registration": registration, "answer": answer, "extended": extended}
    return Deadline(use, received, registration, answer, "main", inputs, ctx.calendar.name)


def _uk_adr(ctx: _Context, use: RuleUse) -> DeadlineResult:
    c = use.rule.constants
    received = ctx.sent_on
    weeks = int(c["weeks_from"] if received >= c["weeks_change"] else c["weeks_before"])
    answer = received + dt.timedelta(weeks=weeks)
    inputs = {"received": received, "answer": answer, "weeks": weeks}
    return Deadline(use, received, None, answer, "main", inputs, None)


def _generic_reply(ctx: _Context, use: RuleUse) -> DeadlineResult:
    days = int(use.params.get("days", 30))
    answer = ctx.sent_on + dt.timedelta(days=days)
    inputs = {"received": ctx.sent_on, "answer": answer, "days": days}
    return Deadline(use, ctx.sent_on, None, answer, "main", inputs, None)


MONEY: Mapping[str, Callable[[_Context, RuleUse], Result]] = {
    "prorata": _prorata,
    "delay_penalty": _delay_penalty,
    "ofcom_repair": _ofcom_repair,
    "tkg_daily": _tkg_daily,
    "ny_credit": _ny_credit,
    "tiered": _tiered,
    "restore_delay": _restore_delay,
    "service_credit": _service_credit,
    "fee_waiver": _fee_waiver,
}
DEADLINES: Mapping[str, Callable[[_Context, RuleUse], DeadlineResult]] = {
    "ru_svyaz_55": _ru_svyaz_55,
    "ru_fin_442": _ru_fin_442,
    "uk_adr": _uk_adr,
    "generic_reply": _generic_reply,
}


# ----------------------------------------------------------------------------------------- assess


def calendar_for(rulebook: Rulebook, jurisdiction: str) -> WorkCalendar | None:
    """The working-day calendar of a jurisdiction code (None when the provider names none)."""
    found = rulebook.jurisdiction(jurisdiction)
    return None if found is None else WorkCalendar(found.calendar.country, found.calendar.subdiv)


def assess(
    figures: SlaFigures,
    provider: ProviderSection,
    rulebook: Rulebook,
    *,
    sent_on: dt.date,
    zone: ZoneInfo,
    contacts: Sequence[ContactEntry] = (),
    total_loss: Sequence[Interval] = (),
    include_unverified: bool = False,
) -> Assessment:
    """Claim items, deadlines and skipped rules for one provider and period (pure: no I/O, no clock)."""
    ctx = _Context(
        figures=figures,
        provider=provider,
        contacts=tuple(sorted(contacts, key=lambda c: c.at_ns)),
        total_loss=tuple(union(total_loss)),
        zone=zone,
        sent_on=sent_on,
        calendar=calendar_for(rulebook, provider.jurisdiction),
    )
    uses = rulebook.uses(provider.compensation, ProviderFacts.of(provider))
    fallbacks = [
        RuleUse(r, {n: p.default for n, p in r.parameters.items() if p.default is not None}, listed=False)
        for r in sorted(rulebook.rules.values(), key=lambda r: r.id)
        if r.fallback and rulebook.applies_in(r, provider.jurisdiction) and r.id not in {u.rule.id for u in uses}
    ]
    items: list[ClaimItem] = []
    deadlines: list[Deadline] = []
    skipped: list[Skipped] = []
    for use in [*uses, *fallbacks]:
        if use in fallbacks and deadlines:
            continue  # the fallback answer deadline only where no other rule gave one
        rule = use.rule
        if rule.unverified and not (include_unverified or use.allow_unverified):
            skipped.append(Skipped(rule.id, "unverified"))
            continue
        if not rule.in_force(sent_on):
            skipped.append(Skipped(rule.id, "not_in_force", {"from": rule.in_force_from, "until": rule.in_force_until}))
            continue
        if rule.kind == "deadline":
            found = DEADLINES[rule.calculator](ctx, use)
            if isinstance(found, Skipped):
                skipped.append(Skipped(rule.id, found.reason, found.params))
            else:
                deadlines.append(found)
            continue
        result = MONEY[rule.calculator](ctx, use)
        if isinstance(result, Skipped):
            skipped.append(Skipped(rule.id, result.reason, result.params))
        else:
            items.extend(result)
    items.sort(key=lambda item: (item.optional, item.rule.order))  # demands first, optional extras after
    return Assessment(tuple(items), tuple(deadlines), tuple(skipped), tuple(_notices(ctx, deadlines)))


def _notices(ctx: _Context, deadlines: Sequence[Deadline]) -> list[Notice]:
    out: list[Notice] = []
    open_incidents = [i for _, i in ctx.counted() if i.end_ns is None]
    if open_incidents:
        out.append(Notice("still_open", {"as_of": Instant(ctx.figures.now_ns)}))
    for d in deadlines:
        months = d.rule.constants.get("filing_limit_months")
        ends = [i.end_ns or ctx.figures.now_ns for _, i in ctx.counted()]
        if months and ends:
            last = ctx.local_date(max(ends))
            limit = _add_months(last, int(months))
            if ctx.sent_on > limit:
                out.append(Notice("filing_late", {"limit": limit, "months": int(months)}))
    return out


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def total_loss_intervals(analysis: Analysis) -> list[Interval]:
    """When the service was lost entirely: every LAN control up and every internet control down.

    Built from the line timeline, where the agent ran; this is the "total loss of service" that schemes
    like Ofcom's and TKG § 58(3) require (a slow or partly working line does not qualify).
    """
    tl = analysis.timeline
    if tl.internet_total == 0 or tl.lan_total == 0:
        return []
    spans = [
        (p.start_ns, p.end_ns)
        for p in tl.pieces
        if p.covered and p.lan[0] == tl.lan_total and p.internet[1] == tl.internet_total
    ]
    return union(spans)
