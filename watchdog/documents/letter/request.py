"""What the customer asks a letter for: provider, period, language, date, contact log and attachments."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from watchdog.documents.compensation.values import ContactEntry
from watchdog.documents.words import Lang


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
    about: str = ""  # the grievance (ABOUT); "" = outage
    # what the customer states for the grievance: paid_on, amount, payment_ref, offered (billing); asked,
    # damages, damages_note (support); what (warning); text (other)
    details: tuple[tuple[str, str], ...] = ()


ABOUT = ("outage", "restore", "support", "billing", "warning", "quality", "other")
# the grievances whose letter rests on outages in the journal (the others rest on what the customer states)
ABOUT_OUTAGES = ("outage", "restore", "billing", "warning")
