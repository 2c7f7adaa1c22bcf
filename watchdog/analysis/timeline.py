"""One agent's view of one provider over time: when it had data, and whose fault each down stretch was.

A *span* is a stretch with one state: ``up`` (the agent probed the provider and saw no outage),
``provider``, ``customer_line`` or ``inconclusive`` (an outage of one of the provider's targets — or, for
an ISP, a lost-internet window — with that attribution). Time without a span is time without data: the
agent was not running, stalled, or could not probe any of the provider's targets.

The same function computes the spans for the InfluxDB exporter (from the agent's journal) and for a
collective report from evidence packs (from the chained rows a pack carries), so both sources give the
same answer for the same rows. For InfluxDB the spans are cut at UTC midnights and each day is encoded
as text: ``<start>-<end><code>`` items joined by ``,``, offsets in ns from the day's start, codes ``u``
(up), ``p`` (provider), ``l`` (customer_line), ``i`` (inconclusive).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from watchdog.analysis.attribution import Interval, intersect, subtract, union
from watchdog.analysis.outages import Analysis, coverage, stall_intervals
from watchdog.journal.store import Journal
from watchdog.model import NS, Attribution, Role

DAY_NS = 86_400 * NS


class State(enum.StrEnum):
    """What an agent said about a provider at one moment (no span = no data)."""

    UP = "up"
    PROVIDER = "provider"
    CUSTOMER_LINE = "customer_line"
    INCONCLUSIVE = "inconclusive"


CODES = {State.UP: "u", State.PROVIDER: "p", State.CUSTOMER_LINE: "l", State.INCONCLUSIVE: "i"}
_STATES = {code: state for state, code in CODES.items()}


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch ``[start, end)`` with one state."""

    start_ns: int
    end_ns: int
    state: State


def provider_spans(analysis: Analysis, journal: Journal, provider_id: str, window: Interval) -> tuple[Span, ...]:
    """The spans of one provider inside ``window``, from an analysis of ``journal`` that covers the window.

    Coverage is when the agent ran and could probe at least one of the provider's targets (runs minus
    stalls). Where attributions overlap (they cannot on one timeline, but stay safe) the cautious reading
    wins: customer_line, then inconclusive, then provider.
    """
    runs = journal.runs()
    stalls = stall_intervals(journal)
    ids = [
        info.id
        for info in analysis.targets.values()
        if info.role == Role.PROVIDER.value and info.provider == provider_id
    ]
    covered = intersect(
        union(iv for i in ids for iv in coverage(journal, analysis.now_ns, i, runs=runs, stalls=stalls)), [window]
    )
    by: dict[Attribution, list[Interval]] = {a: [] for a in Attribution}
    for attributed in analysis.for_provider(provider_id):
        for seg in attributed.segments:
            by[seg.attribution].append((seg.start_ns, seg.end_ns))
    line = intersect(union(by[Attribution.CUSTOMER_LINE]), covered)
    unsure = subtract(intersect(union(by[Attribution.INCONCLUSIVE]), covered), line)
    down = subtract(subtract(intersect(union(by[Attribution.PROVIDER]), covered), line), unsure)
    up = subtract(subtract(subtract(covered, line), unsure), down)
    return spans_of({State.UP: up, State.PROVIDER: down, State.CUSTOMER_LINE: line, State.INCONCLUSIVE: unsure})


def spans_of(by_state: dict[State, list[Interval]]) -> tuple[Span, ...]:
    """Disjoint interval lists per state → spans in time order, neighbours of one state merged."""
    items = sorted((a, b, s) for s, ivs in by_state.items() for a, b in ivs if b > a)
    out: list[Span] = []
    for a, b, s in items:
        if out and out[-1].state is s and out[-1].end_ns == a:
            out[-1] = Span(out[-1].start_ns, b, s)
        else:
            out.append(Span(a, b, s))
    return tuple(out)


def clip(spans: Iterable[Span], window: Interval) -> tuple[Span, ...]:
    """The parts of the spans inside ``window``."""
    lo, hi = window
    return tuple(
        Span(max(s.start_ns, lo), min(s.end_ns, hi), s.state) for s in spans if s.end_ns > lo and s.start_ns < hi
    )


def merge(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Spans from several sources (packs of one agent, days of InfluxDB) as one list; where two disagree
    about the same moment, the cautious state wins (customer_line, inconclusive, provider, up)."""
    by: dict[State, list[Interval]] = {s: [] for s in State}
    for span in spans:
        by[span.state].append((span.start_ns, span.end_ns))
    line = union(by[State.CUSTOMER_LINE])
    unsure = subtract(union(by[State.INCONCLUSIVE]), line)
    down = subtract(subtract(union(by[State.PROVIDER]), line), unsure)
    up = subtract(subtract(subtract(union(by[State.UP]), line), unsure), down)
    return spans_of({State.UP: up, State.PROVIDER: down, State.CUSTOMER_LINE: line, State.INCONCLUSIVE: unsure})


def seconds_by_state(spans: Iterable[Span]) -> dict[State, float]:
    """Total time per state, in seconds."""
    out = {s: 0 for s in State}
    for span in spans:
        out[span.state] += span.end_ns - span.start_ns
    return {s: ns / NS for s, ns in out.items()}


def days(window: Interval) -> Iterator[int]:
    """The UTC midnights (ns) of every day that overlaps ``window``."""
    day = window[0] - window[0] % DAY_NS
    while day < window[1]:
        yield day
        day += DAY_NS


def encode(spans: Sequence[Span], origin_ns: int) -> list[str]:
    """The spans as ``<start>-<end><code>`` items, offsets in ns from ``origin_ns``."""
    return [f"{s.start_ns - origin_ns}-{s.end_ns - origin_ns}{CODES[s.state]}" for s in spans]


def decode(text: str, origin_ns: int) -> list[Span]:
    """Items written by :func:`encode` (joined by ``,``) → spans; ValueError names the bad item."""
    out = []
    for item in text.split(","):
        if not item:
            continue
        try:
            state = _STATES[item[-1]]
            a, b = item[:-1].split("-")
            start, end = origin_ns + int(a), origin_ns + int(b)
        except (KeyError, ValueError):
            raise ValueError(f"not a timeline span: {item!r}") from None
        if end <= start:
            raise ValueError(f"not a timeline span (ends before it starts): {item!r}")
        out.append(Span(start, end, state))
    return out


def chunks(items: Sequence[str], max_chars: int) -> list[str]:
    """Join items with ``,`` into as few texts of at most ``max_chars`` as the order allows (one at least)."""
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for item in items:
        if cur and size + 1 + len(item) > max_chars:
            out.append(",".join(cur))
            cur, size = [], 0
        cur.append(item)
        size += len(item) + (1 if size else 0)
    out.append(",".join(cur))
    return out
