"""What an assessment returns: claim items, answer deadlines, skipped rules and notices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from watchdog.documents.compensation.values import Money
from watchdog.documents.rulebook import Rule, RuleUse


@dataclass(frozen=True, slots=True)
class ClaimItem:
    """One demand with money: the amount, how it was computed, and the rule it rests on."""

    use: RuleUse
    amount: Money
    formula: str  # key into rule.formula
    explain: str | None  # key into rule.explain
    inputs: Mapping[str, Any]
    optional: bool
    incident: int | None = None  # index into SlaFigures.incidents (None: the whole period)

    @property
    def rule(self) -> Rule:
        """The rule behind the item."""
        return self.use.rule

    @property
    def contested(self) -> bool:
        """True when the letter must print the rule's warning with it."""
        return self.use.rule.flags.contested


@dataclass(frozen=True, slots=True)
class Deadline:
    """When the provider must answer, and where the customer goes next."""

    use: RuleUse
    received_on: dt.date
    registration_by: dt.date | None
    answer_by: dt.date
    explain: str  # key into rule.explain
    inputs: Mapping[str, Any]
    calendar: str | None  # the working-day calendar used, if any

    @property
    def rule(self) -> Rule:
        """The rule behind the deadline."""
        return self.use.rule


@dataclass(frozen=True, slots=True)
class Skipped:
    """A rule that gave nothing, with a reason key (worded in the letter locale files) and its values."""

    rule_id: str
    reason: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the customer must know before sending (worded in the letter locale files)."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    """What the customer can claim for one provider and period."""

    items: tuple[ClaimItem, ...]
    deadlines: tuple[Deadline, ...]
    skipped: tuple[Skipped, ...]
    notices: tuple[Notice, ...]

    def totals(self, *, optional: bool) -> dict[str, Money]:
        """Sum per currency of the items that are (or are not) optional."""
        out: dict[str, Money] = {}
        for item in self.items:
            if item.optional != optional:
                continue
            prev = out.get(item.amount.currency, Money(Decimal(0), item.amount.currency))
            out[item.amount.currency] = Money(prev.amount + item.amount.amount, prev.currency)
        return out

    @property
    def rules(self) -> list[Rule]:
        """The rules that produced an item or a deadline, each once, in letter order."""
        seen: dict[str, Rule] = {}
        for rule in [i.rule for i in self.items] + [d.rule for d in self.deadlines]:
            seen.setdefault(rule.id, rule)
        return list(seen.values())
