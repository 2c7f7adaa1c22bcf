"""Inputs for the timeline chart tests: a small provider (the golden image) and a big one (many targets)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from watchdog.analysis.attribution import Interval
from watchdog.documents.chart import LatencySeries, Row, timeline_png
from watchdog.model import NS

T0 = 1_795_000_000 * NS  # 2026-11-18 UTC
MSK = ZoneInfo("Europe/Moscow")


def chart(targets: int, *, hours: int = 6) -> bytes:
    """A chart over ``hours``: every target covered but for a gap, every third one down once, latency per minute."""
    window: Interval = (T0, T0 + hours * 3600 * NS)
    rows, latency = [], {}
    for i in range(targets):
        row = Row(f"broker/target-{i}", covered=[(T0, T0 + 2 * 3600 * NS), (T0 + 2 * 3600 * NS + 600 * NS, window[1])])
        if i % 3 == 0:
            start = T0 + (3600 + 60 * i) * NS
            row.down.append((start, start + 1800 * NS))
            row.uncertain.extend([(start - 30 * NS, start), (start + 1800 * NS, start + 1830 * NS)])
        rows.append(row)
        series = LatencySeries.empty(*window)
        for minute in range(hours * 60):
            series.add(T0 + minute * 60 * NS, 0.010 + (i % 7) / 1000 + (minute % 13) / 10_000)
        latency[row.label] = series
    attribution = {
        "provider": [(T0 + 3600 * NS, T0 + 5400 * NS)],
        "no_data": [(T0 + 2 * 3600 * NS, T0 + 2 * 3600 * NS + 600 * NS)],
        "customer_line": [(T0 + 4 * 3600 * NS, T0 + 4 * 3600 * NS + 300 * NS)],
    }
    maintenance = [(T0 + 5 * 3600 * NS, T0 + 5 * 3600 * NS + 1200 * NS)]
    return timeline_png("Broker — 2026-11-18 (Europe/Moscow)", window, MSK, rows, attribution, maintenance, latency)
