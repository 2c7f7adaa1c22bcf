"""The compensation engine: pure functions from SLA figures, contract, contact log and rules to claims.

:func:`assess` takes what a letter rests on — the period's SLA figures (:func:`watchdog.analysis.sla.compute`),
the provider's config section (contract, SLA, ``compensation:`` entries, jurisdiction), the contact
log, the stretches when the service was lost entirely (all internet controls down while the LAN was
up, from :func:`total_loss_intervals`), the rulebook and the letter's date — and returns an
:class:`Assessment`: claim items, each with its amount (``Decimal`` and currency), the formula variant
and the typed inputs the letter prints, and the rule that gives the rounding, legal basis and flags;
answer deadlines counted on working-day calendars; and the rules that gave nothing, with the reason.

Money is ``Decimal``, never float. Inputs that are printed (hours, days) are rounded first, as the rule
states, so anyone can recompute the printed amount from the printed numbers; amounts are rounded to the
currency's minor unit, halves up. Words live in the rule files and the templates; this module returns
keys and numbers only.

Where each part lives: the values (:mod:`.values`: Money, Duration, Instant, Percent, Breakdown, ContactEntry),
what an assessment returns (:mod:`.results`), what a calculator sees of the period (:mod:`.context`), the money
calculators (:mod:`.calculators`), the deadline calculators (:mod:`.deadlines`) and the engine that runs them
(:mod:`.engine`: :func:`assess`, :func:`total_loss_intervals`). Everything public is re-exported here.
"""

from __future__ import annotations

from watchdog.documents.compensation.calculators import MONEY, Result
from watchdog.documents.compensation.context import DAY_S, HOUR_S
from watchdog.documents.compensation.deadlines import DEADLINES, DeadlineResult
from watchdog.documents.compensation.engine import assess, calendar_for, total_loss_intervals
from watchdog.documents.compensation.results import Assessment, ClaimItem, Deadline, Notice, Skipped
from watchdog.documents.compensation.values import Breakdown, ContactEntry, Duration, Instant, Money, Percent

__all__ = [
    "DAY_S",
    "DEADLINES",
    "HOUR_S",
    "MONEY",
    "Assessment",
    "Breakdown",
    "ClaimItem",
    "ContactEntry",
    "Deadline",
    "DeadlineResult",
    "Duration",
    "Instant",
    "Money",
    "Notice",
    "Percent",
    "Result",
    "Skipped",
    "assess",
    "calendar_for",
    "total_loss_intervals",
]
