"""What a report says about the clock: the NTP measurements the agent journaled, summed up over a window."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from watchdog.analysis.attribution import Interval, intersect, subtract, total, union
from watchdog.journal.readers import Event
from watchdog.journal.schema import EV_CLOCK_SAMPLE, EV_CLOCK_STEP
from watchdog.model import NS


@dataclass(frozen=True, slots=True)
class ClockSummary:
    """What a report says about the clock over a window."""

    samples: int  # successful measurements
    failures: int  # queries without a usable answer
    servers: tuple[str, ...]
    worst_offset: dict[str, Any] | None  # the sample with the largest |offset| (event data plus ts_ns)
    worst_error_bound_ns: int | None
    median_offset_ns: int | None
    max_gap_s: float | None  # the longest stretch between successful measurements while the agent ran
    unsynced: tuple[Interval, ...]  # while the agent ran, stretches no measurement vouches for
    steps: tuple[tuple[int, int], ...]  # (at_ns, step_ns) wall-clock steps the agent noticed
    vouch_s: float  # how far (each way) a measurement vouches for the clock

    @property
    def unsynced_s(self) -> float:
        """Total time without a clock check while the agent ran."""
        return total(self.unsynced) / NS


def vouch_seconds(events: Sequence[Event], default_interval_s: float) -> float:
    """How long a measurement vouches for the clock each way: twice the (largest) measuring interval."""
    intervals = [float(e.data.get("interval_s", default_interval_s)) for e in events if e.type == EV_CLOCK_SAMPLE]
    return 2.0 * max(intervals, default=default_interval_s)


def summarize(
    events: Iterable[Event], coverage: Sequence[Interval], window: Interval, *, default_interval_s: float = 3600.0
) -> ClockSummary:
    """Clock figures for ``window``: worst offset, measurements, stretches without a check, steps.

    A successful measurement at t vouches for the clock over [t − 2·interval, t + 2·interval], cut at
    any wall-clock step between (after a step the earlier measurement no longer describes the clock).
    ``unsynced`` = the agent's coverage inside the window that no measurement vouches for.
    """
    evs = sorted(events, key=lambda e: e.seq)
    samples = [e for e in evs if e.type == EV_CLOCK_SAMPLE]
    steps = sorted((int(e.data.get("at_ns", e.ts_ns)), int(e.data["step_ns"])) for e in evs if e.type == EV_CLOCK_STEP)
    lo, hi = window
    vouch = vouch_seconds(samples, default_interval_s)
    vouch_ns = int(vouch * NS)
    ok = [e for e in samples if e.data.get("ok")]
    in_window = [e for e in ok if lo <= e.ts_ns < hi]
    step_times = [s for s, _ in steps]
    vouched: list[Interval] = []
    for e in ok:
        a, b = e.ts_ns - vouch_ns, e.ts_ns + vouch_ns
        before = [s for s in step_times if s <= e.ts_ns]
        after = [s for s in step_times if s > e.ts_ns]
        if before:
            a = max(a, before[-1])
        if after:
            b = min(b, after[0])
        vouched.append((a, b))
    cov = intersect(union(coverage), [window])
    unsynced = subtract(cov, union(vouched))
    worst = max(in_window, key=lambda e: (abs(int(e.data["offset_ns"])), -e.seq), default=None)
    times = sorted(e.ts_ns for e in in_window)
    gaps = [(b - a) / NS for a, b in itertools.pairwise(times)]
    if cov and times:
        gaps += [(times[0] - cov[0][0]) / NS, (cov[-1][1] - times[-1]) / NS]
    return ClockSummary(
        samples=len(in_window),
        failures=sum(1 for e in samples if not e.data.get("ok") and lo <= e.ts_ns < hi),
        servers=tuple(sorted({str(e.data.get("server", "")) for e in samples if lo <= e.ts_ns < hi})),
        worst_offset=None if worst is None else {**worst.data, "ts_ns": worst.ts_ns, "seq": worst.seq},
        worst_error_bound_ns=max((int(e.data["error_bound_ns"]) for e in in_window), default=None),
        median_offset_ns=(
            None if not in_window else int(statistics.median(int(e.data["offset_ns"]) for e in in_window))
        ),
        max_gap_s=max(gaps, default=None) if times else None,
        unsynced=tuple(unsynced),
        steps=tuple((at, step) for at, step in steps if lo <= at < hi),
        vouch_s=vouch,
    )
