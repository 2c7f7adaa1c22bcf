"""Account balances: what the customer (``watchdog balance set``) or a probe read says is left, as chained events.

A ``balance`` event records the amount, its currency, when it was true (``at_ns``, which the customer
may give afterwards) and where it came from (``manual`` or ``target:metric``). Like a contact it is
sealed at once: "I had 450 ₽ on the 1st and was cut on the 20th without a warning" meets a dated,
chained entry. The projection of when it runs out is :func:`watchdog.analysis.balance.project`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from watchdog.journal.store import Journal

EV_BALANCE = "balance"
MAX_FUTURE_S = 300
MAX_NOTE_CHARS = 2_000
MAX_AMOUNT = Decimal("1e12")


@dataclass(frozen=True, slots=True)
class Balance:
    """One balance reading."""

    seq: int
    recorded_ns: int
    at_ns: int
    provider: str
    amount: Decimal
    currency: str
    source: str  # manual | target:metric
    note: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data (the amount as a string: no float rounding of money)."""
        return {
            "seq": self.seq,
            "recorded_ns": self.recorded_ns,
            "at_ns": self.at_ns,
            "provider": self.provider,
            "amount": str(self.amount),
            "currency": self.currency,
            "source": self.source,
            "note": self.note,
        }


def parse_amount(text: str) -> Decimal:
    """``450``, ``450.50``, ``450,50``, ``-12`` → Decimal; ValueError with a clear message otherwise."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r} (write 450 or 450.50)") from None
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT:
        raise ValueError(f"not an amount: {text!r}")
    return amount.quantize(Decimal("0.01"))


def add_balance(
    journal: Journal,
    *,
    provider: str,
    amount: Decimal,
    currency: str,
    at_ns: int | None = None,
    now_ns: int | None = None,
    source: str = "manual",
    note: str = "",
    seal: bool = True,
) -> Balance:
    """Write one reading (and seal it into the chain, safe while an agent writes the same journal)."""
    now = time.time_ns() if now_ns is None else now_ns
    at = now if at_ns is None else at_ns
    if at > now + MAX_FUTURE_S * 1_000_000_000:
        raise ValueError("--at lies in the future; give the time the balance was shown")
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"--note is longer than {MAX_NOTE_CHARS} characters")
    seq = journal.add_event(EV_BALANCE, balance_data(provider, amount, currency, at, source, note), ts_ns=now)
    if seal:
        journal.seal(now_ns=now)
    return Balance(seq, now, at, provider, amount, currency, source, note.strip())


def balance_data(
    provider: str, amount: Decimal, currency: str, at_ns: int, source: str, note: str = ""
) -> dict[str, Any]:
    """A ``balance`` event's data (the agent writes the same shape when a probe reads a balance)."""
    return {
        "provider": provider,
        "amount": str(amount),
        "currency": currency,
        "at_ns": at_ns,
        "source": source,
        "note": note.strip(),
    }


def from_event(seq: int, ts_ns: int, data: dict[str, Any]) -> Balance | None:
    """A ``balance`` event → Balance (None for a malformed one: evidence is read, not trusted to parse)."""
    try:
        return Balance(
            seq,
            ts_ns,
            int(data.get("at_ns", ts_ns)),
            str(data["provider"]),
            Decimal(str(data["amount"])),
            str(data.get("currency", "")),
            str(data.get("source", "manual")),
            str(data.get("note", "")),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return None


def list_balances(journal: Journal, provider: str | None = None) -> list[Balance]:
    """Every reading (of one provider), by the time it was true."""
    out = []
    for e in journal.events([EV_BALANCE]):
        b = from_event(e.seq, e.ts_ns, e.data)
        if b is not None and (provider is None or b.provider == provider):
            out.append(b)
    out.sort(key=lambda b: (b.at_ns, b.seq))
    return out


def latest_balances(journal: Journal) -> dict[str, Balance]:
    """The latest reading of each provider."""
    return {b.provider: b for b in list_balances(journal)}
