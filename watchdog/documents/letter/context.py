"""The context a letter's templates render: outage table, figures, demands, deadline, legal basis and notes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any

from watchdog import __version__
from watchdog.analysis.restore import first_promise, first_report, restore_deadline
from watchdog.analysis.sla import Period, SlaFigures
from watchdog.config import Config, ProviderSection
from watchdog.documents.compensation.context import COVERAGE_MIN
from watchdog.documents.compensation.results import Assessment
from watchdog.documents.compensation.values import ContactEntry, Duration, Instant, Money, Percent
from watchdog.documents.letter.request import LetterRequest
from watchdog.documents.letter.views import IncidentRow, ItemView, Measurement, Probe, RestoreView
from watchdog.documents.rulebook import Rulebook
from watchdog.documents.words import Formatter, Lang, md_escape
from watchdog.journal.tsa import StampCheck
from watchdog.model import ProviderKind, Role, Target
from watchdog.timefmt import to_datetime

LOW_COVERAGE = COVERAGE_MIN  # below this share of the period with data no availability-based claim is made


def _probe(target: Target) -> Probe:
    return Probe(target.kind, target.address, target.interval_s)


def _measurement(
    config: Config, provider: ProviderSection, request: LetterRequest, rows: Sequence[IncidentRow]
) -> Measurement:
    own = config.targets_of(provider.id)
    lan, internet = config.controls(Role.LAN), config.controls(Role.INTERNET)
    everything = [*own, *lan, *internet]
    # the bounds of a claimed window are set by the checks of the targets that found it, not by the slowest
    # target of the provider (an hourly certificate check says nothing about a window found by 2 s probes)
    found = [p.interval_s for r in rows for p in r.found_by]
    return Measurement(
        version=__version__,
        agent=config.agent.id,
        provider_targets=tuple(_probe(t) for t in own),
        lan=tuple(_probe(t) for t in lan),
        internet=tuple(_probe(t) for t in internet),
        quorum=config.quorum,
        failure_threshold=max((t.failure_threshold for t in everything), default=3),
        success_threshold=max((t.success_threshold for t in everything), default=2),
        max_interval_s=max(found, default=0.0),
        clock_offset_ms=request.clock_offset_ms,
        clock_samples=request.clock_samples,
        clock_servers=tuple(md_escape(s) for s in request.clock_servers),
    )


def _rows(
    config: Config,
    figures: SlaFigures,
    contacts: Sequence[ContactEntry],
    restore_within: float | None = None,
    paths: Mapping[int, dict[str, Any]] | None = None,
) -> list[IncidentRow]:
    rows = []
    counted = [i for i in figures.incidents if i.downtime_s > 0]
    for no, inc in enumerate(counted, start=1):
        end_ns = inc.end_ns if inc.end_ns is not None else figures.now_ns
        refs = tuple(c for c in contacts if inc.start_ns <= c.at_ns < end_ns)
        restore = None
        if restore_within is not None:  # from my first fault report in it, else from its start (the letter says which)
            deadline = restore_deadline(inc.start_ns, end_ns, restore_within, contacts)
            late_s = deadline.late_s(end_ns)
            restore = RestoreView(
                report=first_report(contacts, inc.start_ns, end_ns),
                since=Instant(deadline.from_ns),
                due=Instant(deadline.due_ns),
                late=Duration(late_s) if late_s > 0 else None,
            )
        members = [o.outage for o in inc.outages]
        first = min(members, key=lambda o: o.start_ns, default=None)
        closed = [o for o in members if o.end_ns is not None and o.end_bounds is not None]
        last = max(closed, key=lambda o: o.end_ns or 0, default=None) if inc.end_ns is not None else None
        start_after = first.start_bounds[0] if first is not None else None
        end_after = last.end_bounds[0] if last is not None and last.end_bounds is not None else None
        keys = sorted({o.target for o in members})
        found_by = tuple(_probe(config.target(k)) for k in keys if _known(config, k))
        rows.append(
            IncidentRow(
                no=no,
                start=Instant(inc.start_ns),
                end=Instant(end_ns, still_open=inc.end_ns is None),
                duration=Duration(inc.duration_s),
                downtime=Duration(inc.downtime_s),
                restore_excess=None if restore is None else restore.late,
                refs=refs,
                start_after=None if start_after is None else Instant(start_after),
                end_after=None if end_after is None else Instant(end_after),
                found_by=found_by,
                restore=restore,
                paths=tuple(
                    _path(paths[o.id]) for o in sorted(members, key=lambda o: o.start_ns) if paths and o.id in paths
                ),
            )
        )
    return rows


def _path(path: dict[str, Any]) -> dict[str, Any]:
    """A journaled route, escaped for Markdown (the addresses come from the network, the AS from the config);
    the AS of the hop where it ended, when the user's ``traceroute.asn`` table knows it, follows its address."""
    out = {k: md_escape(str(v)) if isinstance(v, str) else v for k, v in path.items()}
    if out.get("ended_at") and out.get("ended_asn"):
        out["ended_at"] = f"{out['ended_at']}, {out['ended_asn']}"
    return out


def _known(config: Config, key: str) -> bool:
    try:
        config.target(key)
    except (KeyError, ValueError):
        return False
    return True


def _items(assessment: Assessment, fmt: Formatter) -> list[ItemView]:
    lang = fmt.lang
    out = []
    for item in assessment.items:
        rule = item.rule
        inputs = dict(item.inputs) | {"amount": item.amount}
        assert rule.demand is not None and rule.rounding is not None
        explain = fmt.fill(rule.explain[item.explain].get(lang), inputs) if item.explain else ""
        out.append(
            ItemView(
                rule=rule,
                title=rule.title.get(lang),
                demand=fmt.fill(rule.demand.get(lang), inputs),
                formula=fmt.fill(rule.formula[item.formula].get(lang), inputs),
                amount=item.amount,
                explain=explain,
                rounding=rule.rounding.get(lang),
                clause=md_escape(_clause(item.use.clause, item.use.clause_en, lang)),
                optional=item.optional,
                warning=rule.warning.get(lang) if rule.warning and (item.optional or item.contested) else None,
            )
        )
    return out


_CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _clause(clause: str, clause_en: str, lang: Lang) -> str:
    """The contract clause as the letter's language cites it: an English letter never quotes a Russian one."""
    if lang == "en":
        return clause_en or ("" if _CYRILLIC.search(clause) else clause)
    return clause


def _legal(assessment: Assessment, kind: ProviderKind, lang: Lang) -> list[str]:
    lines: list[str] = []
    for rule in assessment.rules:
        extra = rule.basis_by_kind.get(kind)
        if extra is not None and extra.get(lang) not in lines:
            lines.append(extra.get(lang))
        if rule.legal_basis is not None and rule.legal_basis.get(lang) not in lines:
            lines.append(rule.legal_basis.get(lang))
    return lines


def _substance(provider: ProviderSection, assessment: Assessment, fmt: Formatter) -> list[str]:
    """The substantive basis a broker letter rests on in Russia (the deadline rule gives only the procedure)."""
    if provider.kind is not ProviderKind.BROKER or not provider.jurisdiction.strip().upper().startswith("RU"):
        return []
    words = fmt.words["basis_broker_ru"]
    return [*words["always"], *(words["money"] if assessment.items else [])]


def _deadline(assessment: Assessment, kind: ProviderKind, fmt: Formatter) -> dict[str, Any] | None:
    if not assessment.deadlines:
        return None
    d = assessment.deadlines[0]
    rule = d.rule
    escalation = rule.escalation.get(kind.value) or rule.escalation.get("*")
    return {
        "rule": rule,
        "answer_by": d.answer_by,
        "registration_by": d.registration_by,
        "text": fmt.fill(rule.explain[d.explain].get(fmt.lang), d.inputs),
        "escalation": escalation.get(fmt.lang) if escalation else None,
        "calendar": d.calendar,
        # a term the customer asks for (no law sets one): "within 30 days of receipt", never a date as if by law
        "days": d.inputs.get("days") if rule.calculator == "generic_reply" else None,
    }


def _notes(
    assessment: Assessment,
    figures: SlaFigures,
    request: LetterRequest,
    fmt: Formatter,
    book: Rulebook,
    substance: bool = False,
) -> dict[str, Any]:
    """What the customer must check before sending: sources, warnings, what was left out and why."""
    words = fmt.words
    lang = fmt.lang
    sources = []
    for rule in assessment.rules:
        sources.append(
            {
                "title": rule.title.get(lang),
                "id": rule.id,
                "version": rule.version,
                "confidence": words["confidence"][rule.confidence],
                "verified_on": rule.verified_on,
                "urls": [md_escape(u) for u in rule.source_url],
            }
        )
    warnings = []
    for item in assessment.items:
        if item.rule.warning is not None and item.rule.warning.get(lang) not in warnings:
            warnings.append(item.rule.warning.get(lang))
    skipped = []
    for s in assessment.skipped:
        found = book.rules.get(s.rule_id)
        title = found.title.get(lang) if found else s.rule_id
        params = {k: (words[k].get(v, v) if k in ("when", "per") else v) for k, v in s.params.items() if v is not None}
        reason = fmt.fill(str(words["skip"][s.reason]), params)
        skipped.append({"title": title, "id": s.rule_id, "reason": reason})
    notices = [fmt.fill(str(words["notices"][n.key]), n.params) for n in assessment.notices]
    if figures.availability is not None and figures.coverage < LOW_COVERAGE:
        # availability is over counted time only; say what it is if the time without data counts as service
        whole = Decimal(repr(figures.counted_s)) + Decimal(repr(figures.no_data_s))
        share = Decimal(100) * (1 - Decimal(repr(figures.downtime_s)) / whole)
        params = {
            "coverage": _coverage(figures.coverage),
            "availability": Percent(share.quantize(Decimal("0.001"), rounding=ROUND_DOWN)),
            "minimum": Percent(Decimal(round(COVERAGE_MIN * 100))),
        }
        notices.append(fmt.fill(str(words["notices"]["low_coverage"]), params))
    for item in assessment.items:
        if lang == "en" and item.use.clause and not item.use.clause_en and _CYRILLIC.search(item.use.clause):
            notices.append(fmt.fill(str(words["notices"]["clause_not_english"]), {"rule": item.rule.id}))
    if substance:
        urls = ", ".join(md_escape(u) for u in fmt.words["basis_broker_ru"]["sources"])
        notices.append(str(words["notices"]["broker_basis"]).replace("{urls}", urls))
    notices = [n[:1].upper() + n[1:] + ("" if n.endswith(".") else ".") for n in notices]  # each a sentence
    return {"sources": sources, "warnings": warnings, "skipped": skipped, "notices": notices}


def letter_context(
    config: Config,
    provider: ProviderSection,
    period: Period,
    figures: SlaFigures,
    assessment: Assessment,
    request: LetterRequest,
    fmt: Formatter,
    book: Rulebook,
    stamp: StampCheck | None = None,
    paths: Mapping[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything the letter templates render, keyed as they use it.

    ``stamp`` is a verified RFC 3161 token covering the period (the caller checks that it covers it) and
    ``paths`` the journaled routes at the outages' opening by outage id; each is stated only when given.
    """
    zone = fmt.zone
    first_day = to_datetime(period.start_ns, zone).date()
    last_day = to_datetime(period.end_ns - 1, zone).date()
    items = _items(assessment, fmt)
    counted = [i for i in figures.incidents if i.downtime_s > 0]
    excluded = [i for i in figures.incidents if i.downtime_s <= 0]
    rows = _rows(config, figures, request.contacts, provider.sla.restore_within, paths)
    reports = [r for row in rows if (r := first_report(row.refs, row.start.ns, row.end.ns)) is not None]
    notes = _notes(assessment, figures, request, fmt, book, bool(_substance(provider, assessment, fmt)))
    unreported = [r.no for r in rows if r.restore is not None and r.restore.report is None and r.restore.late]
    if unreported:  # the customer should know the letter counted from the start, and why that is the weaker way
        nos = ", ".join(f"№ {n}" if fmt.lang == "ru" else str(n) for n in unreported)
        label = ("перерыву " if len(unreported) == 1 else "перерывам ") if fmt.lang == "ru" else "outage "
        if fmt.lang == "en" and len(unreported) > 1:
            label = "outages "
        text = str(fmt.words["notices"]["restore_from_start"]).replace("{rows}", label + nos)
        notes["notices"].append(text[:1].upper() + text[1:] + ".")
    fee = provider.contract.fee
    role = dict(fmt.words["role"].get(provider.kind.value) or fmt.words["role"]["other"])
    legal = provider.contacts.legal_name.strip()
    if legal:
        party = md_escape(legal)
    elif fmt.lang == "ru":  # a bare trade name does not decline: "между мной и оператором «Мой провайдер»"
        party = f"{role['ins']} «{md_escape(provider.display_name)}»"
    else:
        party = md_escape(provider.display_name)
    return {
        "party": party,
        "role": role,
        "fem": feminine(provider.contract.customer, provider.contract.customer_gender),
        "lang": request.lang,
        "br": "  ",
        "provider": provider,
        "contract": provider.contract,
        "contacts_of": provider.contacts,
        "fee": Money(Decimal(str(fee.amount)), fee.currency).rounded() if fee else None,
        "fee_per": fee.per if fee else None,
        "period": {
            "label": period.label,
            "first": first_day,
            "last": last_day,
            "is_month": bool(re.fullmatch(r"\d{4}-\d{2}", period.label)),
        },
        "zone": str(zone.key),
        "sent_on": request.sent_on,
        "now": Instant(figures.now_ns),
        "partial": figures.now_ns < period.end_ns,
        "rows": rows,
        "counted": counted,
        "excluded": excluded,
        "excluded_s": sum(i.duration_s for i in excluded),
        "first_report": reports[0] if reports else None,
        "promise": _promise(request.contacts, provider.sla.restore_within),
        "restore_late": any(r.restore_excess for r in rows),
        # the outages whose restore deadline the letter states: those past it, and open ones (it is still ahead)
        "restore_rows": [r for r in rows if r.restore is not None and (r.restore.late or r.end.still_open)],
        "figures": figures,
        "availability": None if figures.availability is None else _percent(figures),
        "coverage": _coverage(figures.coverage),
        "target": None if figures.target is None else Percent(Decimal(repr(figures.target)).normalize()),
        "measurement": _measurement(config, provider, request, rows),
        "judgeable": figures.counted_s > 0 and figures.coverage >= COVERAGE_MIN,
        "coverage_min": Percent(Decimal(round(COVERAGE_MIN * 100))),
        "items": [i for i in items if not i.optional],
        "optional_items": [i for i in items if i.optional],
        "all_totals": _sum_all(assessment),
        "deadline": _deadline(assessment, provider.kind, fmt),
        "legal": _legal(assessment, provider.kind, request.lang) + _substance(provider, assessment, fmt),
        "clauses": [i.clause for i in items if i.clause],
        "contacts": sorted(request.contacts, key=lambda c: c.at_ns),
        "attachments": [_attachment(n, h, fmt) for n, h in request.attachments],
        "pack": None
        if request.pack is None
        else {
            "name": md_escape(request.pack.name),
            "sha256": request.pack.sha256,
            "files": [_attachment(n, h, fmt) for n, h in request.pack.files],
        },
        "manifest_sha256": request.manifest_sha256,
        "stamp": None
        if stamp is None
        else {"tsa": md_escape(stamp.tsa), "last_seq": stamp.last_seq, "at": Instant(stamp.gen_time_ns)},
        "notes": notes,
    }


_MALE_ENDINGS = ("вич", "ич", "оглы", "улы", "uly", "ovich", "evich")
_FEMALE_ENDINGS = ("вна", "чна", "шна", "кызы", "гызы", "ovna", "evna", "ichna")


def feminine(customer: str, override: str | None) -> bool | None:
    """The customer's grammatical gender for Russian verbs: the config's choice, else from the patronymic.

    None when neither says (no patronymic): the templates then use wording that needs no gender, never "(а)".
    """
    if override is not None:
        return override == "female"
    for word in customer.split()[1:]:
        w = word.strip(".,").lower()
        if w.endswith(_FEMALE_ENDINGS):
            return True
        if w.endswith(_MALE_ENDINGS):
            return False
    return None


def _promise(contacts: Sequence[ContactEntry], restore_within: float | None) -> dict[str, Any] | None:
    """The restore time promised on a call, when it is the one the letter counts with (else the contract's)."""
    found = first_promise(contacts)
    if found is None or restore_within not in (None, found[1]):
        return None
    return {"contact": found[0], "seconds": found[1]}


def _attachment(name: str, digest: str, fmt: Formatter) -> dict[str, str]:
    """One attached file: its name, SHA-256 and, for the evidence pack's files, what it holds."""
    return {"name": md_escape(name), "sha256": digest, "desc": str(fmt.words["files"].get(name, ""))}


def _coverage(share: float) -> Percent:
    """Coverage to 0.1 %, cut; under 0.1 % two significant digits, so a short run never reads as "0 %"."""
    value = Decimal(repr(share)) * 100
    if value == 0 or value >= Decimal("0.1"):
        return Percent(value.quantize(Decimal("0.1"), rounding=ROUND_DOWN))
    digits = -value.adjusted() + 1  # 0.0023 → adjusted() = -3 → 4 decimals → 0.0023
    return Percent(value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN))


def _percent(figures: SlaFigures) -> Percent:
    """Availability shown to three decimals, cut (never rounded up past a threshold it missed)."""
    assert figures.availability is not None
    exact = Decimal(100) * (1 - Decimal(repr(figures.downtime_s)) / Decimal(repr(figures.counted_s)))
    return Percent(exact.quantize(Decimal("0.001"), rounding=ROUND_DOWN))


def _sum_all(assessment: Assessment) -> list[Money]:
    both = assessment.totals(optional=False)
    for currency, money in assessment.totals(optional=True).items():
        prev = both.get(currency)
        both[currency] = money if prev is None else Money(prev.amount + money.amount, currency)
    return list(both.values())
