"""The money calculators: one function per rule ``calculator``, from a context and a rule use to claim items."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from watchdog.analysis.restore import restore_deadline
from watchdog.analysis.sla import Incident
from watchdog.documents.compensation.context import DAY_S, HOUR_S, Context
from watchdog.documents.compensation.results import ClaimItem, Skipped
from watchdog.documents.compensation.values import Breakdown, ContactEntry, Duration, Instant, Money, Percent
from watchdog.documents.rulebook import RuleUse

_HUNDRED = Decimal(100)


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


Result = list[ClaimItem] | Skipped


def _prorata(ctx: Context, use: RuleUse) -> Result:
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
    explain = variant
    if variant == "hours" and _same_hours(down_s, down_h) and "hours_whole" in use.rule.explain:
        explain = "hours_whole"  # "17 ч", not "17 ч (17 ч)": the hours in brackets only when they add something
    money = amount.rounded()
    if money.amount <= 0:
        return Skipped(use.rule.id, "nothing_due")
    return [ClaimItem(use, money, variant, explain, inputs, optional=use.rule.flags.optional)]


def _same_hours(seconds: float, hours: Decimal) -> bool:
    """True when the duration as printed (to the minute, "17 ч") is just the rounded hours ("17 ч") again."""
    shown = round(seconds / 60) * 60  # how Formatter.duration rounds a span of an hour or more
    return HOUR_S <= seconds and shown < DAY_S and shown % HOUR_S == 0 and hours == Decimal(shown // HOUR_S)


def _late(ctx: Context, use: RuleUse, unit_s: int) -> list[tuple[int, Incident, int, dict[str, Any], str]]:
    """Incidents past the promised restore time: (index, incident, units late, explain inputs, explain variant).

    The promise runs from the fault report when the contact log has one (``clock: report``, the default), as in
    the letter's own account of the deadline (variant ``report``); else from the incident's start (``start``).
    With ``clock: start`` it runs from the start even when a report is logged, and the calculation says so
    (``start_set``: "counted from the start of the outage, not from the report of …"), so the letter, which
    states the deadline from the report, never reads as if the two were one deadline.
    """
    restore_s = ctx.provider.sla.restore_within
    assert restore_s is not None
    by_report = use.params.get("clock", "report") == "report"
    out = []
    for i, inc in ctx.counted():
        end = ctx.end_of(inc)
        logged = ctx.report_between(inc.start_ns, end.ns)
        report = logged if by_report else None
        deadline = restore_deadline(inc.start_ns, end.ns, restore_s, () if report is None else (report,))
        late_s = deadline.late_s(end.ns)
        units = _count(late_s, unit_s, use.params.get("count", "started")) if late_s > 0 else 0
        if units <= 0:
            continue
        facts: dict[str, Any] = {
            "promise": Duration(restore_s, in_hours=True),
            "start": Instant(inc.start_ns),
            "due": Instant(deadline.due_ns),
            "restored": end,
            "late_time": Duration(late_s),
            "late": units,
        }
        if logged is not None:
            facts |= {"report": Instant(logged.at_ns), "report_ref": logged}
        explain = "start" if logged is None else ("report" if by_report else "start_set")
        out.append((i, inc, units, facts, explain))
    return out


def _delay_penalty(ctx: Context, use: RuleUse) -> Result:
    if ctx.provider.sla.restore_within is None:
        return Skipped(use.rule.id, "no_restore_within")
    price = ctx.base(use)
    if isinstance(price, Skipped):
        return price
    unit = str(use.rule.constants["unit"])
    rate = Decimal(str(use.rule.constants["rate_percent"]))
    items = []
    for i, _inc, units, facts, explain in _late(ctx, use, DAY_S if unit == "day" else HOUR_S):
        raw = price.times(rate / _HUNDRED * units)
        capped = raw.amount > price.amount
        amount = (price if capped else raw).rounded()
        inputs = facts | {"rate": Percent(rate), "price": price.rounded()}
        variant = f"{unit}_capped" if capped else unit
        items.append(ClaimItem(use, amount, variant, explain, inputs, optional=True, incident=i))
    return items or Skipped(use.rule.id, "in_time")


def _restore_delay(ctx: Context, use: RuleUse) -> Result:
    if ctx.provider.sla.restore_within is None or ctx.currency is None:
        return Skipped(use.rule.id, "no_restore_within" if ctx.currency else "no_fee")
    per_day = ctx.money(use.params["per_day"])
    cap = ctx.money(use.params["cap"]) if use.params.get("cap") is not None else None
    items = []
    for i, _inc, units, facts, explain in _late(ctx, use, DAY_S):
        raw = per_day.times(units)
        capped = cap is not None and raw.amount > cap.amount
        amount = (cap if capped and cap is not None else raw).rounded()
        inputs = facts | {"per_day": per_day.rounded()} | ({"cap": cap.rounded()} if cap else {})
        items.append(ClaimItem(use, amount, "capped" if capped else "main", explain, inputs, False, incident=i))
    return items or Skipped(use.rule.id, "in_time")


def _repair_runs(ctx: Context, use: RuleUse) -> list[tuple[ContactEntry, int, int]] | Skipped:
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


def _restored(ctx: Context, end_ns: int) -> Instant:
    return Instant(end_ns, still_open=end_ns >= ctx.figures.now_ns)


def _ofcom_repair(ctx: Context, use: RuleUse) -> Result:
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


def _tkg_daily(ctx: Context, use: RuleUse) -> Result:
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


def _ny_credit(ctx: Context, use: RuleUse) -> Result:
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


def _tiered(ctx: Context, use: RuleUse) -> Result:
    f = ctx.figures
    if f.counted_s <= 0:
        return Skipped(use.rule.id, "no_counted_time")
    if not ctx.judgeable:
        return ctx.low_coverage(use.rule.id)
    base = ctx.base(use)
    if isinstance(base, Skipped):
        return base
    availability = _HUNDRED * (1 - _dec(f.downtime_s) / _dec(f.counted_s))
    if ctx.partial:  # before the period ends: the tier it is certain to end in, the rest counted as service
        availability = ctx.best_case_availability()
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
    return [ClaimItem(use, amount, "main", "partial" if ctx.partial else "main", inputs, optional=False)]


def _service_credit(ctx: Context, use: RuleUse) -> Result:
    if use.params.get("when") == "breach" and not ctx.judgeable:
        return ctx.low_coverage(use.rule.id)
    if not ctx.condition_met(use.params.get("when", "downtime")):
        return Skipped(use.rule.id, "condition", {"when": use.params.get("when", "downtime")})
    fee = ctx.period_fee()
    if isinstance(fee, Skipped):
        return fee
    days = int(use.params["days"])
    amount = fee.times(Decimal(days) / Decimal(ctx.period_days)).rounded()
    inputs = {"fee": fee.rounded(), "days": days, "period_days": ctx.period_days}
    return [ClaimItem(use, amount, "main", None, inputs, optional=False)]


def _fee_waiver(ctx: Context, use: RuleUse) -> Result:
    if use.params.get("when") == "breach" and not ctx.judgeable:
        return ctx.low_coverage(use.rule.id)
    if not ctx.condition_met(use.params.get("when", "downtime")):
        return Skipped(use.rule.id, "condition", {"when": use.params.get("when", "downtime")})
    fee = ctx.monthly_fee()
    if isinstance(fee, Skipped):
        return fee
    months = int(use.params["months"])
    inputs = {"fee": fee.rounded(), "months": months}
    return [ClaimItem(use, fee.times(months).rounded(), "main", None, inputs, optional=False)]


MONEY: Mapping[str, Callable[[Context, RuleUse], Result]] = {
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
