"""The pack's summary.html and summary.pdf, and the chart (timeline.png) both show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchdog.analysis.attribution import Interval, intersect, subtract, total, union
from watchdog.documents.chart import LatencySeries, Row, timeline_png
from watchdog.documents.report import Lang, Report, render, report_json
from watchdog.model import NS, AttributedOutage
from watchdog.timefmt import to_datetime

ZOOM_BELOW = 0.1  # data over less than this share of the period: the chart shows where the data is


def chart_window(report: Report) -> Interval:
    """The chart's time axis: the period, or (data over under a tenth of it) the stretch with data, padded.

    A week of monitoring in a month is still drawn over the month; a one-minute run (the demo, a first
    try) would be a hairline on a month's axis, so the chart is zoomed onto it and its title says so.
    """
    per = report.period
    covered = intersect(union(report.analysis.coverage), [(per.start_ns, report.as_of_ns)])
    if not covered or total(covered) >= ZOOM_BELOW * (per.end_ns - per.start_ns):
        return per.start_ns, per.end_ns
    lo, hi = covered[0][0], covered[-1][1]
    pad = max((hi - lo) // 20, NS)
    return max(per.start_ns, lo - pad), min(per.end_ns, hi + pad)


def timeline_chart(report: Report, latency: dict[str, LatencySeries], words: Mapping[str, str]) -> bytes:
    """timeline.png: each target's coverage and outages, attribution, maintenance and latency over the window."""
    per, zone, now = report.period, report.zone, report.as_of_ns
    window = chart_window(report)
    analysis = report.analysis
    rows = []
    keys = [t.key for t in report.targets] + (["line/internet"] if report.provider.kind.value == "isp" else [])
    keys += [t.key for t in report.controls]
    by_target: dict[str, list[AttributedOutage]] = {}
    for a in (*report.outages, *report.control_outages):
        by_target.setdefault(a.outage.target, []).append(a)
    coverage = intersect(union(analysis.coverage), [(per.start_ns, now)])
    for key in keys:
        row = Row(key, covered=list(coverage))
        for a in by_target.get(key, ()):
            o = a.outage
            end = o.end_ns if o.end_ns is not None else now
            last_fail = o.end_bounds[0] if o.end_bounds else end
            row.down.append((o.start_ns, last_fail))
            if o.start_bounds[0] is not None:
                row.uncertain.append((o.start_bounds[0], o.start_ns))
            if last_fail < end:
                row.uncertain.append((last_fail, end))
        row.down = intersect(union(row.down), [window])
        row.uncertain = subtract(intersect(union(row.uncertain), [window]), row.down)
        rows.append(row)
    attribution: dict[str, list[Interval]] = {}
    for a in report.outages:
        for s in a.segments:
            attribution.setdefault(s.attribution.value, []).append((s.start_ns, s.end_ns))
    attribution = {k: intersect(union(v), [window]) for k, v in attribution.items()}
    maintenance = [(m["start"]["ns"], m["end"]["ns"]) for m in report_json(report)["maintenance"]]
    title = f"{report.provider.display_name} — {per.label} ({zone.key})"
    if window != (per.start_ns, per.end_ns):
        first, last = to_datetime(window[0], zone), to_datetime(window[1], zone)
        until = last.strftime("%H:%M:%S" if first.date() == last.date() else "%Y-%m-%d %H:%M:%S")
        title += words["data_only"].format(first=f"{first:%Y-%m-%d %H:%M:%S}", until=until)
    return timeline_png(title, window, zone, rows, attribution, maintenance, latency, words)


def summary_html(report: Report, pack: dict[str, Any], lang: Lang) -> bytes:
    """summary.html: the report with the pack's contents (``pack``: its chain, file hashes and row counts)."""
    return render(report, "report.html.j2", lang=lang, pack=pack).encode("utf-8")


def summary_pdf(report: Report, pack: dict[str, Any], png: bytes, lang: Lang) -> bytes:
    """summary.pdf: the same, with the chart ``png``."""
    from watchdog.documents.pdf import summary_pdf as pdf  # imported late: fpdf2 is only needed for packs

    return pdf(report, pack, png, lang)
