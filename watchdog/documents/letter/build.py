"""Building a letter: analyse the journal for the provider and period, assess the claim, pick the template."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from watchdog.analysis.outages import Analysis, analyse
from watchdog.analysis.restore import first_promise, log_since, restore_term
from watchdog.analysis.sla import Period, SlaFigures, compute, parse_period
from watchdog.config import Config, ProviderSection
from watchdog.documents.compensation.engine import assess, total_loss_intervals
from watchdog.documents.compensation.values import ContactEntry, Duration, Money
from watchdog.documents.letter.account import balance_lines, lookback, messages_before, reminder_lines
from watchdog.documents.letter.context import letter_context
from watchdog.documents.letter.quality import degraded_hours, degraded_windows, speed_lines
from watchdog.documents.letter.request import ABOUT, ABOUT_OUTAGES, LetterRequest
from watchdog.documents.letter.views import Letter
from watchdog.documents.report import trace_paths
from watchdog.documents.rulebook import Rulebook, load_rulebook
from watchdog.documents.words import Formatter, Lang, LetterError, load_words, md_escape
from watchdog.errors import NothingToClaim
from watchdog.journal.contacts import list_contacts
from watchdog.journal.store import Journal
from watchdog.journal.tsa import StampCheck, newest_stamp
from watchdog.model import ProviderKind

TEMPLATE_PREFIX = "complaint_"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def template_for(lang: Lang, kind: ProviderKind, jurisdiction: str) -> str:
    """The template of a letter: by language, provider kind and (for English ISP letters) the UK."""
    if lang == "ru":
        variant = {ProviderKind.ISP: "isp", ProviderKind.BROKER: "broker", ProviderKind.BANK: "bank"}.get(kind, "other")
        return f"{TEMPLATE_PREFIX}ru_{variant}.md.j2"
    if kind is ProviderKind.ISP and jurisdiction.strip().upper().startswith("UK"):
        return f"{TEMPLATE_PREFIX}en_uk_isp.md.j2"
    return f"{TEMPLATE_PREFIX}en_generic.md.j2"


def build_letter(
    config: Config,
    journal: Journal,
    request: LetterRequest,
    *,
    now_ns: int,
    rulebook: Rulebook | None = None,
) -> Letter:
    """Analyse the journal for the provider and period and assemble everything the letter states."""
    provider = config.provider(request.provider_id)
    zone = config.provider_zone(provider.id)
    try:
        period = parse_period(request.period, zone)
    except ValueError as exc:
        raise LetterError(str(exc)) from None
    _check_attachments(request)
    book = rulebook or load_rulebook()
    analysis = _analysis(config, journal, period, now_ns)
    request = _with_earlier_reports(journal, analysis, provider.id, period, request)
    term = restore_term(provider.sla.restore_within, request.contacts)
    if term is not None and term.source == "promise":
        # the restore time the operator named on a call stands where the contract names none (the letter says so)
        sla = provider.sla.model_copy(update={"restore_within": term.within_s})
        provider = provider.model_copy(update={"sla": sla})
    figures = compute(analysis, provider, period, zone, request.contacts)
    about = resolve_about(figures, request)
    check_claimable(figures, about, request)
    loss = total_loss_intervals(analysis) if provider.kind is ProviderKind.ISP else []
    assessment = assess(
        figures,
        provider,
        book,
        sent_on=request.sent_on,
        zone=zone,
        contacts=request.contacts,
        total_loss=loss,
        include_unverified=request.include_unverified,
    )
    jurisdiction = book.jurisdiction(provider.jurisdiction)
    locale = "ru_RU" if request.lang == "ru" else (jurisdiction.locale_en if jurisdiction else "en_GB")
    fmt = Formatter(request.lang, locale, zone, load_words(request.lang))
    # support, other: no money the outages would give; warning: a block for an empty balance is not the
    # provider's failure, so no recalculation is claimed for it (the grievance is the missing notice)
    if about not in ABOUT_OUTAGES or about == "warning":  # quality: no money rule for degradation yet
        assessment = replace(assessment, items=())
    ru_law = provider.jurisdiction.strip().upper().startswith("RU")
    stamp, paths = _proofs(journal, analysis, period, now_ns)
    context = letter_context(config, provider, period, figures, assessment, request, fmt, book, stamp, paths) | {
        "about": about,
        "details": _details(request, provider, fmt),
        "ru_law": ru_law,
        "about_basis": list(fmt.words["basis_about"].get(about, [])) if ru_law else [],
        # where the restore time comes from: the contract's sla.restore_within, or only the promise on a call
        "restore_source": None if term is None else term.source,
    }
    if term is not None and term.source == "promise" and context["restore_rows"]:
        # the customer should know the deadline rests on an oral promise, and why no penalty is claimed for it
        first = first_promise(request.contacts)
        assert first is not None
        key = "restore_promise_only_ru" if ru_law else "restore_promise_only"
        params = {"promise": Duration(term.within_s, in_hours=True), "contact": fmt.contact_line(first[0])}
        text = fmt.fill(str(fmt.words["notices"][key]), params)
        context["notes"]["notices"].append(text[:1].upper() + text[1:] + ".")
    if about == "warning":
        fee = provider.contract.fee
        currency = provider.account.currency if provider.account else fee.currency if fee else "RUB"
        since = lookback(period, zone)
        context["lookback"] = since
        context["balances"] = balance_lines(journal, provider, period, since, now_ns, currency)
        context["reminders"] = reminder_lines(journal, config, provider, period, since, now_ns)
        context["inbound_before"] = messages_before(journal, provider, period, since)
        if context["inbound_before"] or any(c.direction == "in" for c in request.contacts):
            words = fmt.words["notices"]["inbound"]
            params = {"days": since.days, "role": context["role"]["gen"]}
            context["notes"]["notices"].append(fmt.fill(str(words), params))
        if context["reminders"]:
            context["notes"]["notices"].append(str(fmt.words["notices"]["outbox"]))
    if about == "quality":
        context["degraded"] = degraded_windows(journal, figures, now_ns, analysis)
        context["degraded_left_out"] = len(figures.degraded) - len(context["degraded"])
        context["hours"] = degraded_hours(config, provider, analysis, figures, period, now_ns)
        context["speed"] = speed_lines(journal, config, provider, period, now_ns)
        if not context["degraded"] and not any(s.below for s in context["speed"]):
            raise NothingToClaim(
                f"no degraded window of provider {provider.id!r} with time on its side, and no speed test below the "
                f"contract in {period.label}: there is no degraded service to complain of"
            )
        _quality_law(context, provider, book, fmt)
    if about == "support" and ru_law and provider.kind is ProviderKind.OTHER:  # 10 days, ст. 31 ЗоЗПП
        context["answer_by"] = request.sent_on + dt.timedelta(days=10)
    template = template_for(request.lang, provider.kind, provider.jurisdiction)
    return Letter(request.lang, template, fmt, context, figures, assessment, book)


def _quality_law(context: dict[str, Any], provider: ProviderSection, book: Rulebook, fmt: Formatter) -> None:
    """A quality letter cites only what covers degraded service: the rights whose fact holds, no money rule.

    The money rules are about outages (the UK automatic compensation covers a total loss of service, not slow
    speed), so they are neither claimed nor listed as left out; a right rule (the UK broadband speeds code's
    exit right) is cited with its demand when its fact holds: download tests below a guaranteed minimum the
    contract sets (``sla.minimum``; the advertised speed alone is not a guaranteed minimum).
    """
    below = next((s for s in context["speed"] if s.direction == "download" and s.below and s.minimum is not None), None)
    rights = []
    if below is not None and provider.sla.minimum is not None:
        rights = book.rights(provider.kind, provider.jurisdiction, "speed_below_minimum")
    unit = "Мбит/с" if fmt.lang == "ru" else "Mbit/s"
    minimum = f"{fmt.value(below.minimum)} {unit}" if below is not None else ""
    context["rights"] = [fmt.fill(r.demand.get(fmt.lang), {"minimum": minimum}) for r in rights if r.demand]
    context["legal"] = [*context["legal"], *(r.legal_basis.get(fmt.lang) for r in rights if r.legal_basis)]
    notes = context["notes"]
    money = {r.id for r in book.rules.values() if r.kind == "money"}
    notes["skipped"] = [s for s in notes["skipped"] if s["id"] not in money]
    for r in rights:
        notes["sources"].append(
            {
                "title": r.title.get(fmt.lang),
                "id": r.id,
                "version": r.version,
                "confidence": fmt.words["confidence"][r.confidence],
                "verified_on": r.verified_on,
                "urls": [md_escape(u) for u in r.source_url],
            }
        )
        if r.warning is not None:
            notes["warnings"].append(r.warning.get(fmt.lang))


def _proofs(
    journal: Journal, analysis: Analysis, period: Period, now_ns: int
) -> tuple[StampCheck | None, dict[int, dict[str, Any]]]:
    """The newest verified RFC 3161 token, when it covers every row of the period up to now, and the routes.

    A token that covers only part of the period is not mentioned: the letter's sentence speaks of the journal
    as a whole ("rows up to No. N"), and it is true of the claimed period only when N reaches its last row.
    """
    end = min(period.end_ns, now_ns)
    stamp = newest_stamp(journal.conn, journal.journal_id, until_ns=now_ns)
    if stamp is not None and journal.written_after(stamp.last_seq, end):
        stamp = None
    ids = {a.outage.id for a in analysis.outages}
    return stamp, trace_paths(journal, ids, period.start_ns, end)


def _details(request: LetterRequest, provider: ProviderSection, fmt: Formatter) -> dict[str, str]:
    """What the customer states, escaped, with dates and money in the letter's format."""
    keys = ("paid_on", "amount", "payment_ref", "offered", "asked", "damages", "damages_note", "what", "text")
    out = dict.fromkeys((*keys, "amount_money", "damages_money", "paid_on_text"), "")
    out |= {k: md_escape(v) for k, v in request.details}
    fee = provider.contract.fee
    by_country = {"RU": "RUB", "UK": "GBP", "DE": "EUR", "US": "USD"}
    country = provider.jurisdiction.strip().upper()[:2]
    currency = fee.currency if fee else by_country.get(country, "RUB" if fmt.lang == "ru" else "EUR")
    for key in ("amount", "damages"):
        if out[key]:
            out[f"{key}_money"] = fmt.money(Money(Decimal(out[key]), currency).rounded())
    if out["paid_on"]:
        out["paid_on_text"] = fmt.date(dt.date.fromisoformat(out["paid_on"]))
    return out


def promise_of(contacts: Sequence[ContactEntry]) -> tuple[ContactEntry, float] | None:
    """The first restore time the provider promised on a contact ("72h"), when the log records one."""
    return first_promise(contacts)


def _analysis(config: Config, journal: Journal, period: Period, now_ns: int) -> Analysis:
    """The analysis of the period (outages overlapping it, with their whole attribution)."""
    return analyse(
        journal,
        provider_kinds={p.id: p.kind for p in config.providers},
        quorum=config.quorum,
        since_ns=period.start_ns,
        until_ns=period.end_ns,
        now_ns=now_ns,
    )


def _with_earlier_reports(
    journal: Journal, analysis: Analysis, provider_id: str, period: Period, request: LetterRequest
) -> LetterRequest:
    """The request with the contacts logged before the period within an incident that began before it.

    A fault reported before the period started is the report its restore deadline runs from, as in the report and
    the notifier (watchdog.analysis.restore.log_since); the contacts given for the period do not hold it.
    """
    since = log_since(period.start_ns, (a.outage.start_ns for a in analysis.for_provider(provider_id)))
    if since >= period.start_ns:
        return request
    have = {(c.at_ns, c.channel, c.ref, c.note) for c in request.contacts}
    earlier = [
        ContactEntry(
            c.at_ns, c.channel, c.ref, c.note, c.direction, c.duration_s, c.promised, c.ref_given, c.recorded_ns
        )
        for c in list_contacts(journal, provider_id, since, period.start_ns)
        if (c.at_ns, c.channel, c.ref, c.note) not in have
    ]
    if not earlier:
        return request
    return replace(request, contacts=tuple(sorted([*earlier, *request.contacts], key=lambda c: c.at_ns)))


def resolve_about(figures: SlaFigures, request: LetterRequest) -> str:
    """The grievance: as asked, else outage (the journal holds outages; the other grievances are stated)."""
    if request.about:
        if request.about not in ABOUT:
            raise LetterError(f"--about must be one of {', '.join(ABOUT)}, got {request.about!r}")
        return request.about
    return "outage"  # an outage letter states a late repair too; --about restore makes it the subject


_NEEDS = {
    "billing": (("paid_on", "--paid-on"), ("amount", "--amount")),
    "other": (("text", "--text"),),
}


def check_claimable(figures: SlaFigures, about: str = "outage", request: LetterRequest | None = None) -> None:
    """Refuse a letter that would have nothing true to state: no data, no outage, nothing the grievance needs."""
    label, provider = figures.period.label, figures.provider
    details = dict(request.details) if request is not None else {}
    for key, flag in _NEEDS.get(about, ()):
        if not details.get(key, "").strip():
            raise NothingToClaim(f"a letter --about {about} states what you give with {flag}; it is missing")
    if about == "support":
        if request is None or not request.contacts:
            raise NothingToClaim(
                f"a letter --about support lists your contacts with provider {provider!r} in {label}, and the "
                "contact log has none (add them with watchdog contact add)"
            )
        return
    if about == "other":
        return
    if figures.counted_s <= 0:
        raise NothingToClaim(
            f"no monitoring data for provider {provider!r} in {label}: a letter could state nothing "
            "(pick a period the agent watched; watchdog report shows what it has)"
        )
    if about == "quality":  # degraded windows and speed tests are checked when the letter is built
        return
    if not figures.counted_incidents:
        raise NothingToClaim(
            f"no outage of provider {provider!r} was counted in {label}: there is no outage to complain of "
            "(watchdog report shows the period's figures; --about support|other need no outage)"
        )
    if about == "restore" and not figures.past_restore:
        raise NothingToClaim(
            f"no outage of provider {provider!r} in {label} ran past its restore deadline (sla.restore_within, "
            "counted from your first fault report of the outage in the contact log, else from its start): there is "
            "no late repair to complain of"
        )


def _check_attachments(request: LetterRequest) -> None:
    files = list(request.attachments)
    if request.pack is not None:
        files += [(request.pack.name, request.pack.sha256), *request.pack.files]
    for name, digest in files:
        if not name.strip():
            raise LetterError("an attachment has no file name")
        if not _SHA256_RE.match(digest):
            raise LetterError(f"attachment {name!r}: SHA-256 must be 64 lowercase hex digits, got {digest!r}")
    if request.manifest_sha256 is not None and not _SHA256_RE.match(request.manifest_sha256):
        raise LetterError(f"manifest SHA-256 must be 64 lowercase hex digits, got {request.manifest_sha256!r}")
