"""Timelines and latency charts as plain geometry for server-rendered inline SVG (no scripts, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from watchdog.analysis.attribution import Interval, intersect
from watchdog.model import AttributedOutage
from watchdog.web.data import LatencySeries

MIN_OUTAGE_WIDTH = 0.4  # percent of the width: a 10 s outage in 30 days must still be visible


@dataclass(frozen=True, slots=True)
class Bar:
    """One rectangle of a timeline: x and width in percent of the window, a CSS class, what it covers."""

    x: float
    width: float
    kind: str  # "up", "nodata", or an attribution: "provider", "customer_line", "inconclusive", "no_data"
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class Timeline:
    """A target's state over a window: probed (up), not probed (no data), and its outages by attribution."""

    key: str
    since_ns: int
    until_ns: int
    bars: tuple[Bar, ...]
    outages: int


def timeline(
    key: str, since_ns: int, until_ns: int, coverage: Sequence[Interval], outages: Sequence[AttributedOutage]
) -> Timeline:
    """Bars for one target over [since, until): coverage in green, outage segments coloured by attribution."""
    span = max(1, until_ns - since_ns)

    def bar(a: int, b: int, kind: str, min_width: float = 0.0) -> Bar:
        x = 100.0 * (a - since_ns) / span
        width = max(min_width, 100.0 * (b - a) / span)
        return Bar(round(min(x, 100.0 - width), 4), round(width, 4), kind, a, b)

    window = [(since_ns, until_ns)]
    bars = [bar(a, b, "up") for a, b in intersect(list(coverage), window)]
    count = 0
    for o in outages:
        end = o.outage.end_ns if o.outage.end_ns is not None else until_ns
        if end <= since_ns or o.outage.start_ns >= until_ns:
            continue
        count += 1
        for seg in o.segments:
            for a, b in intersect([(seg.start_ns, seg.end_ns)], window):
                bars.append(bar(a, b, seg.attribution.value, MIN_OUTAGE_WIDTH))
    return Timeline(key, since_ns, until_ns, tuple(bars), count)


@dataclass(frozen=True, slots=True)
class LatencyChart:
    """A latency sparkline: median path and max bars in a 0..width × 0..height box, plus failure marks."""

    width: int
    height: int
    scale_s: float  # the latency at the top of the box
    median_path: str
    max_bars: tuple[tuple[float, float], ...]  # (x, height) per bucket with data
    failures: tuple[float, ...]  # x of buckets with failed probes


def latency_chart(series: LatencySeries, height: int = 40) -> LatencyChart:
    """Scale to the largest bucket maximum (at least 1 ms) and draw the median as a path with gaps."""
    buckets = series.buckets
    width = len(buckets)
    top = max([b.max_s for b in buckets if b.max_s is not None] + [0.001])

    def y(v: float) -> float:
        return round(height - height * min(v, top) / top, 2)

    path: list[str] = []
    pen_down = False
    for i, b in enumerate(buckets):
        if b.median_s is None:
            pen_down = False
            continue
        path.append(f"{'L' if pen_down else 'M'}{i + 0.5:g},{y(b.median_s):g}")
        pen_down = True
    bars = tuple((float(i), round(height * b.max_s / top, 2)) for i, b in enumerate(buckets) if b.max_s is not None)
    fails = tuple(float(i) for i, b in enumerate(buckets) if b.failures)
    return LatencyChart(width, height, top, " ".join(path), bars, fails)
