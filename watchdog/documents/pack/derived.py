"""The files of a pack that are derived from its chained rows: written by the builder, rebuilt by ``verify``.

``outages.csv``, ``timeline.png``, ``environment.json``, ``summary.html`` and ``summary.pdf`` come from the
report of the period (:func:`watchdog.documents.report.build_report`) and the latency of the results the
pack carries. :func:`~.build.build_pack` writes them from the journal; :func:`~.verify.verify_pack` rebuilds
them from the pack's own rows and ``config.yaml`` with these same functions and compares the bytes, so a
file edited with its hash rewritten in ``manifest.json`` is found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from watchdog.config import Config
from watchdog.documents.chart import LatencySeries
from watchdog.documents.pack.csvfiles import OUTAGE_COLUMNS, csv_bytes, outage_row
from watchdog.documents.pack.environment import describe_environment
from watchdog.documents.pack.manifest import file_sha256, json_bytes
from watchdog.documents.pack.summary import chart_window, summary_html, summary_pdf, timeline_chart
from watchdog.documents.report import Lang, Report, report_words
from watchdog.journal.readers import TargetInfo


def latency_series(
    report: Report, targets: Mapping[int, TargetInfo], included: Iterable[int]
) -> dict[str, LatencySeries]:
    """An empty latency series (over the chart's window) per provider target the pack carries."""
    view = chart_window(report)
    return {
        targets[i].key: LatencySeries.empty(*view)
        for i in sorted(included)
        if i in targets and targets[i].role == "provider"
    }


def outages_csv(report: Report) -> bytes:
    """outages.csv: the provider's outages (and its ISP line windows), then the controls'."""
    rows = (outage_row(a, report.zone, report.as_of_ns) for a in (*report.outages, *report.control_outages))
    return csv_bytes(OUTAGE_COLUMNS, rows)


def timeline(report: Report, latency: dict[str, LatencySeries], lang: Lang) -> bytes:
    """timeline.png in ``lang``."""
    return timeline_chart(report, latency, report_words(lang)["chart"])


def environment_json(report: Report, config: Config, agent: str | None, **fixed: Any) -> bytes:
    """environment.json; ``fixed`` overrides fields (verify: the ones a pack cannot rebuild, see verify.py)."""
    return json_bytes({**describe_environment(report, config, agent), **fixed})


def summaries(
    report: Report, chain: dict[str, Any], hashes: Mapping[str, str], counts: tuple[int, int], png: bytes, lang: Lang
) -> tuple[bytes, bytes]:
    """summary.html and summary.pdf; ``hashes``: every other file's SHA-256 but the manifest's.

    The PDF lists summary.html's hash too (the HTML is written first).
    """
    files = {n: h for n, h in hashes.items() if n not in ("summary.html", "summary.pdf", "manifest.json")}
    html = summary_html(report, {"chain": chain, "files": files, "results": counts[0], "events": counts[1]}, lang)
    files["summary.html"] = file_sha256(html)
    pdf = summary_pdf(report, {"chain": chain, "files": files, "results": counts[0], "events": counts[1]}, png, lang)
    return html, pdf
