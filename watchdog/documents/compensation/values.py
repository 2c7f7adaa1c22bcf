"""The values a claim is made of and a letter prints: money, durations, instants, percentages, contact-log entries."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in a currency (ISO 4217 code)."""

    amount: Decimal
    currency: str

    def rounded(self) -> Money:
        """Rounded to the currency's minor unit, halves up."""
        exponent = Decimal(1).scaleb(-get_currency_precision(self.currency))
        return Money(self.amount.quantize(exponent, rounding=ROUND_HALF_UP), self.currency)

    def times(self, factor: Decimal | int) -> Money:
        """Unrounded product."""
        return Money(self.amount * Decimal(factor), self.currency)


@dataclass(frozen=True, slots=True)
class Duration:
    """A length of time, printed per locale ("7 суток 22 ч 30 мин"; ``in_hours``: "72 ч", as contracts say)."""

    seconds: float
    in_hours: bool = False


@dataclass(frozen=True, slots=True)
class Instant:
    """A moment, printed in local time with its UTC offset; ``still_open``: "not restored as of"."""

    ns: int
    still_open: bool = False


@dataclass(frozen=True, slots=True)
class Percent:
    """A percentage, printed with the decimals it carries ("3 %", "98,699 %")."""

    value: Decimal


@dataclass(frozen=True, slots=True)
class Breakdown:
    """A sum of amounts times counts, printed "£9.98 × 2 + £10.34 × 3"."""

    parts: tuple[tuple[Money, int], ...]


@dataclass(frozen=True, slots=True)
class ContactEntry:
    """One entry of the customer's contact log: a call, e-mail, chat or visit, with the provider's ref."""

    at_ns: int
    channel: str  # phone | email | chat | visit | letter | portal
    ref: str = ""
    note: str = ""
    direction: str = ""  # in: the provider contacted me; out: I contacted them; "": not recorded
    duration_s: float | None = None
    promised: str = ""  # what the provider promised on the call ("72h")
    ref_given: bool | None = None  # False: no request number was given
    recorded_ns: int | None = None  # when the entry was written (later than at_ns for a back-dated one)

    @property
    def backdated(self) -> bool:
        """Written down more than an hour after the contact: the letter says so."""
        return self.recorded_ns is not None and self.recorded_ns - self.at_ns > 3600 * 10**9
