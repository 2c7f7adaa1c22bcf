"""The pack builder: walks the chain segment, writes every file of an evidence pack and assembles the zip."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.analysis.sla import Period
from watchdog.config import Config
from watchdog.documents.pack.chain import covered_blocks, later_closes, open_outages, prologue_rows, segment_rows
from watchdog.documents.pack.csvfiles import (
    EVENT_COLUMNS,
    PRIVATE_EVENT_TYPES,
    REDACTED_ROW,
    RESULT_COLUMNS,
    StreamCsv,
    clock_rows,
    contact_rows,
)
from watchdog.documents.pack.derived import (
    EventLoader,
    add_latencies,
    environment_json,
    latency_series,
    outages_csv,
    pack_config,
    pack_report,
    summaries,
    timeline,
)
from watchdog.documents.pack.manifest import FILE_ORDER, file_sha256, manifest_bytes
from watchdog.documents.pack.redact import leak_check, redact_config, secret_values
from watchdog.documents.pack.timestamps import NAME as TIMESTAMPS_NAME
from watchdog.documents.pack.timestamps import timestamps_file
from watchdog.documents.report import Lang, build_report
from watchdog.errors import IntegrityError
from watchdog.journal.chain import EVENTS_STREAM, block_hash, event_row_hash, result_row_hash
from watchdog.journal.store import Journal
from watchdog.timefmt import IsoStamps

if TYPE_CHECKING:
    from watchdog.documents.sharing import SharedIdentity

ZIP_DATE = (1980, 1, 1, 0, 0, 0)


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
        report = build_report(
            journal, report_config(config, share.agent), provider_id, period, now_ns, with_contacts=False
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
    # an outage open when the period starts is reported whole (its attribution reads the controls' outages
    # since it opened): carry the events from its opening (results stay out)
    opened = open_outages(conn, period_blocks[0].first_seq, included) if period_blocks else []
    # a contact logged after the fact sits in a later block: carry the events up to it (results stay out)
    blocks = covered_blocks(conn, per.start_ns, report.as_of_ns, [*opened, *(c.seq for c in report.contacts)])
    # and the closes of the outages open at its end: the report knows them (verify rebuilds it from the pack)
    while blocks and (closes := later_closes(conn, blocks[-1].last_seq)):
        blocks = covered_blocks(conn, per.start_ns, report.as_of_ns, [blocks[-1].last_seq, *closes])
    results_from = period_blocks[0].no if period_blocks else 0
    results_until = period_blocks[-1].no if period_blocks else 0
    tmp = Path(tempfile.mkdtemp(prefix="watchdog-pack-"))
    try:
        files: dict[str, bytes | Path] = {}
        carried: list[tuple[Any, ...]] = []  # the events as the pack carries them (verify rebuilds from these)
        res = StreamCsv(tmp / "results.csv", RESULT_COLUMNS)
        evs = StreamCsv(tmp / "events.csv", EVENT_COLUMNS)
        event_rows: list[tuple[int, int, str, str]] = []
        chain_blocks: list[dict[str, Any]] = []
        n_results = n_events = 0
        row_times = IsoStamps(zone)
        try:
            rows = segment_rows(conn, blocks[0].first_seq, blocks[-1].last_seq) if blocks else iter(())
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
                    if kind == "r" and stream in included and results_from <= b.no <= results_until:
                        seq_, target, ts, lat, failure, detail, metrics = row
                        res.row(
                            [
                                *row_times(ts),
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
                    elif kind == "e":
                        seq_, ts, type_, target, ref, data = row
                        if share is not None and (
                            type_ in PRIVATE_EVENT_TYPES or (target is not None and target not in included)
                        ):
                            data = f"{REDACTED_ROW}{h.hex()}>"  # the chain still verifies; the content stays home
                        evs.row(
                            [
                                *row_times(ts),
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
                            carried.append((seq_, ts, type_, target, ref, data))
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
                            if s != EVENTS_STREAM and (s not in included or not results_from <= b.no <= results_until)
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
        source = _config_source(config, config_text)
        if share is not None:
            from watchdog.documents.sharing import shared_config_text

            source = shared_config_text(source, share)
        files["config.yaml"] = config_yaml = redact_config(source).encode("utf-8")
        prologue = prologue_rows(conn, blocks[0].first_seq, included) if blocks else []
        # the derived files from the pack's own events and config.yaml, exactly as verify rebuilds them
        scratch = Journal.open(tmp / "pack.sqlite3")
        try:
            loader = EventLoader(scratch, prologue)
            for row in carried:
                loader.add(row)
            carried.clear()
            targets = loader.finish()
            written = pack_config(config_yaml)
            shown = pack_report(
                scratch,
                written,
                provider_id,
                per,
                report.as_of_ns,
                share.agent if share is not None else None,
                journal.journal_id,
                report.head.as_dict() if report.head else None,
            )
        finally:
            scratch.close()
        latency = latency_series(shown, targets, included)
        if latency:
            with open(tmp / "results.csv", encoding="utf-8-sig", newline="") as lines:
                add_latencies(latency, targets, lines)
        files["outages.csv"] = outages_csv(shown)
        png = files["timeline.png"] = timeline(shown, latency, lang)
        files["environment.json"] = environment_json(
            shown, written, share.agent if share else None, config_sha256=config.sha256
        )
        stamps = timestamps_file(conn, journal.journal_id, chain_blocks)  # issue 17: RFC 3161 tokens
        if stamps is not None:
            files[TIMESTAMPS_NAME] = stamps
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
            "prologue": prologue,
        }
        hashes = {name: file_sha256(content) for name, content in files.items()}
        files["summary.html"], files["summary.pdf"] = summaries(shown, chain, hashes, (n_results, n_events), png, lang)
        hashes["summary.html"] = file_sha256(files["summary.html"])
        hashes["summary.pdf"] = file_sha256(files["summary.pdf"])
        agent = share.agent if share is not None else config.agent.id
        files["manifest.json"] = manifest_bytes(report, agent, provider_id, files, hashes, chain, share, lang)
        leak_check(files, secret_values(config))
        _write_zip(out, files)
        return PackInfo(
            out,
            {n: hashes.get(n, file_sha256(files[n])) for n in FILE_ORDER if n in files},
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
