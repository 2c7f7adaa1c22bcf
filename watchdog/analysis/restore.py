"""The restore deadline of an incident: the promised restore time counted from the customer's fault report.

A provider's promise to restore service "within 72 h" runs from when it learnt of the fault: the first
entry of the customer's contact log inside the incident that is not the provider's own call to them
(``direction == "in"``). When the log has no such entry the deadline is counted from the incident's start,
and whoever states it says so. Letters, claims and the notifier's reminders all take the deadline from
here, so they never disagree about when it ran out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from watchdog.model import NS


class Logged(Protocol):
    """A contact-log entry as far as the deadline needs it (the journal's Contact and the letter's entry)."""

    @property
    def at_ns(self) -> int: ...

    @property
    def direction(self) -> str: ...


L = TypeVar("L", bound=Logged)


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
