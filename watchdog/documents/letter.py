"""Complaint letters: the context a letter needs, built from the journal, and its Markdown and HTML renderings.

:func:`build_letter` takes the config, a provider id, a period, the journal, the contact log and the list
of attachments (name, SHA-256) and computes everything a letter states: the outage table, the SLA figures
(:func:`watchdog.analysis.sla.compute`), the claim items and deadlines
(:func:`watchdog.documents.compensation.assess`) and
how the customer's own line was verified. :func:`render` turns it into Markdown or HTML through the Jinja2
templates in ``watchdog/documents/templates/complaint_*`` (ru: ISP, broker, bank, other; en: UK ISP, generic).

Words live in the templates, the rule files and ``watchdog/documents/locale/letter.*.yaml``; dates, numbers, money
and plurals are formatted per locale with Babel ("154,84 ₽", "8 суток 3 ч"). HTML is made from the same
Markdown by markdown-it-py with raw HTML disabled, so text from the config or the contact log can never
become markup. Every rendered letter is checked against the banned citations of the rulebook.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Literal

import jinja2
from markdown_it import MarkdownIt

from watchdog import __version__
from watchdog.analysis.outages import analyse
from watchdog.analysis.sla import Period, SlaFigures, compute, parse_period
from watchdog.config import Config, ProviderSection
from watchdog.documents.compensation import (
    Assessment,
    ContactEntry,
    Duration,
    Instant,
    Money,
    Percent,
    assess,
    total_loss_intervals,
)
from watchdog.documents.rulebook import Rule, Rulebook, load_rulebook
from watchdog.documents.words import Formatter, Lang, LetterError, load_words, md_escape
from watchdog.journal.store import Journal
from watchdog.model import ProviderKind, Role, Target
from watchdog.timefmt import to_datetime

Format = Literal["md", "html"]
TEMPLATE_PREFIX = "complaint_"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
LOW_COVERAGE = 0.9  # below this share of the period with data, the notes say what the gaps do to the figures
_PLACEHOLDER_MD_RE = re.compile(r"\\\[([^\]\\]+)\\\]")  # \[ФИО\] as the templates' v() macro writes a missing value


# ------------------------------------------------------------------------------------------ request


@dataclass(frozen=True)
class PackRef:
    """The evidence pack a letter comes with: the zip's name and SHA-256, and every file in it with its SHA-256."""

    name: str
    sha256: str
    files: tuple[tuple[str, str], ...]  # (file name, SHA-256 hex) in the pack's order, manifest.json left out


@dataclass(frozen=True)
class LetterRequest:
    """What the customer asks for: which provider and period, in which language, dated when, with what."""

    provider_id: str
    period: str  # 2026-11, 2026-Q4, 2026-11-01..2026-11-15 (see watchdog.analysis.sla.parse_period)
    lang: Lang
    sent_on: dt.date
    contacts: tuple[ContactEntry, ...] = ()
    attachments: tuple[tuple[str, str], ...] = ()  # (file name, SHA-256 hex): files the customer adds
    manifest_sha256: str | None = None  # SHA-256 of the pack's manifest.json
    clock_offset_ms: float | None = None  # the worst NTP offset measured in the period, if known
    include_unverified: bool = False
    pack: PackRef | None = None  # the evidence pack: listed as one attachment with its files nested
    clock_samples: int = 0  # successful NTP measurements in the period
    clock_servers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Probe:
    """One probed target as the letter describes it."""

    kind: str
    address: str
    interval_s: float


@dataclass(frozen=True)
class Measurement:
    """How the windows were measured and how the customer's own line was verified."""

    version: str
    agent: str
    provider_targets: tuple[Probe, ...]
    lan: tuple[Probe, ...]
    internet: tuple[Probe, ...]
    quorum: int
    failure_threshold: int
    success_threshold: int
    max_interval_s: float
    clock_offset_ms: float | None
    clock_samples: int = 0
    clock_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class IncidentRow:
    """One line of the outage table."""

    no: int
    start: Instant
    end: Instant
    duration: Duration
    downtime: Duration
    restore_excess: Duration | None
    refs: tuple[ContactEntry, ...]


@dataclass(frozen=True)
class ItemView:
    """One money demand as printed."""

    rule: Rule
    title: str
    demand: str
    formula: str
    amount: Money
    explain: str
    rounding: str
    clause: str
    optional: bool
    warning: str | None


@dataclass(frozen=True)
class Letter:
    """A built letter: the template to use, its context, and the figures and assessment behind it."""

    lang: Lang
    template: str
    fmt: Formatter
    context: Mapping[str, Any]
    figures: SlaFigures
    assessment: Assessment
    rulebook: Rulebook


# ------------------------------------------------------------------------------------------ building


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
    analysis = analyse(
        journal,
        provider_kinds={p.id: p.kind for p in config.providers},
        quorum=config.quorum,
        since_ns=period.start_ns,
        until_ns=period.end_ns,
        now_ns=now_ns,
    )
    figures = compute(analysis, provider, period, zone)
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
    context = _context(config, provider, period, figures, assessment, request, fmt, book)
    template = template_for(request.lang, provider.kind, provider.jurisdiction)
    return Letter(request.lang, template, fmt, context, figures, assessment, book)


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


def _probe(target: Target) -> Probe:
    return Probe(target.kind, target.address, target.interval_s)


def _measurement(config: Config, provider: ProviderSection, request: LetterRequest) -> Measurement:
    own = config.targets_of(provider.id)
    lan, internet = config.controls(Role.LAN), config.controls(Role.INTERNET)
    everything = [*own, *lan, *internet]
    return Measurement(
        version=__version__,
        agent=config.agent.id,
        provider_targets=tuple(_probe(t) for t in own),
        lan=tuple(_probe(t) for t in lan),
        internet=tuple(_probe(t) for t in internet),
        quorum=config.quorum,
        failure_threshold=max((t.failure_threshold for t in everything), default=3),
        success_threshold=max((t.success_threshold for t in everything), default=2),
        max_interval_s=max((t.interval_s for t in everything), default=0.0),
        clock_offset_ms=request.clock_offset_ms,
        clock_samples=request.clock_samples,
        clock_servers=tuple(md_escape(s) for s in request.clock_servers),
    )


def _rows(figures: SlaFigures, contacts: Sequence[ContactEntry]) -> list[IncidentRow]:
    rows = []
    counted = [i for i in figures.incidents if i.downtime_s > 0]
    for no, inc in enumerate(counted, start=1):
        end_ns = inc.end_ns if inc.end_ns is not None else figures.now_ns
        refs = tuple(c for c in contacts if inc.start_ns <= c.at_ns < end_ns)
        excess = Duration(inc.restore_excess_s) if inc.restore_excess_s else None
        rows.append(
            IncidentRow(
                no=no,
                start=Instant(inc.start_ns),
                end=Instant(end_ns, still_open=inc.end_ns is None),
                duration=Duration(inc.duration_s),
                downtime=Duration(inc.downtime_s),
                restore_excess=excess,
                refs=refs,
            )
        )
    return rows


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
                clause=md_escape(item.use.clause),
                optional=item.optional,
                warning=rule.warning.get(lang) if rule.warning and (item.optional or item.contested) else None,
            )
        )
    return out


def _legal(assessment: Assessment, kind: ProviderKind, lang: Lang) -> list[str]:
    lines: list[str] = []
    for rule in assessment.rules:
        extra = rule.basis_by_kind.get(kind)
        if extra is not None and extra.get(lang) not in lines:
            lines.append(extra.get(lang))
        if rule.legal_basis is not None and rule.legal_basis.get(lang) not in lines:
            lines.append(rule.legal_basis.get(lang))
    return lines


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
    }


def _notes(
    assessment: Assessment, figures: SlaFigures, request: LetterRequest, fmt: Formatter, book: Rulebook
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
        params = {k: (words["when"].get(v, v) if k == "when" else v) for k, v in s.params.items() if v is not None}
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
        }
        notices.append(fmt.fill(str(words["notices"]["low_coverage"]), params))
    notices = [n[:1].upper() + n[1:] + ("" if n.endswith(".") else ".") for n in notices]  # each a sentence
    return {"sources": sources, "warnings": warnings, "skipped": skipped, "notices": notices}


def _context(
    config: Config,
    provider: ProviderSection,
    period: Period,
    figures: SlaFigures,
    assessment: Assessment,
    request: LetterRequest,
    fmt: Formatter,
    book: Rulebook,
) -> dict[str, Any]:
    zone = fmt.zone
    first_day = to_datetime(period.start_ns, zone).date()
    last_day = to_datetime(period.end_ns - 1, zone).date()
    items = _items(assessment, fmt)
    counted = [i for i in figures.incidents if i.downtime_s > 0]
    excluded = [i for i in figures.incidents if i.downtime_s <= 0]
    rows = _rows(figures, request.contacts)
    first_report = next((r for row in rows for r in row.refs), None)
    fee = provider.contract.fee
    return {
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
        "first_report": first_report,
        "restore_late": any(r.restore_excess for r in rows),
        "figures": figures,
        "availability": None if figures.availability is None else _percent(figures),
        "coverage": _coverage(figures.coverage),
        "target": None if figures.target is None else Percent(Decimal(repr(figures.target)).normalize()),
        "measurement": _measurement(config, provider, request),
        "items": [i for i in items if not i.optional],
        "optional_items": [i for i in items if i.optional],
        "all_totals": _sum_all(assessment),
        "deadline": _deadline(assessment, provider.kind, fmt),
        "legal": _legal(assessment, provider.kind, request.lang),
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
        "notes": _notes(assessment, figures, request, fmt, book),
    }


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


# ----------------------------------------------------------------------------------------- rendering


def _environment(fmt: Formatter) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("watchdog.documents", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the output is Markdown: config and log text goes through |md; HTML comes from markdown-it
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    filters: dict[str, Callable[..., str]] = {
        "md": md_escape,
        "money": fmt.money,
        "num": fmt.number,
        "pct": fmt.percent,
        "date": fmt.date,
        "long_date": lambda d: fmt.date(d, long=True),
        "month": fmt.month,
        "local": fmt.instant,
        "utc": fmt.utc,
        "both": fmt.both,
        "dur": fmt.duration,
        "hdur": lambda seconds: fmt.duration(Duration(seconds, in_hours=True)),
        "plural": fmt.plural,
        "contact": lambda c: md_escape(fmt.contact(c)),
        "every": fmt.every,
        "hours": fmt.hours,
        "word": lambda key, group: fmt.words[group].get(key, key),
    }
    env.filters.update(filters)
    return env


def _parts(letter: Letter) -> tuple[dict[str, str], str]:
    """The letter's Markdown parts (draft, header, body, notes) and the whole, checked for banned citations."""
    env = _environment(letter.fmt)
    try:
        template = env.get_template(letter.template)
        parts = {part: template.render(**letter.context, part=part) for part in ("draft", "header", "body")}
        # what the customer still has to fill in: the notes name every [placeholder] left in the letter
        found = _PLACEHOLDER_MD_RE.findall(parts["header"] + parts["body"])
        placeholders = list(dict.fromkeys(f"[{hint}]" for hint in found))
        parts["notes"] = template.render(**letter.context, part="notes", placeholders=placeholders)
    except jinja2.TemplateError as exc:
        raise LetterError(f"template {letter.template}: {exc}") from exc
    markdown = "\n".join(p.strip("\n") + "\n" for p in parts.values() if p.strip())
    problems = letter.rulebook.lint(markdown)
    if problems:
        raise LetterError("the letter cites something it must not: " + "; ".join(problems))
    return parts, markdown


def render(letter: Letter, fmt: Format = "md") -> str:
    """The letter as Markdown or as a standalone HTML page."""
    parts, markdown = _parts(letter)
    if fmt == "md":
        return markdown
    env = _environment(letter.fmt)
    converter = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")
    shell = env.get_template(f"{TEMPLATE_PREFIX}shell.html.j2")
    return shell.render(
        lang=letter.lang,
        title=_title(markdown),
        draft=converter.render(parts["draft"]),
        header=converter.render(parts["header"]),
        body=converter.render(parts["body"]),
        notes=converter.render(parts["notes"]),
    )


def _title(markdown: str) -> str:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return line[2:].strip().replace("\\", "")
    return "letter"


def render_pdf(letter: Letter) -> bytes:
    """The letter as PDF: the same Markdown laid out for print, the notes on pages of their own."""
    from watchdog.documents.letterpdf import PdfText, letter_pdf  # fpdf2 and the fonts load only for PDF letters

    parts, markdown = _parts(letter)
    words = letter.fmt.words["pdf"]
    contract = letter.context["contract"]
    title = _title(markdown)
    footer = [title]
    if contract.number:
        footer.append(str(words["contract"]).format(number=contract.number))
    if contract.customer:
        footer.append(contract.customer)
    text = PdfText(
        lang=letter.lang,
        title=title,
        author=contract.customer or letter.context["measurement"].agent,
        footer=" · ".join(footer),
        page=str(words["page"]),
        notes_footer=str(words["notes_footer"]),
        notes_banner=str(words["banner"]),
        notes_banner_one=str(words["banner_one"]),
        parties_right=letter.lang == "ru",
    )
    created = to_datetime(letter.figures.now_ns)
    return letter_pdf(parts, text, created=created)


SUFFIXES = (".md", ".html", ".htm", ".pdf")


def write(letter: Letter, path: Path) -> None:
    """Write ``letter.md``, ``letter.html`` or ``letter.pdf`` (by the file's suffix)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise LetterError(f"{path}: write .md, .html or .pdf")
    if suffix == ".pdf":
        path.write_bytes(render_pdf(letter))
        return
    text = render(letter, "md" if suffix == ".md" else "html")
    path.write_text(text, encoding="utf-8")


__all__ = [
    "Formatter",
    "Letter",
    "LetterError",
    "LetterRequest",
    "PackRef",
    "build_letter",
    "render",
    "render_pdf",
    "template_for",
    "write",
]
