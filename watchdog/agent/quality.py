"""Degraded-service detection: quality limits with their own hysteresis, one tracker per target. Pure.

A *round* is one probe result. Each limit judges every round it can:

* ``latency`` — the probe's own measure (``Result.latency_s``: TCP connect, HTTP answer, ICMP mean RTT)
  of a successful round; a round is bad when it is over ``max``. Failed rounds are not judged (they are
  the outage detector's, and the loss limit's).
* ``loss``    — the share lost over the last ``window`` rounds: ICMP rounds count their packets
  (``sent``/``received`` metrics), other kinds count a failed round as one lost, a successful one as one
  received. A round is bad when that share is over ``max``.
* ``jitter``  — the mean absolute difference between consecutive latencies of successful rounds over
  the last ``window`` rounds (RFC 3550's D(i-1, i) averaged over the window, not exponentially smoothed:
  a window average can be recomputed from the journal by anyone). A round is bad when it is over ``max``.

``open_bad`` bad rounds among the last ``open_of`` open a degraded window; ``close_good`` good rounds in
a row close it. Bounds are stated like an outage's: the window starts at its first *hot* round (a round
whose own value is over the limit: slow, lossy, or a jump in latency) — for loss and jitter, the earliest
hot round in the window from which the share is still over the limit — with the round before it as the
lower bound; it ends at the first round after its last hot round, with that last hot round as the lower
bound. Down wins over degraded: that is applied where time is counted (reports), not here; the windows
are journaled as measured. Results of kind ``internal`` (the agent could not probe) are ignored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from watchdog.model import Outage, QualityRule, Result, Target

UNITS = {"latency": "s", "loss": "ratio", "jitter": "s"}


@dataclass(frozen=True, slots=True)
class DegradedOpened:
    """A limit's window opened: journal this, then call :meth:`QualityTracker.bind` with its id."""

    target: str
    limit: str
    start_ns: int
    last_ok_ns: int | None  # the round before the first hot one
    confirmed_ns: int
    value: float  # the limit's value at confirmation (seconds or a ratio)
    max: float
    bad_rounds: int
    of_rounds: int
    detail: str


@dataclass(frozen=True, slots=True)
class DegradedClosed:
    """A limit's window closed."""

    window: Outage  # with end and end_bounds set; ``limit`` names the limit
    value: float
    good_rounds: int


@dataclass(slots=True)
class _Round:
    ts_ns: int
    num: float  # lost packets / latency jump; with den: this round's own value is num / den
    den: float
    hot: bool
    bad: bool = False


def describe(limit: str, value: float, maximum: float) -> str:
    """``latency 812 ms > 500 ms``, ``loss 20.0% > 5.0%``, ``jitter 41 ms > 30 ms``."""
    if limit == "loss":
        return f"loss {value:.1%} > {maximum:.1%}"
    return f"{limit} {value * 1e3:.0f} ms > {maximum * 1e3:.0f} ms"


class LimitTracker:
    """Hysteresis for one limit of one target."""

    def __init__(self, target: str, limit: str, rule: QualityRule, open_window: Outage | None = None) -> None:
        self.target = target
        self.limit = limit
        self.rule = rule
        self.windowed = limit != "latency"
        keep = max(rule.open_of, rule.window if self.windowed else 1) + 1
        self.rounds: deque[_Round] = deque(maxlen=keep)
        self.win: deque[_Round] = deque(maxlen=rule.window if self.windowed else 1)
        self.flags: deque[bool] = deque(maxlen=rule.open_of)
        self.window = open_window
        self.pending_open = False
        self.good = 0
        self.value = 0.0
        self.last_hot_ns: int | None = open_window.confirmed_ns if open_window is not None else None
        self.after_hot_ns: int | None = None
        self._prev_latency: float | None = None

    @property
    def is_open(self) -> bool:
        """True while this limit's window is open (or being journaled)."""
        return self.window is not None or self.pending_open

    def _sample(self, result: Result) -> tuple[float, float] | None:
        if self.limit == "latency":
            if not result.ok or result.latency_s is None:
                return None
            return result.latency_s, 1.0
        if self.limit == "loss":
            sent, received = result.metrics.get("sent"), result.metrics.get("received")
            if sent is not None and received is not None and sent > 0:
                return float(sent) - float(received), float(sent)
            return (0.0 if result.ok else 1.0), 1.0
        if not result.ok or result.latency_s is None:
            return None
        previous, self._prev_latency = self._prev_latency, result.latency_s
        if previous is None:
            return None
        return abs(result.latency_s - previous), 1.0

    def observe(self, result: Result) -> DegradedOpened | DegradedClosed | None:
        """Judge one round; return a transition when it opens or closes this limit's window."""
        sample = self._sample(result)
        if sample is None:
            return None
        num, den = sample
        rule = self.rule
        now = _Round(result.ts_ns, num, den, hot=num / den > rule.max)
        self.rounds.append(now)
        if self.windowed:
            win = self.win
            win.append(now)
            # summed afresh (at most `window` rounds): running sums would drift off exact thresholds
            self.value = sum(r.num for r in win) / max(1e-12, sum(r.den for r in win))
        else:
            self.value = num / den
        now.bad = self.value > rule.max
        self.flags.append(now.bad)
        if now.hot:
            self.last_hot_ns, self.after_hot_ns = now.ts_ns, None
        elif self.after_hot_ns is None and self.last_hot_ns is not None:
            self.after_hot_ns = now.ts_ns
        if self.is_open:
            self.good = 0 if now.bad else self.good + 1
            if self.window is None or self.good < rule.close_good:
                return None
            return self._close(now)
        bad = sum(self.flags)
        if bad < rule.open_bad:
            return None
        return self._open(now, bad, len(self.flags))

    def _first_hot(self) -> int:
        rounds = list(self.rounds)
        if not self.windowed:
            span = rounds[-self.rule.open_of :]
            first = next(r for r in span if r.hot) if any(r.hot for r in span) else span[-1]
            return rounds.index(first)
        span_start = max(0, len(rounds) - self.rule.window)
        for i in range(span_start, len(rounds)):
            if not rounds[i].hot:
                continue
            tail = rounds[i:]
            if sum(r.num for r in tail) / max(1e-12, sum(r.den for r in tail)) > self.rule.max:
                return i
        return len(rounds) - 1

    def _open(self, now: _Round, bad: int, of: int) -> DegradedOpened:
        rounds = list(self.rounds)
        i = self._first_hot()
        first = rounds[i]
        before = rounds[i - 1].ts_ns if i > 0 else None
        self.pending_open = True
        self.good = 0
        return DegradedOpened(
            target=self.target,
            limit=self.limit,
            start_ns=first.ts_ns,
            last_ok_ns=before,
            confirmed_ns=now.ts_ns,
            value=self.value,
            max=self.rule.max,
            bad_rounds=bad,
            of_rounds=of,
            detail=describe(self.limit, self.value, self.rule.max),
        )

    def bind(self, opened: DegradedOpened, window_id: int) -> Outage:
        """Record that ``opened`` was journaled as ``window_id``."""
        self.window = Outage(
            id=window_id,
            target=opened.target,
            start_ns=opened.start_ns,
            start_bounds=(opened.last_ok_ns, opened.start_ns),
            confirmed_ns=opened.confirmed_ns,
            detail=opened.detail,
            limit=self.limit,
        )
        self.pending_open = False
        return self.window

    def _close(self, now: _Round) -> DegradedClosed:
        assert self.window is not None
        last_hot = self.last_hot_ns if self.last_hot_ns is not None else self.window.confirmed_ns
        end = self.after_hot_ns if self.after_hot_ns is not None else now.ts_ns
        last_hot = min(last_hot, end)
        closed = Outage(
            id=self.window.id,
            target=self.window.target,
            start_ns=self.window.start_ns,
            start_bounds=self.window.start_bounds,
            confirmed_ns=self.window.confirmed_ns,
            end_ns=max(end, self.window.start_ns),
            end_bounds=(last_hot, max(end, self.window.start_ns)),
            detail=self.window.detail,
            limit=self.limit,
        )
        good, self.good, self.window = self.good, 0, None
        return DegradedClosed(closed, self.value, good)


def opened_data(change: DegradedOpened) -> dict[str, object]:
    """The ``degraded_open`` event's data (journal format: new event type, documented in the README)."""
    return {
        "limit": change.limit,
        "start_ns": change.start_ns,
        "last_ok_ns": change.last_ok_ns,
        "confirmed_ns": change.confirmed_ns,
        "value": round(change.value, 6),
        "max": change.max,
        "rounds": [change.bad_rounds, change.of_rounds],
        "detail": change.detail,
    }


def closed_data(change: DegradedClosed) -> dict[str, object]:
    """The ``degraded_close`` event's data (``ref`` = the opening's seq)."""
    w = change.window
    return {
        "limit": w.limit,
        "end_ns": w.end_ns,
        "last_bad_ns": w.end_bounds[0] if w.end_bounds else None,
        "value": round(change.value, 6),
        "good_rounds": change.good_rounds,
    }


class QualityTracker:
    """Every limit of one target."""

    def __init__(self, target: Target, open_windows: dict[str, Outage] | None = None) -> None:
        self.target = target
        rules = target.quality.rules() if target.quality is not None else {}
        windows = open_windows or {}
        self.limits = {name: LimitTracker(target.key, name, rule, windows.get(name)) for name, rule in rules.items()}

    def observe(self, result: Result) -> list[DegradedOpened | DegradedClosed]:
        """Judge one round under every limit."""
        if not self.limits or not result.counts:
            return []
        out = []
        for tracker in self.limits.values():
            transition = tracker.observe(result)
            if transition is not None:
                out.append(transition)
        return out

    @property
    def degraded(self) -> tuple[str, ...]:
        """The limits whose windows are open now."""
        return tuple(name for name, t in self.limits.items() if t.is_open)

    def open_windows(self) -> list[Outage]:
        """The open windows (bound to their journal ids)."""
        return [t.window for t in self.limits.values() if t.window is not None]
