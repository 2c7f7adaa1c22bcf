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

from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from watchdog.analysis.attribution import Interval
from watchdog.model import NS

COLOURS = {
    "up": "#8fd18f",
    "down": "#d62728",
    "uncertain": "#ff9f40",
    "no_data": "#c8c8c8",
    "provider": "#d62728",
    "customer_line": "#ff9f40",
    "inconclusive": "#9467bd",
    "maintenance": "#1f77b4",
}


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


def _bars(intervals: Sequence[Interval], zone: ZoneInfo) -> list[tuple[float, float]]:
    return [(_num(a, zone), _num(b, zone) - _num(a, zone)) for a, b in intervals if b > a]


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
    height = 2.6 + 0.32 * (len(rows) + 1)
    fig = Figure(figsize=(12, height), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=[len(rows) + 1.5, 2.2], hspace=0.25)
    bands = fig.add_subplot(grid[0])
    lat = fig.add_subplot(grid[1], sharex=bands)
    lo, hi = _num(window[0], zone), _num(window[1], zone)
    labels = []
    for y, row in enumerate(reversed(rows), start=1):
        labels.append(row.label)
        bands.broken_barh([(lo, hi - lo)], (y - 0.35, 0.7), facecolors=COLOURS["no_data"], linewidth=0)
        bands.broken_barh(_bars(row.covered, zone), (y - 0.35, 0.7), facecolors=COLOURS["up"], linewidth=0)
        bands.broken_barh(_bars(row.uncertain, zone), (y - 0.35, 0.7), facecolors=COLOURS["uncertain"], linewidth=0)
        bands.broken_barh(_bars(row.down, zone), (y - 0.35, 0.7), facecolors=COLOURS["down"], linewidth=0)
    top = len(rows) + 1
    for kind in ("no_data", "inconclusive", "customer_line", "provider"):
        bands.broken_barh(_bars(attribution.get(kind, ()), zone), (top - 0.35, 0.7), facecolors=COLOURS[kind])
    for x, w in _bars(maintenance, zone):
        bands.axvspan(x, x + w, color=COLOURS["maintenance"], alpha=0.15, linewidth=0)
    bands.set_yticks(range(1, top + 1), [*labels, say["provider_outages"]], fontsize=8)
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
    plotted = 0
    for key in sorted(latency):
        xs, ys = latency[key].points()
        if xs:
            lat.plot([_num(x, zone) for x in xs], ys, linewidth=0.8, label=key)
            plotted += 1
    lat.set_ylabel(say["latency"], fontsize=8)
    lat.set_ylim(bottom=0)
    lat.grid(color="#dddddd", linewidth=0.6)
    if plotted:  # no legend without a line: a target down all period has no latency to plot
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
