"""Outage detection with hysteresis, one detector per target. Pure: results in, transitions out.

``failure_threshold`` failures in a row open an outage whose start is the *first* of those failures
(bounds: last success before it, first failure); ``success_threshold`` successes in a row close it at
the *first* of those successes (bounds: last failure, first success). A failure during recovery resets
the success streak. Results of kind ``internal`` (the agent could not probe) say nothing about the
target and are ignored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from watchdog.model import FailureKind, Outage, Result, Target


class State(enum.StrEnum):
    """A target's state as the detector sees it."""

    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Opened:
    """The threshold was crossed: journal this, then call :meth:`Detector.bind` with its id."""

    target: str
    start_ns: int
    last_ok_ns: int | None
    confirmed_ns: int
    failure: FailureKind | None
    detail: str
    failures: int
    start_steady_ns: int | None = None  # the steady clock at the first failure (see Result.steady_ns)


@dataclass(frozen=True, slots=True)
class Closed:
    """The target recovered."""

    outage: Outage  # the closed outage, with end and end_bounds set
    successes: int
    start_steady_ns: int | None = None  # the steady clock at the first failure and the first success: their
    end_steady_ns: int | None = None  # difference is the duration even if the wall clock stepped meanwhile


Transition = Opened | Closed


class Detector:
    """Hysteresis for one target."""

    def __init__(
        self,
        target: Target,
        *,
        open_outage: Outage | None = None,
        last_ok_ns: int | None = None,
        last_fail_ns: int | None = None,
    ) -> None:
        self.target = target
        self.outage = open_outage
        self.state = State.DOWN if open_outage is not None else State.UNKNOWN
        self.last_ok_ns = last_ok_ns
        self.last_fail_ns = last_fail_ns
        self.fail_streak: list[Result] = []
        self.ok_streak: list[Result] = []
        self.pending_open = False
        self._recovery_last_fail: int | None = None
        self._start_steady: int | None = None

    def observe(self, result: Result) -> Transition | None:
        """Count a result; return a transition when it tips the target into a new state."""
        if not result.counts:
            return None
        if result.ok:
            return self._success(result)
        return self._failure(result)

    def _failure(self, result: Result) -> Opened | None:
        self.ok_streak.clear()
        self.fail_streak.append(result)
        self.last_fail_ns = result.ts_ns
        if self.state is State.DOWN or self.pending_open:
            self.fail_streak = self.fail_streak[-1:]
            return None
        if len(self.fail_streak) < self.target.failure_threshold:
            return None
        first = self.fail_streak[0]
        self.pending_open = True
        return Opened(
            target=self.target.key,
            start_ns=first.ts_ns,
            last_ok_ns=self.last_ok_ns,
            confirmed_ns=result.ts_ns + round((result.latency_s or 0.0) * 1e9),
            failure=first.failure,
            detail=first.detail,
            failures=len(self.fail_streak),
            start_steady_ns=first.steady_ns,
        )

    def _success(self, result: Result) -> Closed | None:
        previous_fail = self.last_fail_ns
        self.fail_streak.clear()
        if self.state is not State.DOWN:
            self.ok_streak.clear()
            self.last_ok_ns = result.ts_ns
            if self.state is State.UNKNOWN and not self.pending_open:
                self.state = State.UP
            return None
        if not self.ok_streak:
            self._recovery_last_fail = previous_fail
        self.ok_streak.append(result)
        self.last_ok_ns = result.ts_ns
        if len(self.ok_streak) < self.target.success_threshold or self.outage is None:
            return None
        first = self.ok_streak[0]
        last_fail = self._recovery_last_fail if self._recovery_last_fail is not None else self.outage.start_ns
        closed = Outage(
            id=self.outage.id,
            target=self.outage.target,
            start_ns=self.outage.start_ns,
            start_bounds=self.outage.start_bounds,
            confirmed_ns=self.outage.confirmed_ns,
            end_ns=first.ts_ns,
            end_bounds=(last_fail, first.ts_ns),
            failure=self.outage.failure,
            detail=self.outage.detail,
        )
        successes = len(self.ok_streak)
        start_steady, self._start_steady = self._start_steady, None
        self.outage = None
        self.state = State.UP
        self.ok_streak.clear()
        return Closed(closed, successes, start_steady, first.steady_ns)

    def bind(self, opened: Opened, outage_id: int) -> Outage:
        """Record that ``opened`` was journaled as ``outage_id``; the target is now DOWN."""
        self.outage = Outage(
            id=outage_id,
            target=opened.target,
            start_ns=opened.start_ns,
            start_bounds=(opened.last_ok_ns, opened.start_ns),
            confirmed_ns=opened.confirmed_ns,
            failure=opened.failure,
            detail=opened.detail,
        )
        self._start_steady = opened.start_steady_ns
        self.state = State.DOWN
        self.pending_open = False
        self.fail_streak = self.fail_streak[-1:]
        return self.outage

    @property
    def failing(self) -> int:
        """Failures in a row right now (0 when the last counted result was a success)."""
        return len(self.fail_streak)
