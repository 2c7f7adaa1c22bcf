"""The evidence pack's timeline chart: per target up/down bands, the controls, attribution, latency (PNG).

Drawn with matplotlib's Figure and Agg canvas directly (no pyplot: no global figure state), with explicit
styles, fixed size and no software metadata, so the same data gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
from matplotlib import dates as mdates
from matplotlib import rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from watchdog.analysis.attribution import Interval
from watchdog.model import NS

# One colour per meaning, from the Okabe–Ito palette (told apart with every common colour-vision deficiency):
# a target's states (up, down, changed between probes) never share a colour with whose fault it was.
COLOURS = {
    "up": "#009E73",  # bluish green
    "down": "#D55E00",  # vermillion
    "uncertain": "#F0E442",  # yellow: changed between probes
    "no_data": "#c8c8c8",  # grey
    "provider": "#CC79A7",  # reddish purple
    "customer_line": "#E69F00",  # orange
    "inconclusive": "#56B4E9",  # sky blue
    "maintenance": "#0072B2",  # blue (drawn light)
}


# A provider with many targets: up to MAX_BANDS rows the chart has a labelled band per target (its look);
# beyond, the bands area keeps the height of MAX_BANDS rows and the bands get thinner, unlabelled. Up to
# MAX_LINES latency series get a line and a legend entry each; beyond, one LineCollection without legend.
# Every band of one colour is one PolyCollection however many targets there are (it was four broken_barh
# artists per target: 30 s for 1000 targets, and a 10,000-target figure too tall for Agg).
MAX_BANDS = 60
MAX_LINES = 40
BAND = 0.7  # a band's height; bands are centred on 1, 2, 3, ...


@dataclass
class Row:
    """One band of the chart: where a target was covered, down, or in an uncertain change."""

    label: str
    covered: list[Interval] = field(default_factory=list)
    down: list[Interval] = field(default_factory=list)
    uncertain: list[Interval] = field(default_factory=list)


@dataclass
class LatencySeries:
    """Mean latency per time bin for one target (fixed bins over the period)."""

    start_ns: int
    bin_ns: int
    sums: list[float]
    counts: list[int]

    @classmethod
    def empty(cls, start_ns: int, end_ns: int, bins: int = 1200) -> LatencySeries:
        """Bins covering [start, end)."""
        width = max(1, -(-(end_ns - start_ns) // bins))
        return cls(start_ns, width, [0.0] * bins, [0] * bins)

    def add(self, ts_ns: int, latency_s: float) -> None:
        """Count one successful probe's latency."""
        i = (ts_ns - self.start_ns) // self.bin_ns
        if 0 <= i < len(self.sums):
            self.sums[i] += latency_s
            self.counts[i] += 1

    def points(self) -> tuple[list[int], list[float]]:
        """Bin centres (ns) and mean latency (ms) of the bins that have data."""
        xs, ys = [], []
        for i, (total, count) in enumerate(zip(self.sums, self.counts, strict=True)):
            if count:
                xs.append(self.start_ns + i * self.bin_ns + self.bin_ns // 2)
                ys.append(1000.0 * total / count)
        return xs, ys


def _num(ts_ns: int, zone: ZoneInfo) -> float:
    return float(mdates.date2num(dt.datetime.fromtimestamp(ts_ns / NS, zone)))  # type: ignore[no-untyped-call]


def _nums(ts_ns: Sequence[int], zone: ZoneInfo) -> list[float]:
    """``_num`` of each time, converted in one call: the same floats, without date2num's per-call overhead."""
    if not ts_ns:
        return []
    days = mdates.date2num([dt.datetime.fromtimestamp(t / NS, zone) for t in ts_ns])  # type: ignore[no-untyped-call]
    return [float(d) for d in days]


def _bars(intervals: Sequence[Interval], zone: ZoneInfo) -> list[tuple[float, float]]:
    return [(_num(a, zone), _num(b, zone) - _num(a, zone)) for a, b in intervals if b > a]


def _rect(x: float, width: float, y0: float) -> list[tuple[float, float]]:
    """The corners of one bar, as broken_barh makes them (so the pixels do not change)."""
    return [(x, y0), (x, y0 + BAND), (x + width, y0 + BAND), (x + width, y0)]


def _bands(rows: Sequence[Row], zone: ZoneInfo, lo: float, hi: float) -> dict[str, list[list[tuple[float, float]]]]:
    """Every bar of every row, by colour: no data under everything, then covered, uncertain, down on top."""
    out: dict[str, list[list[tuple[float, float]]]] = {"no_data": [], "up": [], "uncertain": [], "down": []}
    for y, row in enumerate(reversed(rows), start=1):
        y0 = y - BAND / 2
        out["no_data"].append(_rect(lo, hi - lo, y0))
        for kind, intervals in (("up", row.covered), ("uncertain", row.uncertain), ("down", row.down)):
            out[kind].extend(_rect(x, w, y0) for x, w in _bars(intervals, zone))
    return out


ENGLISH = {
    "provider_outages": "outages: whose fault",
    "up": "up",
    "down": "down",
    "uncertain": "changed between probes",
    "no_data": "no data",
    "provider": "provider's fault",
    "customer_line": "customer's line",
    "inconclusive": "inconclusive",
    "maintenance": "announced maintenance",
    "latency": "latency, ms (mean per bin)",
    "local_time": "local time, {zone}",
    "day": "%d %b",
    "targets": "{count} targets",
}


def timeline_png(
    title: str,
    window: Interval,
    zone: ZoneInfo,
    rows: Sequence[Row],
    attribution: Mapping[str, Sequence[Interval]],
    maintenance: Sequence[Interval],
    latency: Mapping[str, LatencySeries],
    words: Mapping[str, str] | None = None,
) -> bytes:
    """Render the chart; ``attribution`` maps provider/customer_line/inconclusive/no_data to intervals.

    ``words`` are its labels (the ``chart`` table of ``documents/locale/report.<lang>.yaml``); English by default.
    """
    say = {**ENGLISH, **(words or {})}
    shown = min(len(rows), MAX_BANDS)  # the bands area is as tall as this many rows
    height = 2.6 + 0.32 * (shown + 1)
    fig = Figure(figsize=(12, height), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=[shown + 1.5, 2.2], hspace=0.25)
    bands = fig.add_subplot(grid[0])
    lat = fig.add_subplot(grid[1], sharex=bands)
    lo, hi = _num(window[0], zone), _num(window[1], zone)
    for kind, bars in _bands(rows, zone, lo, hi).items():
        if bars:  # one artist per colour for all the rows: drawn in one pass
            bands.add_collection(PolyCollection(bars, facecolors=COLOURS[kind], linewidth=0))
    top = len(rows) + 1
    for kind in ("no_data", "inconclusive", "customer_line", "provider"):
        bands.broken_barh(_bars(attribution.get(kind, ()), zone), (top - 0.35, 0.7), facecolors=COLOURS[kind])
    for x, w in _bars(maintenance, zone):
        bands.axvspan(x, x + w, color=COLOURS["maintenance"], alpha=0.15, linewidth=0)
    if len(rows) <= MAX_BANDS:
        bands.set_yticks(
            range(1, top + 1), [*(row.label for row in reversed(rows)), say["provider_outages"]], fontsize=8
        )
    else:
        count = say["targets"].format(count=len(rows))
        bands.set_yticks([(1 + len(rows)) / 2, top], [count, say["provider_outages"]], fontsize=8)
    bands.set_ylim(0.4, top + 0.6)
    bands.set_xlim(lo, hi)
    bands.set_title(title, fontsize=11, loc="left")
    bands.grid(axis="x", color="#dddddd", linewidth=0.6)
    legend = [
        Patch(color=COLOURS["up"], label=say["up"]),
        Patch(color=COLOURS["down"], label=say["down"]),
        Patch(color=COLOURS["uncertain"], label=say["uncertain"]),
        Patch(color=COLOURS["no_data"], label=say["no_data"]),
        Patch(color=COLOURS["provider"], label=say["provider"]),
        Patch(color=COLOURS["customer_line"], label=say["customer_line"]),
        Patch(color=COLOURS["inconclusive"], label=say["inconclusive"]),
        Patch(color=COLOURS["maintenance"], alpha=0.3, label=say["maintenance"]),
    ]
    bands.legend(handles=legend, loc="upper left", bbox_to_anchor=(0, -0.02), ncol=8, fontsize=7, frameon=False)
    bands.tick_params(axis="x", labelbottom=False)
    series = [(key, latency[key].points()) for key in sorted(latency)]
    series = [(key, (xs, ys)) for key, (xs, ys) in series if xs]
    if len(series) <= MAX_LINES:
        for key, (xs, ys) in series:
            lat.plot(_nums(xs, zone), ys, linewidth=0.8, label=key)
    else:
        cycle = [to_hex(c["color"]) for c in rcParams["axes.prop_cycle"]]
        origin = _num(window[0], zone)  # matplotlib's dates are days: convert all points at once
        lines = [
            np.column_stack((origin + (np.array(xs, dtype=float) - window[0]) / (86400 * NS), ys))
            for _, (xs, ys) in series
        ]
        lat.add_collection(
            LineCollection(lines, linewidths=0.8, colors=[cycle[i % len(cycle)] for i in range(len(lines))])
        )
        lat.autoscale_view(scalex=False)
    lat.set_ylabel(say["latency"], fontsize=8)
    lat.set_ylim(bottom=0)
    lat.grid(color="#dddddd", linewidth=0.6)
    if series and len(series) <= MAX_LINES:  # no legend without a line: a target down all period has no latency
        lat.legend(fontsize=7, loc="upper right", ncol=4, frameon=False)
    locator = mdates.AutoDateLocator(tz=zone, maxticks=12)  # type: ignore[no-untyped-call]
    lat.xaxis.set_major_locator(locator)
    span_s = (window[1] - window[0]) / NS
    day = say["day"]
    ticks = f"{day}\n%H:%M" if span_s > 3 * 3600 else f"%H:%M\n{day}" if span_s > 600 else f"%H:%M:%S\n{day}"
    lat.xaxis.set_major_formatter(mdates.DateFormatter(ticks, tz=zone))  # type: ignore[no-untyped-call]
    lat.tick_params(axis="both", labelsize=8)
    lat.set_xlabel(say["local_time"].format(zone=zone.key), fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.15)
    return buf.getvalue()
