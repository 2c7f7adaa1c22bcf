"""Evidence packs: one zip per provider and period that anyone can open and check with ``watchdog verify``.

Files, in this order (fixed dates and order, so the same journal and inputs give the same bytes):

* ``summary.html`` / ``summary.pdf`` — the SLA report, the chart, the pack's contents and chain head;
* ``outages.csv``   — the provider's outages (and its ISP line windows) and the controls', with bounds;
* ``results.csv``   — every raw result of the provider's targets *and* the controls in the chain segment;
* ``events.csv``    — every event in the chain segment (outages, runs, clock, contacts, ...);
* ``contacts.csv``  — the contact log for the provider in the period; ``clock.csv`` — clock samples/steps;
* ``timeline.png``  — the chart; ``config.yaml`` — the config with secrets redacted;
* ``environment.json`` — agent versions, hosts, zones and the clock summary;
* ``manifest.json`` — SHA-256 of every other file, and the chain segment with its *prologue*: the few
  earlier events the segment's rows build on (the included targets' latest definitions, the start of the
  run going on and the opening of every outage still open when the segment begins), so a reader can
  recompute the period from the pack alone. They sit in blocks the pack does not carry, so they can only
  be checked against the chained rows that refer to them, not against the chain itself.

The chain segment: every sealed block that holds a row of the period. ``results.csv`` and ``events.csv``
carry the canonical columns of their rows (``seq, target_id, ts_ns, latency_us, failure, detail,
metrics`` / ``seq, ts_ns, type, target_id, ref, data``; an empty cell is NULL) plus ``seal``, the first
4 bytes of the row's hash as the block recorded it. For each block the manifest gives its header and,
for every stream the pack leaves out (other providers' targets), its row count and digest. ``verify``
recomputes every row hash, stream digest and block hash, links the blocks, and names the file and row
that changed. CSVs are UTF-8 with a BOM and CRLF line ends, so spreadsheet programs read Cyrillic.

A *shared* pack (``share=``; ``watchdog evidence --share``) is for a consumer advocate: the summary is built
without the contract and the contact log, ``contacts.csv`` is left out, ``config.yaml`` is the shared view
(:func:`watchdog.collective.share.shared_config_text`), the manifest names the shared identity, and the
events that are the customer's own business — contacts, declared deadlines, and every event of a target of
a provider not shared — are *redacted*: their ``data`` cell is ``<redacted row-hash=…>`` with the row's
full SHA-256, so the chain still verifies without their content.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import heapq
import io
import json
import re
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import yaml

from watchdog import __version__
from watchdog.analysis.attribution import Interval, intersect, subtract, total, union
from watchdog.analysis.sla import Period
from watchdog.config import Config
from watchdog.documents.chart import LatencySeries, Row, timeline_png
from watchdog.documents.report import Lang, Report, build_report, render, report_json, report_words
from watchdog.errors import IntegrityError
from watchdog.journal.chain import EVENTS_STREAM, block_hash, event_row_hash, result_row_hash
from watchdog.journal.contacts import EV_CONTACT, from_event
from watchdog.journal.schema import (
    EV_AGENT_START,
    EV_AGENT_STOP,
    EV_CLOCK_SAMPLE,
    EV_CLOCK_STEP,
    EV_OUTAGE_CLOSE,
    EV_OUTAGE_OPEN,
    EV_RUN_END_RECOVERED,
    EV_TARGET,
)
from watchdog.journal.store import Journal
from watchdog.model import NS, AttributedOutage, Attribution
from watchdog.timefmt import local_iso, to_datetime, utc_iso

if TYPE_CHECKING:
    from watchdog.documents.sharing import SharedIdentity

PACK_FORMAT = "outage-watchdog-pack/1"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FILE_ORDER = (
    "summary.html",
    "summary.pdf",
    "outages.csv",
    "results.csv",
    "events.csv",
    "contacts.csv",
    "clock.csv",
    "timeline.png",
    "config.yaml",
    "environment.json",
    "manifest.json",
)
RESULT_COLUMNS = (
    "time_utc",
    "time_local",
    "target",
    "role",
    "ok",
    "latency_ms",
    "in_period",
    "seq",
    "target_id",
    "ts_ns",
    "latency_us",
    "failure",
    "detail",
    "metrics",
    "seal",
)
EVENT_COLUMNS = ("time_utc", "time_local", "target", "seq", "ts_ns", "type", "target_id", "ref", "data", "seal")
CONTACT_COLUMNS = ("seq", "at_utc", "at_local", "recorded_utc", "channel", "ref", "note")
CLOCK_COLUMNS = (
    "seq",
    "time_utc",
    "time_local",
    "kind",
    "server",
    "ok",
    "offset_s",
    "delay_s",
    "error_bound_s",
    "stratum",
    "root_delay_s",
    "root_dispersion_s",
    "step_s",
    "error",
)
OUTAGE_COLUMNS = (
    "id",
    "target",
    "role",
    "open",
    "start_utc",
    "start_local",
    "start_after_utc",
    "end_utc",
    "end_local",
    "end_after_utc",
    "duration_s",
    "attribution",
    "provider_s",
    "customer_line_s",
    "inconclusive_s",
    "no_data_s",
    "failure",
    "detail",
)
REDACTED = "<redacted>"
REDACTED_ROW = "<redacted row-hash="  # an events.csv data cell: ``<redacted row-hash=<64 hex>>``
PRIVATE_EVENT_TYPES = ("contact", "deadline")  # the contact log and declared complaint deadlines
_SECRET_KEY = re.compile(r"(token|password|passwd|secret|api[_-]?key|authorization|cookie|credential)", re.I)
_SECRET_PATHS = {
    ("notify", "urls"),
    ("influxdb", "token"),
    ("influxdb", "password"),
    ("web", "token"),
    ("share", "salt"),
}
_ENV_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<pw>[^/@\s]+)@", re.I)


# ------------------------------------------------------------------------------------------------ CSV


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A small CSV file: UTF-8 with a BOM, CRLF, minimal quoting; None is an empty cell."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def read_csv(data: bytes, name: str) -> tuple[list[str], list[list[str]]]:
    """Parse a pack CSV; IntegrityError names the file when it is not one."""
    try:
        text = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise IntegrityError(f"{name}: not a readable CSV file ({exc})") from exc
    if not rows:
        raise IntegrityError(f"{name}: empty")
    return rows[0], rows[1:]


def _null(cell: str) -> str | None:
    return None if cell == "" else cell


def _int_or_null(cell: str) -> int | None:
    return None if cell == "" else int(cell)


def result_canon(cells: Sequence[str]) -> tuple[int, int, int, int | None, str | None, str | None, str | None]:
    """The canonical columns of a results.csv row (after the human ones)."""
    seq, target, ts, lat, failure, detail, metrics = cells
    return int(seq), int(target), int(ts), _int_or_null(lat), _null(failure), _null(detail), _null(metrics)


def event_canon(cells: Sequence[str]) -> tuple[int, int, str, int | None, int | None, str]:
    """The canonical columns of an events.csv row."""
    seq, ts, type_, target, ref, data = cells
    return int(seq), int(ts), type_, _int_or_null(target), _int_or_null(ref), data


def contact_rows(events: Iterable[tuple[int, int, str, str]], provider: str, period: Period, zone: ZoneInfo) -> bytes:
    """contacts.csv from ``(seq, ts_ns, type, data)`` event rows: the provider's contacts in the period."""
    rows = []
    for seq, ts, type_, data in events:
        if type_ != EV_CONTACT:
            continue
        c = from_event(seq, ts, json.loads(data))
        if c.provider == provider and period.start_ns <= c.at_ns < period.end_ns:
            rows.append(
                (
                    c.at_ns,
                    c.seq,
                    [c.seq, utc_iso(c.at_ns), local_iso(c.at_ns, zone), utc_iso(ts), c.channel, c.ref, c.note],
                )
            )
    rows.sort(key=lambda r: (r[0], r[1]))
    return csv_bytes(CONTACT_COLUMNS, (r[2] for r in rows))


def _s(ns: Any) -> str | None:
    return None if ns is None else f"{int(ns) / NS:.9f}"


def clock_rows(events: Iterable[tuple[int, int, str, str]], period: Period, zone: ZoneInfo) -> bytes:
    """clock.csv from ``(seq, ts_ns, type, data)`` event rows: samples and steps inside the period."""
    rows = []
    for seq, ts, type_, raw in events:
        if type_ not in (EV_CLOCK_SAMPLE, EV_CLOCK_STEP) or not period.start_ns <= ts < period.end_ns:
            continue
        d = json.loads(raw)
        if type_ == EV_CLOCK_STEP:
            rows.append(
                [
                    seq,
                    utc_iso(ts),
                    local_iso(ts, zone),
                    "step",
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    _s(d.get("step_ns")),
                    None,
                ]
            )
            continue
        rows.append(
            [
                seq,
                utc_iso(ts),
                local_iso(ts, zone),
                "sample",
                d.get("server"),
                "true" if d.get("ok") else "false",
                _s(d.get("offset_ns")),
                _s(d.get("delay_ns")),
                _s(d.get("error_bound_ns")),
                d.get("stratum"),
                _s(d.get("root_delay_ns")),
                _s(d.get("root_dispersion_ns")),
                None,
                d.get("error"),
            ]
        )
    return csv_bytes(CLOCK_COLUMNS, rows)


_ATTRIBUTION_COLUMNS = (Attribution.PROVIDER, Attribution.CUSTOMER_LINE, Attribution.INCONCLUSIVE, Attribution.NO_DATA)


def _outage_row(a: AttributedOutage, zone: ZoneInfo, as_of_ns: int) -> list[Any]:
    o = a.outage
    end = o.end_ns if o.end_ns is not None else as_of_ns
    by = a.time_by_attribution()
    return [
        o.id,
        o.target,
        a.role.value,
        "true" if o.is_open else "false",
        utc_iso(o.start_ns),
        local_iso(o.start_ns, zone),
        utc_iso(o.start_bounds[0]),
        utc_iso(o.end_ns),
        local_iso(o.end_ns, zone),
        utc_iso(o.end_bounds[0]) if o.end_bounds else None,
        f"{(end - o.start_ns) / NS:.3f}",
        a.attribution.value,
        *(f"{by[k] / NS:.3f}" for k in _ATTRIBUTION_COLUMNS),
        o.failure.value if o.failure else None,
        o.detail,
    ]


# --------------------------------------------------------------------------------------- the config


def redact_config(text: str) -> str:
    """The config as written, re-emitted with every secret replaced by ``<redacted>``.

    ``${VAR}`` references are never expanded here, so a secret that came from the environment cannot
    appear; a reference alone under a secret key is kept (it says where the secret lives), anything else
    there — a literal, or a reference with a default — is redacted. Keys that look like credentials
    anywhere (http headers included) and passwords inside URLs are redacted too.
    """
    data = yaml.safe_load(text) or {}

    def walk(node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, path) for v in node]
        secret = path[-2:] in _SECRET_PATHS or bool(path and _SECRET_KEY.search(path[-1]))
        if secret and node is not None and node != "":
            return node if isinstance(node, str) and _ENV_ONLY.match(node) else REDACTED
        if isinstance(node, str):
            return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", node)
        return node

    body = yaml.safe_dump(walk(data, ()), allow_unicode=True, sort_keys=False, default_flow_style=False, width=100)
    head = (
        "# The configuration this pack was made with. Secrets are replaced by <redacted>; ${VAR} references\n"
        "# are shown as written and their values are not included. Comments of the original are not kept.\n"
    )
    return head + body


def secret_values(config: Config) -> list[str]:
    """Every secret the loaded config holds (to make sure none reaches a pack)."""
    m = config.model
    found = [u.get_secret_value() for u in m.notify.urls]
    if m.influxdb is not None:
        found += [s.get_secret_value() for s in (m.influxdb.token, m.influxdb.password) if s is not None]
    if m.web.token is not None:
        found.append(m.web.token.get_secret_value())
    share = m.agent.share
    if share is not None:  # the advocate's salt and InfluxDB credentials
        found += [s.get_secret_value() for s in (share.salt,) if s is not None]
        if share.influxdb is not None:
            found += [s.get_secret_value() for s in (share.influxdb.token, share.influxdb.password) if s is not None]
    return [s for s in found if len(s) >= 4]


# ------------------------------------------------------------------------------------- chain segment


@dataclass(frozen=True, slots=True)
class Block:
    """One sealed block as the journal stores it."""

    no: int
    first_seq: int
    last_seq: int
    min_ts_ns: int
    max_ts_ns: int
    prev_hash: bytes
    hash: bytes
    digests: bytes


def covered_blocks(conn: sqlite3.Connection, start_ns: int, end_ns: int, also_seqs: Sequence[int] = ()) -> list[Block]:
    """The contiguous run of blocks holding every row with ts in [start, end) and the rows ``also_seqs``."""
    row = conn.execute(
        "SELECT min(no), max(no) FROM blocks WHERE max_ts_ns >= ? AND min_ts_ns < ?", (start_ns, end_ns)
    ).fetchone()
    nos = [int(n) for n in row if n is not None]
    for seq in also_seqs:
        found = conn.execute("SELECT no FROM blocks WHERE first_seq <= ? AND last_seq >= ?", (seq, seq)).fetchone()
        if found is not None:
            nos.append(int(found[0]))
    if not nos:
        return []
    cur = conn.execute(
        "SELECT no, first_seq, last_seq, min_ts_ns, max_ts_ns, prev_hash, hash, digests FROM blocks "
        "WHERE no BETWEEN ? AND ? ORDER BY no",
        (min(nos), max(nos)),
    )
    return [
        Block(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), bytes(r[5]), bytes(r[6]), bytes(r[7])) for r in cur
    ]


def _segment_rows(conn: sqlite3.Connection, lo: int, hi: int) -> Iterator[tuple[int, str, tuple[Any, ...]]]:
    """``(seq, "r" | "e", row)`` for every row with lo <= seq <= hi, in seq order."""
    results = conn.execute(
        "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results "
        "WHERE seq BETWEEN ? AND ? ORDER BY seq",
        (lo, hi),
    )
    events = conn.execute(
        "SELECT seq, ts_ns, type, target, ref, data FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq", (lo, hi)
    )
    return heapq.merge(
        ((int(r[0]), "r", tuple(r)) for r in results), ((int(e[0]), "e", tuple(e)) for e in events), key=lambda x: x[0]
    )


class _StreamCsv:
    """A CSV written row by row to a file (results can be large), hashed as written."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.handle = open(path, "w", encoding="utf-8", newline="")  # closed in close()
        self.handle.write("\ufeff")
        self.writer = csv.writer(self.handle, lineterminator="\r\n")
        self.writer.writerow(header)

    def row(self, cells: Sequence[Any]) -> None:
        self.writer.writerow(["" if v is None else v for v in cells])

    def close(self) -> None:
        self.handle.close()


PROLOGUE_COLUMNS = ("seq", "ts_ns", "type", "target_id", "ref", "data", "seal")


def prologue_rows(conn: sqlite3.Connection, first_seq: int, included: set[int]) -> list[list[Any]]:
    """The events before ``first_seq`` that the segment's rows build on: canonical columns and seal, in seq
    order (the manifest's ``chain.prologue``, one list per row in the order of PROLOGUE_COLUMNS).

    Those are: the latest definition of every included target, the start of the run going on at
    ``first_seq`` (if any), and the opening of every outage of an included target still open there.
    """
    wanted: set[int] = set()
    for target in included:
        row = conn.execute(
            "SELECT max(seq) FROM events WHERE type = ? AND target = ? AND seq < ?", (EV_TARGET, target, first_seq)
        ).fetchone()
        if row[0] is not None:
            wanted.add(int(row[0]))
    runs = conn.execute(
        "SELECT seq, type, data FROM events WHERE type IN (?, ?, ?) AND seq < ? ORDER BY seq",
        (EV_AGENT_START, EV_AGENT_STOP, EV_RUN_END_RECOVERED, first_seq),
    ).fetchall()
    current: tuple[int, str] | None = None
    for seq, type_, data in runs:
        run = json.loads(data).get("run", "")
        if type_ == EV_AGENT_START:
            current = (int(seq), run)
        elif current is not None and run == current[1]:
            current = None
    if current is not None:
        wanted.add(current[0])
    marks = ",".join("?" * len(included)) or "NULL"
    closed = {
        int(r[0])
        for r in conn.execute("SELECT ref FROM events WHERE type = ? AND seq < ?", (EV_OUTAGE_CLOSE, first_seq))
        if r[0] is not None
    }
    for (seq,) in conn.execute(
        f"SELECT seq FROM events WHERE type = ? AND seq < ? AND target IN ({marks})",
        (EV_OUTAGE_OPEN, first_seq, *sorted(included)),
    ):
        if int(seq) not in closed:
            wanted.add(int(seq))
    out = []
    for seq in sorted(wanted):
        row = conn.execute("SELECT seq, ts_ns, type, target, ref, data FROM events WHERE seq = ?", (seq,)).fetchone()
        block = conn.execute("SELECT first_seq, digests FROM blocks WHERE first_seq <= ? AND last_seq >= ?", (seq, seq))
        found = block.fetchone()
        seal = bytes(found[1])[4 * (seq - found[0]) : 4 * (seq - found[0]) + 4].hex() if found else ""
        out.append([*row, seal])
    return out


# ---------------------------------------------------------------------------------------- the pack


@dataclass(frozen=True)
class PackInfo:
    """What was written."""

    path: Path
    files: dict[str, str]  # name → sha256
    blocks: int
    results: int
    events: int
    head: dict[str, Any] | None
    unsealed: int  # rows after the head, not in the pack


def build_pack(
    journal: Journal,
    config: Config,
    provider_id: str,
    period: str | Period,
    out: Path,
    *,
    now_ns: int | None = None,
    config_text: str | None = None,
    share: SharedIdentity | None = None,
    lang: Lang = "en",
) -> PackInfo:
    """Write the evidence pack of one provider and period to ``out`` (a zip); ``share``: the advocate's kind.

    ``lang`` is the language of what people read (``summary.html``, ``summary.pdf``); the machine files are
    the same in every language.
    """
    if share is not None:
        from watchdog.documents.sharing import report_config

        if provider_id not in share.providers:
            raise ValueError(f"provider {provider_id!r} is not one agent.share.providers lets out")
        report = dataclasses.replace(
            build_report(journal, report_config(config), provider_id, period, now_ns), contacts=()
        )
    else:
        report = build_report(journal, config, provider_id, period, now_ns)
    zone, per = report.zone, report.period
    conn = journal.conn
    infos = journal.targets()
    included = {
        t.id
        for t in infos.values()
        if (t.role == "provider" and t.provider == provider_id) or t.role in ("lan", "internet")
    }
    keys = {t.id: t.key for t in infos.values()}
    roles = {t.id: t.role for t in infos.values()}
    period_blocks = covered_blocks(conn, per.start_ns, report.as_of_ns)
    # a contact logged after the fact sits in a later block: carry the events up to it (results stay out)
    blocks = covered_blocks(conn, per.start_ns, report.as_of_ns, [c.seq for c in report.contacts])
    results_until = period_blocks[-1].no if period_blocks else 0
    tmp = Path(tempfile.mkdtemp(prefix="watchdog-pack-"))
    try:
        files: dict[str, bytes | Path] = {}
        view = chart_window(report)
        latency = {keys[i]: LatencySeries.empty(*view) for i in sorted(included) if roles[i] == "provider"}
        res = _StreamCsv(tmp / "results.csv", RESULT_COLUMNS)
        evs = _StreamCsv(tmp / "events.csv", EVENT_COLUMNS)
        event_rows: list[tuple[int, int, str, str]] = []
        chain_blocks: list[dict[str, Any]] = []
        n_results = n_events = 0
        try:
            rows = _segment_rows(conn, blocks[0].first_seq, blocks[-1].last_seq) if blocks else iter(())
            pending = next(rows, None)
            for b in blocks:
                hashers: dict[int, Any] = {}
                counts: dict[int, int] = {}
                for seq in range(b.first_seq, b.last_seq + 1):
                    if pending is None or pending[0] != seq:
                        raise IntegrityError(
                            f"the journal misses row seq={seq} of block {b.no}: run watchdog verify --journal"
                        )
                    _, kind, row = pending
                    pending = next(rows, None)
                    if kind == "r":
                        h, stream = result_row_hash(*row), int(row[1])
                    else:
                        h, stream = event_row_hash(*row), EVENTS_STREAM
                    seal = b.digests[4 * (seq - b.first_seq) : 4 * (seq - b.first_seq) + 4]
                    if h[:4] != seal:
                        raise IntegrityError(
                            f"journal row seq={seq} does not match its seal: run watchdog verify --journal"
                        )
                    hashers.setdefault(stream, hashlib.sha256()).update(h)
                    counts[stream] = counts.get(stream, 0) + 1
                    if kind == "r" and stream in included and b.no <= results_until:
                        seq_, target, ts, lat, failure, detail, metrics = row
                        res.row(
                            [
                                utc_iso(ts),
                                local_iso(ts, zone),
                                keys.get(target, f"#{target}"),
                                roles.get(target, ""),
                                "true" if failure is None else "false",
                                None if lat is None else f"{lat / 1000:.3f}",
                                "true" if per.start_ns <= ts < per.end_ns else "false",
                                seq_,
                                target,
                                ts,
                                lat,
                                failure,
                                detail,
                                metrics,
                                seal.hex(),
                            ]
                        )
                        n_results += 1
                        series = latency.get(keys.get(target, ""))
                        if series is not None and failure is None and lat is not None:
                            series.add(ts, lat / 1_000_000)
                    elif kind == "e":
                        seq_, ts, type_, target, ref, data = row
                        if share is not None and (
                            type_ in PRIVATE_EVENT_TYPES or (target is not None and target not in included)
                        ):
                            data = f"{REDACTED_ROW}{h.hex()}>"  # the chain still verifies; the content stays home
                        evs.row(
                            [
                                utc_iso(ts),
                                local_iso(ts, zone),
                                keys.get(target) if target is not None and not data.startswith(REDACTED_ROW) else None,
                                seq_,
                                ts,
                                type_,
                                target,
                                ref,
                                data,
                                seal.hex(),
                            ]
                        )
                        if not data.startswith(REDACTED_ROW):
                            event_rows.append((seq_, ts, type_, data))
                        n_events += 1
                streams = {s: (counts[s], hashers[s].digest()) for s in hashers}
                if block_hash(b.prev_hash, b.no, b.first_seq, b.last_seq, streams) != b.hash:
                    raise IntegrityError(f"block {b.no} does not match its rows: run watchdog verify --journal")
                chain_blocks.append(
                    {
                        "no": b.no,
                        "first_seq": b.first_seq,
                        "last_seq": b.last_seq,
                        "prev_hash": b.prev_hash.hex(),
                        "hash": b.hash.hex(),
                        "omitted": {
                            str(s): [c, d.hex()]
                            for s, (c, d) in sorted(streams.items())
                            if s != EVENTS_STREAM and (s not in included or b.no > results_until)
                        },
                    }
                )
        finally:
            res.close()
            evs.close()
        files["results.csv"] = tmp / "results.csv"
        files["events.csv"] = tmp / "events.csv"
        if share is None:
            files["contacts.csv"] = contact_rows(event_rows, provider_id, per, zone)
        files["clock.csv"] = clock_rows(event_rows, per, zone)
        files["outages.csv"] = csv_bytes(
            OUTAGE_COLUMNS, (_outage_row(a, zone, report.as_of_ns) for a in (*report.outages, *report.control_outages))
        )
        files["timeline.png"] = _chart(report, latency, report_words(lang)["chart"])
        source = _config_source(config, config_text)
        if share is not None:
            from watchdog.documents.sharing import shared_config_text

            source = shared_config_text(source, share)
        files["config.yaml"] = redact_config(source).encode("utf-8")
        files["environment.json"] = _json_bytes(_environment(report, config, share.agent if share else None))
        head = None
        if chain_blocks:
            last = chain_blocks[-1]
            head = {"block": last["no"], "last_seq": last["last_seq"], "hash": last["hash"]}
        unsealed = journal.unsealed_count()
        chain = {
            "journal_id": journal.journal_id,
            "included_streams": [EVENTS_STREAM, *sorted(included)],
            "targets": {str(i): keys[i] for i in sorted(included)},
            "blocks": chain_blocks,
            "head": head,
            "journal_head": report.head.as_dict() if report.head else None,
            "unsealed_rows_left_out": unsealed,
            "prologue": prologue_rows(conn, blocks[0].first_seq, included) if blocks else [],
        }
        hashes = {name: _sha256(content) for name, content in files.items()}
        pack = {"chain": chain, "files": hashes, "results": n_results, "events": n_events}
        files["summary.html"] = render(report, "report.html.j2", lang=lang, pack=pack).encode("utf-8")
        hashes["summary.html"] = _sha256(files["summary.html"])
        from watchdog.documents.pdf import summary_pdf  # imported late: fpdf2 is only needed for packs

        png = files["timeline.png"]
        assert isinstance(png, bytes)
        files["summary.pdf"] = summary_pdf(report, pack, png, lang)
        hashes["summary.pdf"] = _sha256(files["summary.pdf"])
        manifest = {
            "format": PACK_FORMAT,
            "made_with": f"outage-watchdog {__version__}",
            "agent": share.agent if share is not None else config.agent.id,
            "provider": provider_id,
            "period": {"label": per.label, "start_ns": per.start_ns, "end_ns": per.end_ns, "zone": per.zone},
            "as_of_ns": report.as_of_ns,
            "files": {
                name: {"sha256": hashes[name], "bytes": _size(files[name])} for name in FILE_ORDER if name in files
            },
            "chain": chain,
        }
        if share is not None:
            manifest["share"] = {**share.as_dict(), "provider": share.providers[provider_id]}
        files["manifest.json"] = _json_bytes(manifest)
        _leak_check(files, secret_values(config))
        _write_zip(out, files)
        return PackInfo(
            out,
            {n: hashes.get(n, _sha256(files[n])) for n in FILE_ORDER if n in files},
            len(chain_blocks),
            n_results,
            n_events,
            head,
            unsealed,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _config_source(config: Config, text: str | None) -> str:
    if text is not None:
        return text
    if config.path is None:
        raise ValueError("the config's text is needed for the pack (config.yaml)")
    return config.path.read_text(encoding="utf-8")


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _sha256(content: bytes | Path) -> str:
    h = hashlib.sha256()
    if isinstance(content, bytes):
        h.update(content)
    else:
        with open(content, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def _size(content: bytes | Path) -> int:
    return len(content) if isinstance(content, bytes) else content.stat().st_size


def _leak_check(files: dict[str, bytes | Path], secrets: Sequence[str]) -> None:
    """Refuse to write a pack that would carry a secret from the config (a target URL that embeds one)."""
    needles = [s.encode("utf-8") for s in secrets]
    if not needles:
        return
    overlap = max(len(n) for n in needles) - 1
    for name, content in files.items():
        if isinstance(content, bytes):
            chunks: Iterable[bytes] = [content]
        else:
            chunks = _chunks(content, overlap)
        for chunk in chunks:
            if any(needle in chunk for needle in needles):
                raise IntegrityError(
                    f"{name} would contain a secret from the config (a token or password reused in a target?); "
                    "no pack was written"
                )


def _chunks(path: Path, overlap: int, size: int = 1 << 22) -> Iterator[bytes]:
    """A file in pieces that overlap by ``overlap`` bytes, so nothing shorter is split unseen."""
    tail = b""
    with open(path, "rb") as f:
        while block := f.read(size):
            yield tail + block
            tail = block[-overlap:] if overlap else b""


def _write_zip(out: Path, files: dict[str, bytes | Path]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w") as zf:
        for name in FILE_ORDER:
            if name not in files:
                continue
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED if name.endswith((".png", ".pdf")) else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever OS made it
            content = files[name]
            with zf.open(info, "w", force_zip64=True) as dest:
                if isinstance(content, bytes):
                    dest.write(content)
                else:
                    with open(content, "rb") as src:
                        shutil.copyfileobj(src, dest, 1 << 20)
    partial.replace(out)


def _environment(report: Report, config: Config, agent: str | None = None) -> dict[str, Any]:
    data = report_json(report)
    runs = data["agents"]
    if agent is not None:  # a shared pack: the shared name, no host names (the events keep what was journaled)
        runs = [{**{k: v for k, v in r.items() if k != "host"}, "agent": agent} for r in runs]
    return {
        "exported_with": f"outage-watchdog {__version__}",
        "agent": agent or config.agent.id,
        "agent_timezone": config.agent.timezone,
        "provider_timezone": str(report.zone.key),
        "config_sha256": config.sha256,
        "runs": runs,
        "clock": data["clock"],
        "coverage": data["figures"]["coverage"],
        "no_data": data["no_data"],
    }


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


def _chart(report: Report, latency: dict[str, LatencySeries], words: Mapping[str, str]) -> bytes:
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
