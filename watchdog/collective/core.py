"""The collective report: where at least K households' agents saw the provider's fault at once (pure).

At every moment each agent is in one state for the provider (see :mod:`watchdog.analysis.timeline`):
no data, ``up``, ``provider``, ``customer_line`` or ``inconclusive``. Then:

* **reporting** (M) = agents with data at that moment, whatever they saw;
* **confirming** (N) = agents whose outage of the provider was attributed ``provider`` (their own line
  verified working) at that moment;
* agents whose own line was down (``customer_line``) or whose controls could not decide
  (``inconclusive``) are listed apart and never count as confirmation; ``no_data`` never counts at all.

A **window** is a maximal stretch with N ≥ K. It states the distinct agents that confirmed during it, the
distinct agents that reported during it, those whose own line was down during it, and its *peak*: the
first moment with the most confirmations, "confirmed by N of M agents reporting at that time". Window
edges are the agents' own point estimates (an outage runs from its first failed probe to its first
successful one), so they move with the agents' probe intervals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from watchdog.analysis.attribution import Interval
from watchdog.analysis.timeline import Span, State, clip, merge, seconds_by_state
from watchdog.model import NS


@dataclass(frozen=True)
class AgentTimeline:
    """One agent's spans for the provider, with where they came from."""

    agent: str
    tags: Mapping[str, str]
    provider: str  # the provider name the agent's data carries (shared name)
    kind: str  # the provider's kind as that agent configured it ("" when unknown)
    spans: tuple[Span, ...]
    sources: tuple[str, ...] = ()  # pack files, or the InfluxDB


@dataclass(frozen=True)
class Step:
    """A stretch on which every agent's state is constant."""

    start_ns: int
    end_ns: int
    confirming: tuple[str, ...]
    reporting: int
    line_down: tuple[str, ...]
    inconclusive: tuple[str, ...]


@dataclass(frozen=True)
class Window:
    """A stretch where at least K agents confirmed the provider's fault at once."""

    start_ns: int
    end_ns: int
    confirmed_by: tuple[str, ...]  # distinct agents that confirmed at some moment of the window
    reporting: tuple[str, ...]  # distinct agents with data at some moment of it
    line_down: tuple[str, ...]  # distinct agents whose own line was down at some moment of it
    inconclusive: tuple[str, ...]
    peak: Step  # the first step with the most confirmations
    steps: tuple[Step, ...]

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return (self.end_ns - self.start_ns) / NS


@dataclass(frozen=True)
class AgentSummary:
    """One agent over the report's window: coverage and time per state."""

    agent: str
    tags: Mapping[str, str]
    provider: str
    kind: str
    sources: tuple[str, ...]
    covered_s: float
    coverage: float  # covered time ÷ the window (0–1)
    up_s: float
    provider_s: float
    customer_line_s: float
    inconclusive_s: float
    windows: int  # windows this agent confirmed


@dataclass(frozen=True)
class Collective:
    """The whole collective report."""

    provider: str
    names: tuple[str, ...]  # every provider name matched (the provider and its aliases, as found)
    window: Interval  # [period start, min(period end, as of))
    k: int
    agents: tuple[AgentSummary, ...]
    windows: tuple[Window, ...]
    steps: tuple[Step, ...]
    timelines: tuple[AgentTimeline, ...] = field(default=())


def combine(timelines: Iterable[AgentTimeline]) -> list[AgentTimeline]:
    """One timeline per agent: several packs (or providers matched under aliases) of one agent are merged."""
    by: dict[str, list[AgentTimeline]] = {}
    for t in timelines:
        by.setdefault(t.agent, []).append(t)
    out = []
    for agent in sorted(by):
        group = by[agent]
        newest = group[-1]
        spans = merge(s for t in group for s in t.spans) if len(group) > 1 else newest.spans
        sources = tuple(dict.fromkeys(src for t in group for src in t.sources))
        names = sorted({t.provider for t in group})
        out.append(
            AgentTimeline(agent, newest.tags, "/".join(names), newest.kind or group[0].kind, tuple(spans), sources)
        )
    return out


def collect(
    timelines: Sequence[AgentTimeline], window: Interval, k: int, *, provider: str = "", names: Sequence[str] = ()
) -> Collective:
    """Windows confirmed by at least ``k`` agents inside ``window``, per-agent figures and the step series."""
    if k < 1:
        raise ValueError("K must be at least 1")
    agents = [AgentTimeline(t.agent, t.tags, t.provider, t.kind, clip(t.spans, window), t.sources) for t in timelines]
    steps = _steps(agents, window)
    windows = _windows(steps, k, agents)
    length = max(1, window[1] - window[0]) / NS
    summaries = []
    for t in agents:
        secs = seconds_by_state(t.spans)
        covered = sum(secs.values())
        summaries.append(
            AgentSummary(
                t.agent,
                dict(t.tags),
                t.provider,
                t.kind,
                t.sources,
                covered,
                covered / length,
                secs[State.UP],
                secs[State.PROVIDER],
                secs[State.CUSTOMER_LINE],
                secs[State.INCONCLUSIVE],
                sum(1 for w in windows if t.agent in w.confirmed_by),
            )
        )
    return Collective(provider, tuple(names), window, k, tuple(summaries), tuple(windows), tuple(steps), tuple(agents))


def _steps(agents: Sequence[AgentTimeline], window: Interval) -> list[Step]:
    """Sweep every agent's span edges; one step per stretch of constant states (neighbours merged)."""
    lo, hi = window
    edges: dict[int, list[tuple[str, State | None]]] = {lo: [], hi: []}
    for t in agents:
        for s in t.spans:
            edges.setdefault(s.start_ns, []).append((t.agent, s.state))
            edges.setdefault(s.end_ns, [])
            edges[s.end_ns].append((t.agent, None))
    state: dict[str, State] = {}
    out: list[Step] = []
    times = sorted(edges)
    for i, at in enumerate(times[:-1]):
        # an agent's span ends where its next one starts: apply the ends first, then the starts
        for agent, new in sorted(edges[at], key=lambda e: e[1] is not None):
            if new is None:
                state.pop(agent, None)
            else:
                state[agent] = new
        nxt = times[i + 1]
        if nxt <= lo or at >= hi:
            continue
        a, b = max(at, lo), min(nxt, hi)
        step = Step(
            a,
            b,
            tuple(sorted(x for x, s in state.items() if s is State.PROVIDER)),
            len(state),
            tuple(sorted(x for x, s in state.items() if s is State.CUSTOMER_LINE)),
            tuple(sorted(x for x, s in state.items() if s is State.INCONCLUSIVE)),
        )
        prev = out[-1] if out else None
        if prev is not None and prev.end_ns == a and _same(prev, step):
            out[-1] = Step(prev.start_ns, b, prev.confirming, prev.reporting, prev.line_down, prev.inconclusive)
        else:
            out.append(step)
    return out


def _same(x: Step, y: Step) -> bool:
    return (x.confirming, x.reporting, x.line_down, x.inconclusive) == (
        y.confirming,
        y.reporting,
        y.line_down,
        y.inconclusive,
    )


def _windows(steps: Sequence[Step], k: int, agents: Sequence[AgentTimeline]) -> list[Window]:
    runs: list[list[Step]] = []
    for step in steps:
        if len(step.confirming) < k:
            continue
        if runs and runs[-1][-1].end_ns == step.start_ns:
            runs[-1].append(step)
        else:
            runs.append([step])
    out = []
    for run in runs:
        start, end = run[0].start_ns, run[-1].end_ns
        peak = max(run, key=lambda s: (len(s.confirming), -s.start_ns))
        reporting = tuple(sorted(t.agent for t in agents if _has_data(t.spans, start, end)))
        out.append(
            Window(
                start,
                end,
                tuple(sorted({a for s in run for a in s.confirming})),
                reporting,
                tuple(sorted({a for s in run for a in s.line_down})),
                tuple(sorted({a for s in run for a in s.inconclusive})),
                peak,
                tuple(run),
            )
        )
    return out


def _has_data(spans: Sequence[Span], start: int, end: int) -> bool:
    return any(s.start_ns < end and s.end_ns > start for s in spans)
