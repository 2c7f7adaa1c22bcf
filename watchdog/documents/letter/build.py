"""Building a letter: analyse the journal for the provider and period, assess the claim, pick the template."""

from __future__ import annotations

import re

from watchdog.analysis.outages import Analysis, analyse
from watchdog.analysis.sla import Period, SlaFigures, compute, parse_period
from watchdog.config import Config
from watchdog.documents.compensation.engine import assess, total_loss_intervals
from watchdog.documents.letter.context import letter_context
from watchdog.documents.letter.request import LetterRequest
from watchdog.documents.letter.views import Letter
from watchdog.documents.rulebook import Rulebook, load_rulebook
from watchdog.documents.words import Formatter, Lang, LetterError, load_words
from watchdog.journal.store import Journal
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
    analysis, figures = _figures(config, journal, request.provider_id, period, now_ns)
    check_claimable(figures)
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
    context = letter_context(config, provider, period, figures, assessment, request, fmt, book)
    template = template_for(request.lang, provider.kind, provider.jurisdiction)
    return Letter(request.lang, template, fmt, context, figures, assessment, book)


def _figures(
    config: Config, journal: Journal, provider_id: str, period: Period, now_ns: int
) -> tuple[Analysis, SlaFigures]:
    provider = config.provider(provider_id)
    analysis = analyse(
        journal,
        provider_kinds={p.id: p.kind for p in config.providers},
        quorum=config.quorum,
        since_ns=period.start_ns,
        until_ns=period.end_ns,
        now_ns=now_ns,
    )
    return analysis, compute(analysis, provider, period, config.provider_zone(provider.id))


def check_claimable(figures: SlaFigures) -> None:
    """Refuse a letter that would have nothing true to state: no monitoring data, or no outage to complain of."""
    label, provider = figures.period.label, figures.provider
    if figures.counted_s <= 0:
        raise LetterError(
            f"no monitoring data for provider {provider!r} in {label}: a letter could state nothing "
            "(pick a period the agent watched; watchdog report shows what it has)"
        )
    if not figures.counted_incidents:
        raise LetterError(
            f"no outage of provider {provider!r} was counted in {label}: there is no outage to complain of "
            "(watchdog report shows the period's figures)"
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
