"""The rule engine: which rules apply to a provider and period, what each gives, and the total-loss input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from watchdog.analysis.attribution import Interval, union
from watchdog.analysis.calendars import WorkCalendar
from watchdog.analysis.outages import Analysis
from watchdog.analysis.sla import SlaFigures
from watchdog.config import ProviderSection
from watchdog.documents.compensation.calculators import MONEY
from watchdog.documents.compensation.context import Context
from watchdog.documents.compensation.deadlines import DEADLINES
from watchdog.documents.compensation.results import Assessment, ClaimItem, Deadline, Notice, Skipped
from watchdog.documents.compensation.values import ContactEntry, Instant
from watchdog.documents.rulebook import ProviderFacts, Rulebook, RuleUse


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
    ctx = Context(
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
        if rule.calculator is None:
            continue  # a right rule: cited by the letter that states its fact, never computed
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
    items, dropped = _one_penalty(items)
    skipped.extend(dropped)
    items.sort(key=lambda item: (item.optional, item.rule.order))  # demands first, optional extras after
    return Assessment(tuple(items), tuple(deadlines), tuple(skipped), tuple(_notices(ctx, deadlines)))


PENALTIES = ("delay_penalty", "restore_delay")  # the law's and the contract's penalty for one late repair


def _one_penalty(items: list[ClaimItem]) -> tuple[list[ClaimItem], list[Skipped]]:
    """One penalty for one delay: of the law's and the contract's penalty for the same outage, the higher.

    Under п. 5 ст. 28 ЗоЗПП a contract may set a *higher* penalty than the law's 3 %, not an additional one;
    the same holds for any two penalties for the same late restoration, so they are never summed.
    """
    by_incident: dict[int, list[ClaimItem]] = {}
    for item in items:
        if item.rule.calculator in PENALTIES and item.incident is not None:
            by_incident.setdefault(item.incident, []).append(item)
    drop: set[int] = set()
    skipped: list[Skipped] = []
    for group in by_incident.values():
        if len({i.rule.id for i in group}) < 2:
            continue
        keep = max(group, key=lambda i: (i.amount.amount, not i.optional))
        for other in group:
            if other is not keep:
                drop.add(id(other))
                skipped.append(Skipped(other.rule.id, "one_penalty", {"kept": keep.rule.id}))
    return [i for i in items if id(i) not in drop], skipped


def _notices(ctx: Context, deadlines: Sequence[Deadline]) -> list[Notice]:
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
            else:
                out.append(Notice("filing_limit", {"limit": limit, "months": int(months)}))
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
