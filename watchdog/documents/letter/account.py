"""What a "no warning before a block" letter states about the account: balance readings and the agent's own reminders.

Balance readings are chained ``balance`` events (``watchdog balance set``, or an http probe's balance metric
via ``account.balance_from``). The reminders are rows of ``notify_outbox``, the agent's durable outbox in the
journal file: an operational table, not chained, so the letter names them as the monitoring program's own
messages to the customer (never as the provider's) and the notes say they are not part of the hash chain.

A block often opens the period the customer complains of, and what warned of it came before: so both lists
reach back ``LOOKBACK_DAYS`` before the period's first day (the letter says from which day), no further.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from watchdog.analysis.sla import Period
from watchdog.config import Config, ProviderSection
from watchdog.documents.compensation.values import ContactEntry, Instant, Money
from watchdog.documents.words import md_escape
from watchdog.journal.balance import list_balances
from watchdog.journal.contacts import list_contacts
from watchdog.journal.store import Journal
from watchdog.timefmt import to_datetime, to_ns

_OUTBOX = "notify_outbox"
LOOKBACK_DAYS = 45
"""How far before the period the letter looks for the readings and reminders that led up to a block."""


@dataclass(frozen=True)
class Lookback:
    """The first day the lists reach back to, ``days`` before the period's first day, and its start."""

    days: int
    first: dt.date
    start_ns: int


def lookback(period: Period, zone: ZoneInfo, days: int = LOOKBACK_DAYS) -> Lookback:
    """The local midnight ``days`` days before the period's first day (a day of 23 or 25 hours counts as one)."""
    first = to_datetime(period.start_ns, zone).date() - dt.timedelta(days=days)
    return Lookback(days, first, to_ns(dt.datetime.combine(first, dt.time(), tzinfo=zone)))


@dataclass(frozen=True)
class BalanceLine:
    """One balance reading as the letter states it."""

    at: Instant  # when the amount was true
    recorded: Instant | None  # when it was written, if later than ``at`` by more than a minute
    amount: Money
    source: str  # "manual", or the probe's "target:metric"
    earlier: bool = False  # read before the lookback: the balance that stood when it began


@dataclass(frozen=True)
class ReminderLine:
    """One reminder the agent queued for one channel, and whether (and when) it was delivered."""

    kind: str  # balance | account | reminder
    subject: str | dt.date  # the projected run-out date (balance), the expiry date (account), the reminder's name
    channel: str
    created: Instant
    delivered: Instant | None
    attempts: int


def _slug(name: str) -> str:
    """The key-safe form of a name (watchdog.notify.deadlines.Deadline.slug, which this layer cannot import)."""
    text = "".join(c if c.isalnum() else "-" for c in name.strip().lower())
    return "-".join(part for part in text.split("-") if part)[:40] or "deadline"


def messages_before(journal: Journal, provider: ProviderSection, period: Period, since: Lookback) -> list[ContactEntry]:
    """The provider's messages to the customer (contact log, direction ``in``) in the lookback before the period.

    "Without notice" is said of them too: a notice that came a week before a period that opens with the block
    is the one that counts, so the letter names them and the notes ask the customer to reread them.
    """
    return [
        ContactEntry(
            c.at_ns, c.channel, c.ref, c.note, c.direction, c.duration_s, c.promised, c.ref_given, c.recorded_ns
        )
        for c in list_contacts(journal, provider.id, since.start_ns, period.start_ns)
        if c.direction == "in"
    ]


def balance_lines(
    journal: Journal, provider: ProviderSection, period: Period, since: Lookback, now_ns: int, currency: str
) -> list[BalanceLine]:
    """The readings of the period (up to now) and of the lookback before it.

    When none falls in the lookback before the period, the last reading before the lookback comes first (marked
    ``earlier``): it is the balance the agent projected from while the period drew near.
    """
    end = min(period.end_ns, now_ns)
    readings = [b for b in list_balances(journal, provider.id) if b.at_ns < end]
    chosen = [b for b in readings if b.at_ns >= since.start_ns]
    older = [b for b in readings if b.at_ns < since.start_ns]
    if older and not any(b.at_ns < period.start_ns for b in chosen):
        chosen.insert(0, older[-1])
    return [
        BalanceLine(
            Instant(b.at_ns),
            Instant(b.recorded_ns) if b.recorded_ns - b.at_ns > 60 * 10**9 else None,
            Money(Decimal(b.amount), b.currency or currency).rounded(),
            md_escape(b.source),
            b.at_ns < since.start_ns,
        )
        for b in chosen
    ]


def reminder_lines(
    journal: Journal, config: Config, provider: ProviderSection, period: Period, since: Lookback, now_ns: int
) -> list[ReminderLine]:
    """The agent's balance, account and (this provider's) reminder messages queued in the period and lookback."""
    exists = journal.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_OUTBOX,)
    ).fetchone()
    if exists is None:
        return []
    slug = _slug(provider.id)
    prefixes = {f"balance/{slug}/": "balance"}
    if provider.account is not None and provider.account.expiry_from is not None:
        metric = provider.account.expiry_from.split(":", 1)[1]
        prefixes[f"account/{_slug(f'{provider.id}-{metric}')}/"] = "account"
    for r in config.model.reminders:
        if r.provider == provider.id:
            prefixes[f"reminder/{_slug(r.name)}/"] = "reminder"
    names = {f"reminder/{_slug(r.name)}/": r.name for r in config.model.reminders if r.provider == provider.id}
    rows = journal.conn.execute(
        f"SELECT key, channel, created_ns, delivered_ns, attempts FROM {_OUTBOX} "
        "WHERE created_ns >= ? AND created_ns < ? ORDER BY created_ns, id",
        (since.start_ns, min(period.end_ns, now_ns)),
    ).fetchall()
    out = []
    for key, channel, created, delivered, attempts in rows:
        prefix = next((p for p in prefixes if str(key).startswith(p)), None)
        if prefix is None:
            continue
        kind = prefixes[prefix]
        rest = str(key)[len(prefix) :].split("/")
        if kind == "reminder":
            subject: str | dt.date = md_escape(names[prefix])
        else:
            try:
                subject = dt.date.fromisoformat(rest[0])
            except ValueError:
                continue  # not a key this version writes
        out.append(
            ReminderLine(
                kind,
                subject,
                md_escape(str(channel)),
                Instant(int(created)),
                None if delivered is None else Instant(int(delivered)),
                int(attempts),
            )
        )
    return out
