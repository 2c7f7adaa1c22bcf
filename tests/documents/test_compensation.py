"""The compensation engine on hand-built SLA figures: every calculator and deadline with exact amounts.

SlaFigures here are plain values written by hand (the engine is a pure function of them); the seed cases
in test_letters.py build theirs from real journals instead.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from watchdog.analysis.sla import Incident, SlaFigures, parse_period
from watchdog.config import ProviderSection, loads
from watchdog.documents.compensation.engine import assess
from watchdog.documents.compensation.results import Notice, Skipped
from watchdog.documents.compensation.values import Breakdown, ContactEntry, Money
from watchdog.documents.rulebook import load_rulebook
from watchdog.model import NS, Attribution
from watchdog.timefmt import to_ns

BOOK = load_rulebook()
MSK, LONDON, BERLIN, NEW_YORK = (
    ZoneInfo(z) for z in ("Europe/Moscow", "Europe/London", "Europe/Berlin", "America/New_York")
)


def provider(block: str) -> ProviderSection:
    """One provider from YAML (through the real config loader, so entries are checked)."""
    text = "providers:\n  - id: p\n    targets: [{name: t, kind: tcp, address: '127.0.0.1:1'}]\n" + block
    return loads(text, env={}).provider("p")


def figures(
    period: str,
    zone: ZoneInfo,
    spans: list[tuple[dt.datetime, dt.datetime | None]],
    *,
    now: dt.datetime,
    target: float | None = None,
    restore_s: float | None = None,
    downtime_s: float | None = None,
) -> SlaFigures:
    """Figures with one incident per span, all of it provider downtime, over a round-the-clock period."""
    per = parse_period(period, zone)
    now_ns = to_ns(now)
    incidents = []
    for start, end in spans:
        a, b = to_ns(start), to_ns(end) if end else now_ns
        length = (b - a) / NS
        incidents.append(
            Incident(
                start_ns=a,
                end_ns=None if end is None else b,
                targets=("p/t",),
                downtime_s=length,
                inconclusive_s=0.0,
                customer_line_s=0.0,
                no_data_s=0.0,
                duration_s=length,
                restore_excess_s=None if restore_s is None else max(0.0, length - restore_s),
                attribution=Attribution.PROVIDER,
            )
        )
    counted = per.length_s
    down = sum(i.downtime_s for i in incidents) if downtime_s is None else downtime_s
    availability = 100 * (1 - down / counted)
    return SlaFigures(
        provider="p",
        period=per,
        now_ns=now_ns,
        service_s=counted,
        maintenance_s=0.0,
        no_data_s=0.0,
        counted_s=counted,
        downtime_s=down,
        inconclusive_s=0.0,
        customer_line_s=0.0,
        availability=availability,
        coverage=1.0,
        incidents=tuple(incidents),
        target=target,
        breached=None if target is None else availability < target,
        restore_within_s=restore_s,
    )


def at(zone: ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)  # type: ignore[misc]


def span_ns(a: dt.datetime, b: dt.datetime) -> tuple[int, int]:
    return to_ns(a), to_ns(b)


def test_tkg_58_3_the_research_example() -> None:
    """EUR 40 a month, fixed on day 7: 5 + 5 + 10 + 10 + 10 = EUR 40 (research note §3)."""
    p = provider("    kind: isp\n    contract: {fee: {amount: 40, currency: EUR}}\n    jurisdiction: DE\n")
    start, report, fixed = at(BERLIN, 2026, 11, 2, 9, 40), at(BERLIN, 2026, 11, 2, 10, 30), at(BERLIN, 2026, 11, 9, 12)
    f = figures("2026-11", BERLIN, [(start, fixed)], now=at(BERLIN, 2026, 11, 20))
    result = assess(
        f,
        p,
        BOOK,
        sent_on=dt.date(2026, 11, 20),
        zone=BERLIN,
        contacts=[ContactEntry(to_ns(report), "phone", "S-1")],
        total_loss=[span_ns(start, fixed)],
    )
    (item,) = result.items
    assert (item.rule.id, item.amount, item.formula) == ("de.tkg.58.3", Money(Decimal("40.00"), "EUR"), "both")
    assert (item.inputs["early_days"], item.inputs["late_days"], item.inputs["repair_day"]) == (2, 3, 7)
    # with EUR 80 a month the percentages win: 2 × 8 + 3 × 16 = 64
    p80 = provider("    kind: isp\n    contract: {fee: {amount: 80, currency: EUR}}\n    jurisdiction: DE\n")
    contacts = [ContactEntry(to_ns(report), "phone", "S-1")]
    result = assess(
        f, p80, BOOK, sent_on=dt.date(2026, 11, 20), zone=BERLIN, contacts=contacts, total_loss=[span_ns(start, fixed)]
    )
    assert result.items[0].amount == Money(Decimal("64.00"), "EUR")
    assert [d.rule.id for d in result.deadlines] == ["generic.reply.deadline"]


def test_ny_psc_credit_per_24_hours_or_part() -> None:
    """USD 60 a month, a 30 h outage: ceil(30/24) = 2 × 60/30 = USD 4 (research note §4)."""
    p = provider("    kind: isp\n    contract: {fee: {amount: 60, currency: USD}}\n    jurisdiction: US-NY\n")
    long = (at(NEW_YORK, 2026, 11, 3, 6), at(NEW_YORK, 2026, 11, 4, 12))
    short = (at(NEW_YORK, 2026, 11, 10, 6), at(NEW_YORK, 2026, 11, 11, 2))
    f = figures("2026-11", NEW_YORK, [long, short], now=at(NEW_YORK, 2026, 11, 20))
    result = assess(f, p, BOOK, sent_on=dt.date(2026, 11, 20), zone=NEW_YORK)
    assert [(i.amount.amount, i.formula, i.optional) for i in result.items] == [
        (Decimal("4.00"), "long", False),
        (Decimal("2.00"), "short", True),  # under 24 h: a day's credit on request
    ]
    (deadline,) = result.deadlines
    assert (deadline.rule.id, deadline.answer_by) == ("us.fcc.complaint.deadline", dt.date(2026, 12, 20))


UK = "    kind: isp\n    contract: {fee: {amount: 30, currency: GBP}}\n    jurisdiction: UK\n"


def test_ofcom_counts_calendar_days_at_the_rate_of_each_day() -> None:
    """Reported Wed 25 Mar 2026; not fixed by 23:59 Fri 27 Mar; fixed Thu 2 Apr: 4 days at £9.98 and 1 at £10.34."""
    start, report, fixed = at(LONDON, 2026, 3, 25, 8), at(LONDON, 2026, 3, 25, 9), at(LONDON, 2026, 4, 2, 12)
    f = figures("2026-03", LONDON, [(start, fixed)], now=at(LONDON, 2026, 4, 3))
    contacts = [ContactEntry(to_ns(report), "phone", "F-1")]
    result = assess(
        f,
        provider(UK),
        BOOK,
        sent_on=dt.date(2026, 4, 3),
        zone=LONDON,
        contacts=contacts,
        total_loss=[span_ns(start, fixed)],
    )
    ofcom = next(i for i in result.items if i.rule.id == "uk.ofcom.autocomp.repair")
    assert ofcom.amount == Money(Decimal("50.26"), "GBP")
    assert ofcom.formula == "mixed"
    gbp = "GBP"
    assert ofcom.inputs["breakdown"] == Breakdown(((Money(Decimal("9.98"), gbp), 4), (Money(Decimal("10.34"), gbp), 1)))
    assert (ofcom.inputs["deadline"], ofcom.inputs["first_day"], ofcom.inputs["last_day"]) == (
        dt.date(2026, 3, 27),
        dt.date(2026, 3, 28),
        dt.date(2026, 4, 1),
    )
    # the ADR threshold was still 8 weeks for a complaint received on 3 April 2026
    (deadline,) = result.deadlines
    assert (deadline.answer_by, deadline.inputs["weeks"]) == (dt.date(2026, 5, 29), 8)


def test_ofcom_skips_bank_holidays_and_can_count_the_repair_day() -> None:
    """Reported Thu 24 Dec 2026: working days are 29 and 30 Dec; fixed Tue 5 Jan 2027."""
    start, report, fixed = at(LONDON, 2026, 12, 24, 7), at(LONDON, 2026, 12, 24, 8), at(LONDON, 2027, 1, 5, 16)
    f = figures("2026-12", LONDON, [(start, fixed)], now=at(LONDON, 2027, 1, 6))
    contacts = [ContactEntry(to_ns(report), "phone", "F-2")]
    loss = [span_ns(start, fixed)]
    result = assess(f, provider(UK), BOOK, sent_on=dt.date(2027, 1, 6), zone=LONDON, contacts=contacts, total_loss=loss)
    ofcom = next(i for i in result.items if i.rule.id == "uk.ofcom.autocomp.repair")
    assert (ofcom.inputs["deadline"], ofcom.inputs["days"], ofcom.amount.amount) == (
        dt.date(2026, 12, 30),
        5,  # 31 Dec to 4 Jan; the day of the repair is not counted by default
        Decimal("51.70"),
    )
    counting = provider(UK + "    compensation: [{rule: uk.ofcom.autocomp.repair, count_restoration_day: true}]\n")
    result = assess(f, counting, BOOK, sent_on=dt.date(2027, 1, 6), zone=LONDON, contacts=contacts, total_loss=loss)
    ofcom = next(i for i in result.items if i.rule.id == "uk.ofcom.autocomp.repair")
    assert (ofcom.inputs["days"], ofcom.amount.amount, ofcom.explain) == (6, Decimal("62.04"), "incl")
    # no fault report in the contact log: the clock never started, nothing is claimed under the code
    result = assess(f, provider(UK), BOOK, sent_on=dt.date(2027, 1, 6), zone=LONDON, total_loss=loss)
    assert [s.reason for s in result.skipped if s.rule_id == "uk.ofcom.autocomp.repair"] == ["no_report"]
    # no total loss (the anchors never all failed): the code does not apply at all
    result = assess(f, provider(UK), BOOK, sent_on=dt.date(2027, 1, 6), zone=LONDON, contacts=contacts)
    assert [s.reason for s in result.skipped if s.rule_id == "uk.ofcom.autocomp.repair"] == ["no_total_loss"]


RU_ISP = (
    "    kind: isp\n    contract: {fee: {amount: 600, currency: RUB}}\n    sla: {restore_within: 72h}\n"
    "    jurisdiction: RU\n"
)


def test_the_hourly_penalty_needs_an_explicit_opt_in() -> None:
    start, report, end = at(MSK, 2026, 10, 2, 20, 15), at(MSK, 2026, 10, 2, 20, 45), at(MSK, 2026, 10, 10, 18, 45)
    f = figures("2026-10", MSK, [(start, end)], now=at(MSK, 2026, 11, 1), restore_s=72 * 3600)
    contacts = [ContactEntry(to_ns(report), "phone", "№ 1")]
    p = provider(RU_ISP + "    compensation: [{rule: ru.zozpp.28.5.hourly}]\n")
    result = assess(f, p, BOOK, sent_on=dt.date(2026, 11, 2), zone=MSK, contacts=contacts)
    assert Skipped("ru.zozpp.28.5.hourly", "unverified") in result.skipped
    assert [i.rule.id for i in result.items] == ["ru.telematics.prorata"]
    result = assess(f, p, BOOK, sent_on=dt.date(2026, 11, 2), zone=MSK, contacts=contacts, include_unverified=True)
    hourly = result.items[-1]
    # 190.5 h − 0.5 h − 72 h = 118 h late; 3 % × 600 × 118 = 2 124 ₽, capped at the price
    assert (hourly.rule.id, hourly.inputs["late"], hourly.formula) == ("ru.zozpp.28.5.hourly", 118, "hour_capped")
    assert hourly.amount == Money(Decimal("600.00"), "RUB") and hourly.optional
    # the entry's own opt-in works as well
    p = provider(RU_ISP + "    compensation: [{rule: ru.zozpp.28.5.hourly, allow_unverified: true}]\n")
    assert assess(f, p, BOOK, sent_on=dt.date(2026, 11, 2), zone=MSK, contacts=contacts).items[-1].amount.amount == 600


def test_tiers_apply_only_below_their_threshold() -> None:
    p = provider(
        "    contract: {fee: {amount: 40, currency: USD}}\n    sla: {availability: 99.9}\n"
        "    compensation: [{rule: sla.tiered, tiers: [[99.9, 10], [99.0, 25], [95.0, 100]]}]\n"
    )
    exactly_99 = 0.01 * 30 * 86400  # 1 % of a 30-day month: availability 99.000 %, not below 99.0
    f = figures(
        "2026-11", ZoneInfo("UTC"), [], now=at(ZoneInfo("UTC"), 2026, 12, 1), target=99.9, downtime_s=exactly_99
    )
    (item,) = assess(f, p, BOOK, sent_on=dt.date(2026, 12, 1), zone=ZoneInfo("UTC")).items
    assert (item.inputs["percent"].value, item.amount.amount) == (Decimal("10"), Decimal("4.00"))
    f = figures(
        "2026-11", ZoneInfo("UTC"), [], now=at(ZoneInfo("UTC"), 2026, 12, 1), target=99.9, downtime_s=exactly_99 + 1
    )
    (item,) = assess(f, p, BOOK, sent_on=dt.date(2026, 12, 1), zone=ZoneInfo("UTC")).items
    assert (item.inputs["percent"].value, item.inputs["availability"].value) == (Decimal("25"), Decimal("98.999"))
    f = figures("2026-11", ZoneInfo("UTC"), [], now=at(ZoneInfo("UTC"), 2026, 12, 1), target=99.9, downtime_s=30.0)
    result = assess(f, p, BOOK, sent_on=dt.date(2026, 12, 1), zone=ZoneInfo("UTC"))
    assert result.items == () and result.skipped[0].reason == "above_threshold"


def test_contract_rules_restore_delay_service_credit_and_waiver() -> None:
    start, end = at(MSK, 2026, 10, 2, 20, 15), at(MSK, 2026, 10, 10, 18, 45)
    f = figures("2026-10", MSK, [(start, end)], now=at(MSK, 2026, 11, 1), restore_s=72 * 3600)
    p = provider(
        RU_ISP.replace("isp", "other")
        + "    compensation:\n"
        + "      - {rule: contract.restore_delay, per_day: 50, cap: 150, clock: start, clause: 'п. 5.3'}\n"
        + "      - {rule: contract.service_credit, days: 3}\n"
        + "      - {rule: contract.fee_waiver, months: 6, when: breach}\n"
    )
    result = assess(f, p, BOOK, sent_on=dt.date(2026, 11, 2), zone=MSK)
    amounts = {i.rule.id: (i.amount.amount, i.formula) for i in result.items}
    # 190.5 − 72 = 118.5 h late = 4 full days × 50 = 200, capped at 150; 600 × 3 / 31 = 58.06
    assert amounts == {
        "contract.restore_delay": (Decimal("150.00"), "capped"),
        "contract.service_credit": (Decimal("58.06"), "main"),
    }
    assert result.items[0].use.clause == "п. 5.3"
    assert Skipped("contract.fee_waiver", "condition", {"when": "breach"}) in result.skipped  # no SLA was promised


def test_deadlines_on_the_russian_calendar() -> None:
    f = figures("2026-11", MSK, [(at(MSK, 2026, 11, 2, 10), at(MSK, 2026, 11, 3, 10))], now=at(MSK, 2026, 12, 1))
    # registered on Wed 2 Dec; the 30th day is 1 January 2027, a holiday: the term ends on Mon 11 January
    (svyaz,) = assess(f, provider(RU_ISP), BOOK, sent_on=dt.date(2026, 12, 1), zone=MSK).deadlines
    assert (svyaz.registration_by, svyaz.answer_by, svyaz.explain) == (
        dt.date(2026, 12, 2),
        dt.date(2027, 1, 11),
        "rolled",
    )
    broker = provider("    kind: broker\n    jurisdiction: RU\n")
    f = figures("2024-04", MSK, [(at(MSK, 2024, 4, 1, 10), at(MSK, 2024, 4, 1, 12))], now=at(MSK, 2024, 4, 27))
    (fin,) = assess(f, broker, BOOK, sent_on=dt.date(2024, 4, 26), zone=MSK).deadlines
    # 442-ФЗ was not yet in force in April 2024: the customer's own 30 days apply instead
    assert (fin.rule.id, fin.answer_by) == ("generic.reply.deadline", dt.date(2024, 5, 26))
    f = figures("2024-10", MSK, [(at(MSK, 2024, 10, 1, 10), at(MSK, 2024, 10, 1, 12))], now=at(MSK, 2024, 11, 1))
    (fin,) = assess(f, broker, BOOK, sent_on=dt.date(2024, 12, 27), zone=MSK).deadlines
    # Fri 27 Dec 2024 → registered Sat 28 Dec (a working Saturday); 15 working days after the holidays
    assert (fin.rule.id, fin.registration_by, fin.answer_by, fin.inputs["extended"]) == (
        "ru.fin.442.deadline",
        dt.date(2024, 12, 28),
        dt.date(2025, 1, 29),
        dt.date(2025, 2, 12),
    )


def test_uk_adr_threshold_changes_on_8_april_2026() -> None:
    f = figures("2026-03", LONDON, [], now=at(LONDON, 2026, 4, 9))
    for sent, weeks in ((dt.date(2026, 4, 7), 8), (dt.date(2026, 4, 8), 6)):
        (d,) = assess(f, provider(UK), BOOK, sent_on=sent, zone=LONDON).deadlines
        assert (d.inputs["weeks"], d.answer_by) == (weeks, sent + dt.timedelta(weeks=weeks))


def test_a_late_claim_and_an_open_outage_are_flagged() -> None:
    f = figures("2026-01", MSK, [(at(MSK, 2026, 1, 20, 10), None)], now=at(MSK, 2026, 1, 25))
    result = assess(f, provider(RU_ISP), BOOK, sent_on=dt.date(2026, 7, 26), zone=MSK)
    assert [n.key for n in result.notices] == ["still_open", "filing_late"]
    assert result.notices[1] == Notice("filing_late", {"limit": dt.date(2026, 7, 25), "months": 6})


@pytest.mark.parametrize("method", ["hours", "days"])
def test_money_is_decimal_in_minor_units(method: str) -> None:
    f = figures(
        "2026-10", MSK, [(at(MSK, 2026, 10, 5, 0, 0, 7), at(MSK, 2026, 10, 5, 7, 19, 51))], now=at(MSK, 2026, 11, 1)
    )
    p = provider(RU_ISP + f"    compensation: [{{rule: ru.telematics.prorata, method: {method}}}]\n")
    (item,) = assess(f, p, BOOK, sent_on=dt.date(2026, 11, 2), zone=MSK).items
    assert isinstance(item.amount.amount, Decimal) and item.amount.amount.as_tuple().exponent == -2
    # 7 h 19 min 44 s → 7.33 h: 600 × 7.33 / 744 = 5.911… → 5.91; by days one started day: 600 / 31 = 19.35
    assert item.amount.amount == (Decimal("5.91") if method == "hours" else Decimal("19.35"))
