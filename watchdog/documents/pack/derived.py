"""The files of a pack that are derived from its chained rows: written by the builder, rebuilt by ``verify``.

``outages.csv``, ``timeline.png``, ``environment.json``, ``summary.html`` and ``summary.pdf`` come from the
report of the period (:func:`watchdog.documents.report.build_report`) and the latency of the results the
pack carries. :func:`~.build.build_pack` writes them from the journal; :func:`~.verify.verify_pack` rebuilds
them from the pack's own rows and ``config.yaml`` with these same functions and compares the bytes, so a
file edited with its hash rewritten in ``manifest.json`` is found.

Both build the report the same way (:func:`pack_report`): from a throwaway journal holding only the events
the pack carries (:func:`load_events`) and the config as the pack's ``config.yaml`` says it
(:func:`pack_config`). So a good pack always rebuilds identically — a target defined after the pack's
segment, or a value that differs once redacted, changes nothing.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import yaml

from watchdog.analysis.sla import Period
from watchdog.config import Config, loads
from watchdog.documents.chart import LatencySeries
from watchdog.documents.pack.csvfiles import OUTAGE_COLUMNS, RESULT_COLUMNS, csv_bytes, outage_row
from watchdog.documents.pack.environment import describe_environment
from watchdog.documents.pack.manifest import file_sha256, json_bytes
from watchdog.documents.pack.summary import chart_window, summary_html, summary_pdf, timeline_chart
from watchdog.documents.report import Lang, Report, build_report, report_words
from watchdog.errors import ConfigError, IntegrityError
from watchdog.journal.readers import Head, TargetInfo
from watchdog.journal.store import Journal


class _AnyEnv(dict[str, str]):
    """The environment config.yaml is loaded with: every ``${VAR}`` stays as written (the pack has no values)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return "${" + key + "}"


# config.yaml sections a summary never reads, left out when it is loaded: their redacted secrets would not
# validate (``<redacted>`` is no notification URL)
_UNREAD_SECTIONS = ("notify", "influxdb", "web", "reminders")


def pack_config(content: bytes) -> Config:
    """A pack's config.yaml as a Config; IntegrityError (naming config.yaml) when it does not load."""
    try:
        data = yaml.safe_load(content.decode("utf-8")) or {}
        if not isinstance(data, dict):
            raise IntegrityError("config.yaml: not a mapping")
        for key in _UNREAD_SECTIONS:
            data.pop(key, None)
        if isinstance(data.get("agent"), dict):
            data["agent"].pop("share", None)
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        return loads(text, filename="config.yaml", env=_AnyEnv())
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
        raise IntegrityError(f"config.yaml: not readable YAML ({type(exc).__name__})") from None
    except ConfigError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise IntegrityError(f"config.yaml: does not load as a config ({first})") from None


class EventLoader:
    """Puts the events a pack carries (canonical columns) into a throwaway journal, in batches."""

    def __init__(self, scratch: Journal, first: Iterable[Sequence[Any]] = ()) -> None:
        self.scratch = scratch
        self.batch: list[tuple[Any, ...]] = [tuple(r[:6]) for r in first]

    def add(self, row: Sequence[Any]) -> None:
        """One event: seq, ts_ns, type, target, ref, data."""
        self.batch.append(tuple(row[:6]))
        if len(self.batch) >= 10_000:
            self.flush()

    def flush(self) -> None:
        """Write what is pending; then every target the events define gets its row in ``targets``."""
        with self.scratch.transaction():
            self.scratch.conn.executemany(
                "INSERT OR IGNORE INTO events (seq, ts_ns, type, target, ref, data) VALUES (?, ?, ?, ?, ?, ?)",
                self.batch,
            )
        self.batch.clear()

    def finish(self) -> dict[int, TargetInfo]:
        """Flush, register the defined targets; return them."""
        self.flush()
        targets = self.scratch.targets()
        with self.scratch.transaction():
            self.scratch.conn.executemany(
                "INSERT OR IGNORE INTO targets (id, key) VALUES (?, ?)", sorted((i, t.key) for i, t in targets.items())
            )
        return targets


def pack_report(
    scratch: Journal,
    config: Config,
    provider: str,
    period: Period,
    as_of_ns: int,
    share_agent: str | None,
    journal_id: str,
    head: Mapping[str, Any] | None,
) -> Report:
    """The pack's report: from the events it carries and its config.yaml (KeyError: no such provider)."""
    if share_agent is not None:
        from watchdog.documents.sharing import report_config

        report = build_report(
            scratch, report_config(config, share_agent), provider, period, as_of_ns, with_contacts=False
        )
    else:
        report = build_report(scratch, config, provider, period, as_of_ns)
    return dataclasses.replace(report, journal_id=journal_id, head=Head(**head) if isinstance(head, Mapping) else None)


def add_latencies(latency: dict[str, LatencySeries], targets: Mapping[int, TargetInfo], lines: Iterator[str]) -> None:
    """Each successful result of results.csv (its lines) into its target's latency series."""
    for cells in csv.reader(lines):
        if cells[0] == RESULT_COLUMNS[0] or cells[11] or not cells[10]:
            continue  # the header, a failure or no latency
        info = targets.get(int(cells[8]))
        series = latency.get(info.key) if info is not None else None
        if series is not None:
            series.add(int(cells[9]), int(cells[10]) / 1_000_000)


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
