"""Fixed-rate scheduling: one task per target, absolute deadlines on the monotonic clock.

Each target runs at ``offset + k * interval`` for k = 0, 1, 2, … on the event loop's monotonic clock,
so there is no drift however long a probe takes. Offsets spread the first probes of all targets over
the first ``min(interval, stagger_s)`` seconds ("probe at start", but not all at once). After a stall
(the machine was suspended, the loop was blocked) missed slots are skipped and counted, never fired in
a burst. A shared semaphore bounds how many probes run at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from watchdog.agent.runner import run_probe
from watchdog.model import Result, Target
from watchdog.probe import Probe, ProbeContext

_LOGGER = logging.getLogger(__name__)


@dataclass
class ScheduleStats:
    """Per-target counters the status page and benchmarks read."""

    runs: int = 0
    missed_slots: int = 0
    last_late_s: float = 0.0
    max_late_s: float = 0.0
    late_samples: list[float] = field(default_factory=list)
    keep_samples: int = 0  # benchmarks set this to keep start lateness samples
    pooled: LatenessWindow | None = None  # the agent's count over all targets

    def record(self, late_s: float) -> None:
        """Note how late a probe started."""
        self.runs += 1
        self.last_late_s = late_s
        self.max_late_s = max(self.max_late_s, late_s)
        if len(self.late_samples) < self.keep_samples:
            self.late_samples.append(late_s)
        if self.pooled is not None:
            self.pooled.add(late_s)

    def skipped(self, slots: int) -> None:
        """Note slots skipped because the schedule fell a whole interval or more behind."""
        self.missed_slots += slots
        if self.pooled is not None:
            self.pooled.skipped += slots


@dataclass
class LatenessWindow:
    """Start lateness pooled over every target since the last :meth:`take`: how many probes, how many late.

    Counting against one threshold is enough to tell whether the p99 passed it (more than 1 % late) and
    costs two additions per probe. A skipped slot counts as a late probe.
    """

    threshold_s: float
    probes: int = 0
    late: int = 0
    skipped: int = 0
    worst_s: float = 0.0

    def add(self, late_s: float) -> None:
        """Count one probe's start lateness."""
        self.probes += 1
        if late_s > self.threshold_s:
            self.late += 1
            if late_s > self.worst_s:
                self.worst_s = late_s

    def take(self) -> tuple[int, int, int, float]:
        """``(probes, late, skipped, worst_s)`` since the last take; the counts start again from zero."""
        counts = (self.probes, self.late, self.skipped, self.worst_s)
        self.probes = self.late = self.skipped = 0
        self.worst_s = 0.0
        return counts


class SkippedSlotLog:
    """At most one ``probe slots missed`` line a second, saying how many slots were skipped in between.

    An agent past its capacity skips slots on every target every round: one line per target and round
    was ~1,200 lines a second at 5,000 targets, costing CPU the probes lacked (and flooding the log).
    """

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self.next_at = float("-inf")
        self.quiet_slots = 0
        self.quiet_targets: set[str] = set()

    def note(self, now: float, key: str, missed: int, late_s: float) -> None:
        """Log this skip, or count it for the next line when one was logged less than ``every_s`` ago."""
        if now < self.next_at:
            self.quiet_slots += missed
            self.quiet_targets.add(key)
            return
        more = ""
        if self.quiet_slots:
            more = f" (and {self.quiet_slots} slots of {len(self.quiet_targets)} targets since the last such line)"
        _LOGGER.warning("probe slots missed target=%s missed=%d late_s=%.3f%s", key, missed, late_s, more)
        self.next_at = now + self.every_s
        self.quiet_slots = 0
        self.quiet_targets.clear()


SKIPPED_LOG = SkippedSlotLog()


def stagger_offsets(targets: Sequence[Target], stagger_s: float = 5.0) -> dict[str, float]:
    """Evenly spread first-probe offsets, each within ``min(interval, stagger_s)``."""
    n = max(1, len(targets))
    return {t.key: (i / n) * min(t.interval_s, stagger_s) for i, t in enumerate(targets)}


async def run_target(
    target: Target,
    probe: Probe,
    ctx: ProbeContext,
    on_result: Callable[[Target, Result], Awaitable[None]],
    limiter: asyncio.Semaphore,
    *,
    offset_s: float = 0.0,
    stats: ScheduleStats | None = None,
) -> None:
    """Probe ``target`` forever at a fixed rate; ``on_result`` journals and dispatches each result."""
    loop = asyncio.get_running_loop()
    stats = stats if stats is not None else ScheduleStats()
    interval = target.interval_s
    next_at = loop.time() + offset_s
    while True:
        delay = next_at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late = loop.time() - next_at
        if late >= interval:
            missed = int(late // interval)
            next_at += missed * interval
            stats.skipped(missed)
            SKIPPED_LOG.note(loop.time(), target.key, missed, late)
            late = loop.time() - next_at
        async with limiter:
            stats.record(max(0.0, loop.time() - next_at))
            result = await run_probe(probe, target, ctx)
        try:
            await on_result(target, result)
        except Exception:  # journaling and dispatch log their own failures; the schedule must go on
            _LOGGER.exception("result handling failed target=%s", target.key)
        next_at += interval
