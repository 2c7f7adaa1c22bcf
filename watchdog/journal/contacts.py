"""The contact log: the customer's own calls, tickets, chats and visits, kept as chained journal events.

A ``contact`` event records when it was written (the row's ``ts_ns``) and when the contact happened
(``at_ns``, which the customer may give afterwards). Optional keys, written only when given (rows without
them read as before): ``direction`` (``in``: they contacted me, ``out``: I contacted them), ``duration_s``,
``promised`` (what the provider promised, e.g. "72h" to repair) and ``ref_given`` (false when the provider
gave no request number although asked; absent: not recorded). The entry is sealed at once, so its hash is in the
chain from that moment on: "support never registered my call" meets a dated, chained entry with the
provider's reference number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from watchdog.journal.store import Journal

EV_CONTACT = "contact"
CHANNELS = ("phone", "email", "chat", "visit")
MAX_FUTURE_S = 300  # a contact "in the future" beyond clock jitter is a typo
MAX_NOTE_CHARS = 10_000


@dataclass(frozen=True, slots=True)
class Contact:
    """One entry of the contact log."""

    seq: int  # the journal row
    recorded_ns: int  # when it was written down
    at_ns: int  # when the contact took place
    provider: str
    channel: str
    ref: str  # the provider's ticket or call reference
    note: str
    direction: str = ""  # in | out | "" (not recorded)
    duration_s: float | None = None
    promised: str = ""
    ref_given: bool | None = None  # False: no request number was given; None: not recorded

    @property
    def backdated_s(self) -> float:
        """How long after the contact it was written down (0 for an entry written at the time)."""
        return max(0.0, (self.recorded_ns - self.at_ns) / 1e9)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (times in UTC ns)."""
        return {
            "seq": self.seq,
            "recorded_ns": self.recorded_ns,
            "at_ns": self.at_ns,
            "provider": self.provider,
            "channel": self.channel,
            "ref": self.ref,
            "note": self.note,
            "direction": self.direction,
            "duration_s": self.duration_s,
            "promised": self.promised,
            "ref_given": self.ref_given,
        }


DIRECTIONS = ("in", "out")


def check_entry(channel: str, note: str, at_ns: int, now_ns: int) -> None:
    """ValueError with a clear message for an entry that must not be written."""
    if channel not in CHANNELS:
        raise ValueError(f"--channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
    if not note.strip():
        raise ValueError("--note must say what was said or asked (it is empty)")
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"--note is longer than {MAX_NOTE_CHARS} characters")
    if at_ns > now_ns + MAX_FUTURE_S * 1_000_000_000:
        raise ValueError("--at lies in the future; give the time the contact took place")


def add_contact(
    journal: Journal,
    *,
    provider: str,
    channel: str,
    note: str,
    ref: str = "",
    at_ns: int | None = None,
    now_ns: int | None = None,
    direction: str = "",
    duration_s: float | None = None,
    promised: str = "",
    ref_given: bool | None = None,
) -> Contact:
    """Write one entry and seal it into the chain (safe while an agent writes to the same journal)."""
    now = time.time_ns() if now_ns is None else now_ns
    at = now if at_ns is None else at_ns
    check_entry(channel, note, at, now)
    if direction and direction not in DIRECTIONS:
        raise ValueError(f"--direction must be in or out, got {direction!r}")
    if duration_s is not None and not 0 <= duration_s <= 86_400:
        raise ValueError("--duration must be between 0s and 24h")
    ref, note, promised = ref.strip(), note.strip(), promised.strip()
    if ref and ref_given is False:
        raise ValueError("--no-ref says no request number was given, but --ref gives one")
    data: dict[str, Any] = {"provider": provider, "channel": channel, "ref": ref, "note": note, "at_ns": at}
    # the newer keys only when given, so an entry without them is byte-for-byte what older versions wrote
    extra = {"direction": direction, "duration_s": duration_s, "promised": promised, "ref_given": ref_given}
    data |= {k: v for k, v in extra.items() if v not in ("", None)}
    seq = journal.add_event(EV_CONTACT, data, ts_ns=now)
    journal.seal(now_ns=now)
    return Contact(seq, now, at, provider, channel, ref, note, direction, duration_s, promised, ref_given)


def from_event(seq: int, ts_ns: int, data: dict[str, Any]) -> Contact:
    """A ``contact`` event → Contact."""
    return Contact(
        seq,
        ts_ns,
        int(data.get("at_ns", ts_ns)),
        str(data.get("provider", "")),
        str(data.get("channel", "")),
        str(data.get("ref", "")),
        str(data.get("note", "")),
        str(data.get("direction", "")),
        float(data["duration_s"]) if isinstance(data.get("duration_s"), (int, float)) else None,
        str(data.get("promised", "")),
        data.get("ref_given") if isinstance(data.get("ref_given"), bool) else None,
    )


def list_contacts(
    journal: Journal, provider: str | None = None, since_ns: int | None = None, until_ns: int | None = None
) -> list[Contact]:
    """Entries (optionally of one provider) whose contact time lies in [since, until), by contact time."""
    out = []
    for e in journal.events([EV_CONTACT]):
        c = from_event(e.seq, e.ts_ns, e.data)
        if provider is not None and c.provider != provider:
            continue
        if since_ns is not None and c.at_ns < since_ns:
            continue
        if until_ns is not None and c.at_ns >= until_ns:
            continue
        out.append(c)
    out.sort(key=lambda c: (c.at_ns, c.seq))
    return out
