"""B5q — what degraded-state tracking costs the agent: B5's 50 targets with and without quality limits.

Issue 16's goal: tracking adds at most 5 % CPU per probe. The same ``watchdog run`` as B5
(bench/footprint.py), once as B5 runs it and once with every limit in ``defaults.quality`` (latency, loss
and jitter, none crossed on loopback, so each round is judged by all three and no window opens), in
interleaved pairs (without, with, without, with, ...) so that load from outside falls on both alike.
CPU per probe is the agent process's CPU between two samples over the results journaled between them.

On a shared machine run it in a network namespace of its own (``unshare -n sh -c 'ip link set lo up &&
python -m bench --only footprint_quality --out FILE'``): the agent's ICMP socket otherwise receives every
echo reply on the host, and other users' pings (about 950 a second here) cost it more than its own probes.
"""

from __future__ import annotations

import statistics

from bench.common import Suite
from bench.footprint import measure

PAIRS = 3


def run(suite: Suite, *, full: bool) -> None:
    """Measure B5q."""
    duration_s = 600.0 if full else 90.0
    runs: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(PAIRS):
        for quality in (False, True):
            f = measure(duration_s, quality=quality)
            runs[quality].append(f.cpu_per_result_us)
            print(f"  quality={quality}: {f.cpu_per_result_us:.0f} µs/probe, {f.window_results} results", flush=True)
    suite.note(
        f"{PAIRS} interleaved pairs of {duration_s:.0f} s windows; µs per probe without limits: "
        + ", ".join(f"{v:.0f}" for v in runs[False])
        + "; with: "
        + ", ".join(f"{v:.0f}" for v in runs[True])
    )
    without, with_ = statistics.median(runs[False]), statistics.median(runs[True])
    pairs = [100 * (w / o - 1) for o, w in zip(runs[False], runs[True], strict=True)]
    suite.add("CPU per probe without quality limits (median)", without, "µs", note=_span(runs[False], "µs"))
    suite.add("CPU per probe with latency, loss and jitter limits (median)", with_, "µs", note=_span(runs[True], "µs"))
    overhead = 100 * (with_ / without - 1)
    suite.add(
        "added by degraded-state tracking (medians)",
        overhead,
        "%",
        "≤ 5 %",
        overhead <= 5.0,
        note=f"pair by pair {min(pairs):+.1f} % to {max(pairs):+.1f} %",
    )


def _span(values: list[float], unit: str) -> str:
    return f"{min(values):.0f}–{max(values):.0f} {unit} over {len(values)} runs"
