"""The restore deadline of an incident: the promised restore time counted from the customer's fault report.

A provider's promise to restore service "within 72 h" runs from when it learnt of the fault: the first
entry of the customer's contact log inside the incident that is not the provider's own call to them
(``direction == "in"``). When the log has no such entry the deadline is counted from the incident's start,
and whoever states it says so. Letters, claims, the report and the notifier's reminders all take the deadline
from here, so they never disagree about when it ran out.

The promised time is the contract's ``sla.restore_within``; where the contract names none, the restore time
the provider named on a logged contact (``watchdog contact add … --promised 72h``) stands in its place
(:func:`restore_term`), and whoever states it says it comes from that contact. The contact log is read from
the start of the earliest incident counted (:func:`log_since`), not only from the period's start: an outage
that began before the period may have been reported before it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from watchdog.model import NS
from watchdog.units import parse_duration


class Logged(Protocol):
    """A contact-log entry as far as the deadline needs it (the journal's Contact and the letter's entry)."""

    @property
    def at_ns(self) -> int: ...

    @property
    def direction(self) -> str: ...


L = TypeVar("L", bound=Logged)


class Promising(Logged, Protocol):
    """A contact-log entry that may record a promised restore time (``promised``: "72h", or any text)."""

    @property
    def promised(self) -> str: ...


P = TypeVar("P", bound=Promising)


def promised_s(entry: Promising) -> float | None:
    """The restore time an entry records as promised, in seconds; None when it records none or not a duration."""
    if not entry.promised:
        return None
    try:
        seconds = parse_duration(entry.promised)
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def first_promise(contacts: Iterable[P]) -> tuple[P, float] | None:
    """The first contact (by time) on which the provider named a restore time, with that time in seconds."""
    for c in sorted(contacts, key=lambda c: c.at_ns):
        seconds = promised_s(c)
        if seconds is not None:
            return c, seconds
    return None


@dataclass(frozen=True, slots=True)
class RestoreTerm:
    """The restore time the deadlines count with, and where it comes from."""

    within_s: float
    source: Literal["contract", "promise"]
    promise_ns: int | None = None  # source "promise": when the contact that named it took place


def restore_term(contract_s: float | None, contacts: Iterable[Promising]) -> RestoreTerm | None:
    """The contract's restore time, else the first one the provider promised on a logged contact, else None."""
    if contract_s is not None:
        return RestoreTerm(contract_s, "contract")
    found = first_promise(contacts)
    if found is None:
        return None
    return RestoreTerm(found[1], "promise", found[0].at_ns)


def log_since(period_start_ns: int, incident_starts: Iterable[int]) -> int:
    """Where the contact log is read from for a period's deadlines: its start, or an earlier incident's start."""
    return min([period_start_ns, *incident_starts])


def first_report(contacts: Iterable[L], start_ns: int, end_ns: int) -> L | None:
    """The customer's first contact inside [start, end), not counting the provider's calls to them."""
    inside = (c for c in contacts if start_ns <= c.at_ns < end_ns and c.direction != "in")
    return min(inside, key=lambda c: c.at_ns, default=None)


@dataclass(frozen=True, slots=True)
class RestoreDeadline:
    """When the promised restore time of one incident runs from, and when it runs out."""

    start_ns: int  # the incident's start
    report_ns: int | None  # the first fault report inside it; None: counted from the start
    within_s: float  # the promised restore time

    @property
    def reported(self) -> bool:
        """True when the deadline runs from a logged fault report."""
        return self.report_ns is not None

    @property
    def from_ns(self) -> int:
        """What the promise runs from: the report, else the incident's start."""
        return self.start_ns if self.report_ns is None else self.report_ns

    @property
    def due_ns(self) -> int:
        """When the promised restore time runs out."""
        return self.from_ns + round(self.within_s * NS)

    def late_s(self, end_ns: int) -> float:
        """Seconds from the deadline to ``end_ns`` (the restoration, or now): negative while there is time left."""
        return (end_ns - self.due_ns) / NS


def restore_deadline(start_ns: int, end_ns: int, within_s: float, contacts: Iterable[Logged]) -> RestoreDeadline:
    """The deadline of an incident over [start, end) (end: its restoration, or now while it is open)."""
    report = first_report(contacts, start_ns, end_ns)
    return RestoreDeadline(start_ns, None if report is None else report.at_ns, within_s)
