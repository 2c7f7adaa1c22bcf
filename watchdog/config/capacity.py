"""How much probing a config asks of the machine, against what a small machine sustains (issue 19).

Each kind has a budget: the probes per second that kind alone sustains on the reference machine (2
cores, the whole agent: journal, detectors, board) with start lateness p99 within a few milliseconds.
A config's load is the sum over its targets of ``(1 / interval) / budget(kind)``: 1.0 fills the
machine. Past 1.0 probes start late, and past the scheduler's reach slots are skipped. ``config check``
and ``watchdog run`` warn then; a running agent also says when its probes actually start late (``watchdog.agent.core``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from watchdog.model import Target

# Probes per second of one kind alone on the reference machine (bench/RESULTS.md, "Capacity"): rates at
# which the whole agent (journal, seals, detectors, board) kept start lateness p99 within 5 ms on the quiet
# 2-core development VM, 62 s windows holding the minute's seal, with a step of margin where the next step
# held only sometimes. icmp: 4,000 echo requests/s held in 1 of 3 rounds (4.85 ms; 5.09, 5.61 ms) and 3,000
# every time (3.51, 4.52 ms), so 3,000 (a probe with count 3 sends 3). tcp: 1,000/s held in 3 of 6 rounds
# (3.78, 4.81, 4.89 ms against 5.2, 5.77, 7.72 ms), 750/s every time (2.24, 3.0 ms), so 750. http with a fresh
# connection: 750/s (2.54, 2.70 ms; 1,000/s: 9.33 and 2.25 ms). A machine busy with other work misses the 5 ms
# sooner, and a Raspberry Pi is slower. Not measured, set by what a probe does: dns (one UDP exchange, like
# a TCP connect), tls (a handshake, costlier than an HTTP GET), speed (moves megabytes: one a second fills it).
PROBE_BUDGET: dict[str, float] = {
    "icmp": 3000.0,
    "tcp": 750.0,
    "http": 750.0,
    "dns": 500.0,
    "tls": 250.0,
    "speed": 1.0,
}
OTHER_BUDGET = 250.0  # a kind not listed above


@dataclass(frozen=True)
class ProbeLoad:
    """What the targets ask: probes/s in all and by kind, and the share of the machine that is (1.0 = full)."""

    targets: int
    rate: float
    by_kind: dict[str, float]  # kind -> probes/s (ICMP: echo requests/s)
    load: float

    def describe(self) -> str:
        """``icmp 3,000 echo requests/s, tcp 200/s``: the asked rates, kind by kind."""
        return ", ".join(f"{kind} {_per_s(kind, rate)}" for kind, rate in sorted(self.by_kind.items()))

    def budgets(self) -> str:
        """``icmp 3,000 echo requests/s, tcp 750/s``: what each of these kinds alone sustains."""
        return ", ".join(f"{kind} {_per_s(kind, budget(kind))}" for kind in sorted(self.by_kind))


def _per_s(kind: str, rate: float) -> str:
    return f"{rate:,.0f} echo requests/s" if kind == "icmp" else f"{rate:,.0f}/s" if rate >= 1 else f"{rate:.2g}/s"


def budget(kind: str) -> float:
    """Probes per second ``kind`` alone sustains on the reference machine."""
    return PROBE_BUDGET.get(kind, OTHER_BUDGET)


def probe_load(targets: Sequence[Target]) -> ProbeLoad:
    """The probe rate ``targets`` ask for, weighted by kind (ICMP by echo requests)."""
    by_kind: dict[str, float] = {}
    for target in targets:
        weight = float(getattr(target.options, "count", 1)) if target.kind == "icmp" else 1.0
        by_kind[target.kind] = by_kind.get(target.kind, 0.0) + weight / target.interval_s
    load = sum(rate / budget(kind) for kind, rate in by_kind.items())
    rate = sum(1 / t.interval_s for t in targets)
    return ProbeLoad(len(targets), rate, by_kind, load)


def capacity_warning(filename: str, targets: Sequence[Target]) -> str | None:
    """A warning when ``targets`` ask for more than the reference machine sustains, else None."""
    asked = probe_load(targets)
    if asked.load <= 1.0:
        return None
    return (
        f"{filename}: {asked.targets} targets ask for {asked.rate:,.0f} probes/s ({asked.describe()}), "
        f"{asked.load:.1f}× what a 2-core machine sustains with probes starting on time (each kind alone: "
        f"{asked.budgets()}): probes would start late or be skipped (lengthen intervals or split the targets "
        "over agents)"
    )
