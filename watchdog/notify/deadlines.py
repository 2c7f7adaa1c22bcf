"""Deadlines the notifier warns about: user reminders from the config and answer deadlines in the journal.

A *complaint answer deadline* is declared by writing a ``deadline`` event into the journal (it is
evidence: the letter was sent, the provider owes an answer by a date). The complaint part calls
:func:`record_deadline` when a complaint is sent; anyone can add one for a complaint sent by hand. The
notifier reads these events and the config's ``reminders:`` into one list of :class:`Deadline` values
and warns ``days_before`` the date, each step once (the outbox key makes it so across restarts). A
recurring reminder is one Deadline per occurrence; one whose last step was never sent (the agent was
off that day) is sent late on start, once, up to ``LATE_DAYS`` after.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from watchdog.config import Reminder
from watchdog.journal.readers import Event
from watchdog.journal.store import Journal
from watchdog.notify.facts import EV_DEADLINE

KINDS = ("reminder", "complaint_answer")
LATE_DAYS = 7
"""A reminder whose day passed while the agent was off is still sent, late, up to this many days after."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """A date to be warned about, and the steps (days before it) at which to warn."""

    name: str
    date: dt.date
    days_before: tuple[int, ...]
    kind: str = "reminder"  # reminder | complaint_answer
    note: str = ""
    provider: str | None = None
    ref: str = ""  # the complaint's number
    sent: dt.date | None = None  # when the complaint was sent
    source: str = "config"  # config | journal #seq

    @property
    def slug(self) -> str:
        """A key-safe form of the name."""
        text = "".join(c if c.isalnum() else "-" for c in self.name.strip().lower())
        return "-".join(part for part in text.split("-") if part)[:40] or "deadline"

    def step(self, today: dt.date) -> int | None:
        """The tightest warning step reached today, or None (not yet, or the date has passed)."""
        left = (self.date - today).days
        if left < 0:
            return None
        reached = [d for d in self.days_before if left <= d]
        return min(reached) if reached else None

    def missed(self, today: dt.date) -> int | None:
        """The last step of an occurrence that passed up to LATE_DAYS ago (to send late if it never went out)."""
        ago = (today - self.date).days
        if self.kind != "reminder" or not 0 < ago <= LATE_DAYS or not self.days_before:
            return None
        return min(self.days_before)

    def key(self, step: int) -> str:
        """The outbox key of the warning at ``step`` days before."""
        return f"{self.prefix}{self.date.isoformat()}/{step}d"

    @property
    def prefix(self) -> str:
        """What the keys of every occurrence and step of this deadline start with."""
        return f"{self.kind.replace('_', '-')}/{self.slug}/"


def record_deadline(
    journal: Journal,
    *,
    kind: str,
    name: str,
    date: dt.date,
    provider: str | None = None,
    ref: str = "",
    sent: dt.date | None = None,
    days_before: Sequence[int] = (7, 3, 1, 0),
    note: str = "",
) -> int:
    """Journal a deadline (e.g. the provider must answer complaint ``ref`` by ``date``); return its seq."""
    if kind not in KINDS:
        raise ValueError(f"deadline kind must be one of {', '.join(KINDS)}, got {kind!r}")
    data = {
        "kind": kind,
        "name": name,
        "date": date.isoformat(),
        "provider": provider,
        "ref": ref,
        "sent": sent.isoformat() if sent else None,
        "days_before": sorted({int(d) for d in days_before}, reverse=True),
        "note": note,
    }
    return journal.add_event(EV_DEADLINE, data)


def from_reminders(reminders: Iterable[Reminder], today: dt.date) -> list[Deadline]:
    """The config's ``reminders:``: a recurring one as its occurrence before ``today`` and its next one."""
    return [
        Deadline(r.name, when, r.steps, r.kind, r.note, r.provider, r.ref, r.sent)
        for r in reminders
        for when in r.occurrences(today)
    ]


def from_events(events: Iterable[Event]) -> list[Deadline]:
    """``deadline`` events from the journal (malformed ones are skipped: they are evidence, not config)."""
    out = []
    for e in events:
        d = e.data
        try:
            out.append(
                Deadline(
                    str(d["name"]),
                    dt.date.fromisoformat(d["date"]),
                    tuple(int(x) for x in d.get("days_before", (7, 3, 1, 0))),
                    str(d.get("kind", "complaint_answer")),
                    str(d.get("note", "")),
                    d.get("provider"),
                    str(d.get("ref", "")),
                    dt.date.fromisoformat(d["sent"]) if d.get("sent") else None,
                    f"journal #{e.seq}",
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return out
