"""Flap folding: at most one open/close pair per subject (a target, or the customer's line) per window.

The first outage of a subject is told at once and opens a window of ``window_s``. Outages that open
inside the window are *folded*: no message of their own; when the window ends, one summary lists them.
If the last folded outage is still open then, the summary tells so, counts as its opening, and starts
the next window, so its recovery is told like any other. Per subject and window that is at most an
"opened", a "closed" and a summary. Pure: times in, decisions out.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Folded:
    outage_id: int
    start_ns: int
    end_ns: int | None = None


@dataclass
class _Window:
    start_ns: int
    notified: int | None  # the outage whose opening was told (its closing will be told too)
    folded: list[_Folded] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FoldedOutage:
    """One outage that got no message of its own."""

    outage_id: int
    start_ns: int
    end_ns: int | None  # None: still open when the summary was written


@dataclass(frozen=True, slots=True)
class Summary:
    """What a window folded away, for one subject."""

    subject: str
    window_start_ns: int
    window_end_ns: int
    outages: tuple[FoldedOutage, ...]

    @property
    def still_open(self) -> FoldedOutage | None:
        """The last folded outage when it had not ended by the summary."""
        last = self.outages[-1] if self.outages else None
        return last if last is not None and last.end_ns is None else None


class FlapFolder:
    """Decides which openings and closings are told, and collects the rest into summaries."""

    def __init__(self, window_s: float) -> None:
        self.window_ns = round(window_s * 1e9)
        self._windows: dict[str, _Window] = {}
        self._ready: list[Summary] = []  # windows that ran out between two calls of due()

    def opened(self, subject: str, outage_id: int, start_ns: int, now_ns: int) -> bool:
        """An outage opened; True when it is to be told now."""
        window = self._windows.get(subject)
        if window is not None and now_ns - window.start_ns >= self.window_ns:
            summary = self._close(subject, window, now_ns)
            if summary is not None:
                self._ready.append(summary)
            window = self._windows.get(subject)  # a summary that left an outage open starts a new window
        if window is None:
            self._windows[subject] = _Window(now_ns, outage_id)
            return True
        window.folded.append(_Folded(outage_id, start_ns))
        return False

    def closed(self, subject: str, outage_id: int, end_ns: int) -> bool:
        """An outage closed; True when it is to be told now (its opening was told, or is not known)."""
        window = self._windows.get(subject)
        if window is None:
            return True  # e.g. opened before a restart: tell it
        if window.notified == outage_id:
            window.notified = None
            return True
        for item in window.folded:
            if item.outage_id == outage_id:
                item.end_ns = end_ns
                return False
        return True

    def due(self, now_ns: int) -> list[Summary]:
        """Close the windows that have run out; return the summaries of those that folded anything."""
        out, self._ready = self._ready, []
        for subject, window in list(self._windows.items()):
            if now_ns - window.start_ns >= self.window_ns:
                summary = self._close(subject, window, now_ns)
                if summary is not None:
                    out.append(summary)
        return out

    def flush(self, now_ns: int) -> list[Summary]:
        """Close every window now (at shutdown): nothing folded may go untold."""
        out, self._ready = self._ready, []
        for subject, window in list(self._windows.items()):
            summary = self._close(subject, window, now_ns)
            if summary is not None:
                out.append(summary)
        return out

    def next_due_ns(self) -> int | None:
        """When the earliest window runs out."""
        return min((w.start_ns + self.window_ns for w in self._windows.values()), default=None)

    def _close(self, subject: str, window: _Window, now_ns: int) -> Summary | None:
        del self._windows[subject]
        if not window.folded:
            return None
        summary = Summary(
            subject,
            window.start_ns,
            now_ns,
            tuple(FoldedOutage(f.outage_id, f.start_ns, f.end_ns) for f in window.folded),
        )
        still = summary.still_open
        if still is not None:
            # the summary tells that it is down: its recovery is told, and new flaps fold again
            self._windows[subject] = _Window(now_ns, still.outage_id)
        return summary
