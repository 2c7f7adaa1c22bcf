"""``watchdog verify PACK.zip``: recompute every file hash and the chain segment of an evidence pack.

Three layers, each naming what it finds:

1. every file against its SHA-256 in ``manifest.json`` (and nothing unlisted added);
2. the chain segment: each row of ``results.csv`` and ``events.csv`` is hashed from its canonical
   columns and compared with its ``seal`` (the first 4 bytes the journal's block recorded), rows are
   grouped per block and stream, the streams the pack leaves out are taken from the manifest, and each
   block hash is recomputed and linked to the one before (block 1 to the journal's genesis);
3. ``contacts.csv`` and ``clock.csv`` are rebuilt from the chained events and compared byte for byte;
4. ``config.yaml``'s targets must be the ones the chained ``target`` events define (key, kind, address,
   role, provider), and ``outages.csv``, ``timeline.png``, ``environment.json``, ``summary.html`` and
   ``summary.pdf`` are rebuilt from the chained rows (and the prologue) with ``config.yaml``'s providers,
   SLA and fees, the manifest's period, ``as_of_ns`` and ``lang`` — by the very functions the builder
   uses (:mod:`.derived`) — and compared byte for byte. A pack made by another version (or before packs
   carried ``lang``) is not rebuilt: the verdict says so in ``notes``; its chained rows still verify.

A shared pack (``watchdog evidence --share``) may carry *redacted* events: their ``data`` cell is
``<redacted row-hash=…>`` with the row's full SHA-256, which takes the place of the hash recomputed from
the row, so the block still verifies while the row's content stays with the customer.

So a changed byte is found even when whoever changed it also rewrote the manifest: only the chain head
itself must be checked against a copy held elsewhere. What cannot be rebuilt is named: environment.json's
``config_sha256`` (the hash of the unredacted config, which the pack does not carry) and ``exported_with``
(the version, as in the manifest's ``made_with``) are taken as they are.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from watchdog import __version__
from watchdog.analysis.sla import Period
from watchdog.config import Config
from watchdog.documents.pack.csvfiles import (
    EVENT_COLUMNS,
    REDACTED_ROW,
    RESULT_COLUMNS,
    clock_rows,
    contact_rows,
    event_canon,
    result_canon,
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
from watchdog.documents.pack.manifest import PACK_FORMAT
from watchdog.documents.pack.timestamps import NAME as TIMESTAMPS_NAME
from watchdog.documents.pack.timestamps import check_pack_timestamps, pack_problems
from watchdog.documents.pack.zipread import (
    Manifest,
    PackRejected,
    block_problems,
    csv_lines,
    manifest_problems,
    open_entry,
    open_pack,
    read_entry,
    read_json,
    read_manifest,
)
from watchdog.documents.report import LANGUAGES
from watchdog.errors import IntegrityError
from watchdog.journal.chain import EVENTS_STREAM, block_hash, event_row_hash, genesis_hash, result_row_hash
from watchdog.journal.contacts import EV_CONTACT
from watchdog.journal.readers import TargetInfo
from watchdog.journal.schema import EV_AGENT_START, EV_CLOCK_SAMPLE, EV_CLOCK_STEP, EV_TARGET
from watchdog.journal.store import Journal
from watchdog.journal.tsa import StampCheck

if TYPE_CHECKING:
    from cryptography import x509

MAX_PROBLEMS = 25
# contacts.csv and clock.csv are rebuilt from the contact and clock events, which are kept in memory for
# that: a year of hourly clock samples and a few hundred contacts is well under 1 MB.
MAX_KEPT_EVENT_CHARS = 16 << 20
# the files rebuilt from the chained rows, config.yaml and the manifest's period, as_of_ns and lang
REBUILT = ("outages.csv", "timeline.png", "environment.json", "summary.html", "summary.pdf")


@dataclass
class PackVerdict:
    """The outcome of :func:`verify_pack`; ``problems`` is empty when the pack verifies."""

    path: str
    provider: str = ""
    period: str = ""
    files: int = 0
    blocks: int = 0
    results: int = 0
    events: int = 0
    redacted: int = 0  # events carried by their hash only (shared packs)
    head: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why (not problems)
    rebuilt: list[str] = field(default_factory=list)  # the derived files rebuilt and found identical
    bound: list[str] = field(default_factory=list)  # inputs found to be what the chained events record
    stamps: list[StampCheck] = field(default_factory=list)  # timestamps.json, checked (issue 17)
    timestamp_problems: list[str] = field(default_factory=list)  # the tokens' problems (also in ``problems``)
    _other_problems: int = field(default=0, repr=False)  # problems found by everything but the tokens

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.problems

    @property
    def chain_ok(self) -> bool:
        """True when everything but timestamps.json's tokens verifies (see ``verify_pack(tokens_apart=)``)."""
        return self._other_problems == 0

    def add(self, problem: str, *, timestamp: bool = False) -> None:
        """Record a problem (the list stops growing at MAX_PROBLEMS); ``timestamp``: a token's."""
        if timestamp:
            self.timestamp_problems.append(problem)
        else:
            self._other_problems += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("... further problems not listed")

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "ok": self.ok,
            "path": self.path,
            "provider": self.provider,
            "period": self.period,
            "files": self.files,
            "blocks": self.blocks,
            "results": self.results,
            "events": self.events,
            "redacted": self.redacted,
            "head": self.head,
            "problems": self.problems,
            "notes": self.notes,
            "rebuilt": self.rebuilt,
            "bound": self.bound,
            "timestamps": [s.as_dict() for s in self.stamps],
            "timestamp_problems": self.timestamp_problems,
        }


class _Heads:
    """The heads of the streamed blocks (three values each: a month of 60-s blocks is ~45k, a few MB)."""

    def __init__(self) -> None:
        self._heads: dict[int, tuple[int, str]] = {}

    def remember(self, blocks: Iterable[Any]) -> Iterator[Any]:
        for b in blocks:
            try:
                self._heads[int(b["no"])] = (int(b["last_seq"]), str(b["hash"]))
            except (KeyError, TypeError, ValueError):
                pass  # a malformed block: _check_chain names it
            yield b

    def blocks(self) -> list[dict[str, Any]]:
        return [{"no": no, "last_seq": last, "hash": h} for no, (last, h) in self._heads.items()]


def verify_pack(
    path: Path | str, *, tsa_roots: list[x509.Certificate] | None = None, tokens_apart: bool = False
) -> PackVerdict:
    """Check an evidence pack; every problem names the file (and row) concerned (``tsa_roots``: pinned TSA CAs).

    A token in timestamps.json that does not verify is a problem (and in ``timestamp_problems``); it stops
    the rebuilding of the derived files (whose summaries list timestamps.json's hash, so they would only
    repeat it) unless ``tokens_apart``: then they are rebuilt all the same, and ``chain_ok`` says whether
    everything but the tokens verifies — ``watchdog archive`` keeps such a pack (issue 17).
    """
    verdict = PackVerdict(path=str(path))
    try:
        zf = open_pack(path)
    except PackRejected as exc:
        for reason in exc.reasons:
            verdict.add(reason)
        return verdict
    with zf, tempfile.TemporaryDirectory(prefix="watchdog-verify-") as tmp:
        try:
            stream = read_manifest(zf)
        except KeyError:
            verdict.add("manifest.json: missing from the pack")
            return verdict
        except PackRejected as exc:
            for reason in exc.reasons:
                verdict.add(reason)
            return verdict
        manifest = stream.data
        shape = manifest_problems(manifest)  # all but the blocks, which are checked as they stream
        if shape:
            for problem in shape:
                verdict.add(problem)
            return verdict
        if manifest["format"] != PACK_FORMAT:
            verdict.add(f"manifest.json: unknown format {manifest['format']!r} (expected {PACK_FORMAT})")
            return verdict
        verdict.provider = manifest["provider"]
        verdict.period = manifest["period"]["label"]
        scratch = Journal.open(Path(tmp) / "pack.sqlite3")
        try:
            _check_files(zf, manifest["files"], verdict)
            heads = _Heads()  # each block's number, last seq and hash, for the timestamp tokens that name one
            events, ends = _check_chain(zf, manifest["chain"], heads.remember(_typed_blocks(stream)), verdict, scratch)
            _check_prologue(manifest["chain"], int(ends[0]["first_seq"]) if ends else 1, verdict)
            _check_derived(zf, manifest, events, verdict)
            if verdict.ok and TIMESTAMPS_NAME in manifest["files"]:  # issue 17: tokens for the verified chain
                chain = {"journal_id": manifest["chain"].get("journal_id", ""), "blocks": heads.blocks()}
                verdict.stamps = check_pack_timestamps(read_json(zf, TIMESTAMPS_NAME), chain, tsa_roots)
                for problem in pack_problems(verdict.stamps):
                    verdict.add(problem, timestamp=True)
            if verdict.ok or (tokens_apart and verdict.chain_ok):
                _check_rebuilt(zf, manifest, ends, scratch, verdict)
        except IntegrityError as exc:  # PackRejected too: an entry past its limit, a line too long
            for reason in exc.reasons if isinstance(exc, PackRejected) else [str(exc)]:
                verdict.add(reason)
        except (KeyError, TypeError, ValueError) as exc:
            verdict.add(f"manifest.json: the chain section is malformed ({type(exc).__name__}: {exc})")
        finally:
            scratch.close()
    return verdict


def _typed_blocks(manifest: Manifest) -> Iterator[dict[str, Any]]:
    """The manifest's blocks one at a time, each checked for types first (PackRejected names the first bad one)."""
    for i, block in enumerate(manifest.blocks()):
        problems = block_problems(block, i)
        if problems:
            raise PackRejected(problems)
        yield block


def _check_files(zf: zipfile.ZipFile, files: dict[str, Any], verdict: PackVerdict) -> None:
    names = set(zf.namelist())
    for name, meta in files.items():
        if name not in names:
            verdict.add(f"{name}: listed in manifest.json but missing from the pack")
            continue
        h = hashlib.sha256()
        try:
            with open_entry(zf, name) as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except PackRejected as exc:
            for reason in exc.reasons:
                verdict.add(reason)
            continue
        verdict.files += 1
        if h.hexdigest() != meta.get("sha256"):
            verdict.add(
                f"{name}: its SHA-256 differs from the one in manifest.json: {name} (or the manifest) was changed"
            )
    for name in sorted(names - set(files) - {"manifest.json"}):
        verdict.add(f"{name}: not listed in manifest.json (added to the pack)")


Row = tuple[int, int, bytes, str, str]  # seq, stream, row hash, where ("results.csv line 12 (...)"), seal


def _rows(
    zf: zipfile.ZipFile,
    name: str,
    columns: tuple[str, ...],
    verdict: PackVerdict,
    events: list[tuple[int, int, str, str]],
    sink: Callable[[tuple[Any, ...]], None],
) -> Iterator[Row]:
    """Hash each row of a pack CSV from its canonical columns; problems name the file and line."""
    if name not in zf.NameToInfo:
        raise IntegrityError(f"{name}: missing from the pack")
    lines = csv_lines(zf, name)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if header is None or tuple(header) != columns:
            raise IntegrityError(f"{name}: the header row is not {','.join(columns)}")
        last_seq = 0
        kept = [sum(len(e[3]) for e in events)]
        for cells in reader:
            line = reader.line_num
            if len(cells) != len(columns):
                verdict.add(f"{name} line {line}: has {len(cells)} columns, expected {len(columns)}")
                continue
            try:
                if name == "results.csv":
                    canon = result_canon(cells[7:14])
                    h, stream, seal = result_row_hash(*canon), canon[1], cells[14]
                    where = f"{name} line {line} (seq {canon[0]}, {cells[2]} at {cells[0]})"
                else:
                    ev = event_canon(cells[3:9])
                    h, stream, seal = event_row_hash(*ev), EVENTS_STREAM, cells[9]
                    where = f"{name} line {line} (seq {ev[0]}, {ev[2]} at {cells[0]})"
                    if ev[5].startswith(REDACTED_ROW):
                        h = _redacted_hash(ev[5])  # ValueError when malformed
                        verdict.redacted += 1
                    else:
                        sink(ev)
                    if not ev[5].startswith(REDACTED_ROW) and ev[2] in (EV_CONTACT, EV_CLOCK_SAMPLE, EV_CLOCK_STEP):
                        kept[0] += len(ev[5])
                        if kept[0] > MAX_KEPT_EVENT_CHARS:
                            raise PackRejected(
                                [f"{name}: more than {MAX_KEPT_EVENT_CHARS} characters of contact and clock events"]
                            )
                        events.append((ev[0], ev[1], ev[2], ev[5]))
                    canon = ev  # type: ignore[assignment]
            except ValueError as exc:
                verdict.add(f"{name} line {line}: a canonical column is not a number ({exc})")
                continue
            seq = int(canon[0])
            if seq <= last_seq:
                verdict.add(f"{where}: out of seq order (after seq {last_seq}): rows were moved")
            last_seq = max(last_seq, seq)
            if h[:4].hex() != seal:
                verdict.add(f"{where}: does not match its seal: the row was edited")
            yield seq, stream, h, where, seal
    except csv.Error as exc:
        raise PackRejected([f"{name} line {reader.line_num}: not CSV ({exc})"]) from None
    finally:
        lines.close()


def _redacted_hash(cell: str) -> bytes:
    """The row hash a redacted events.csv cell carries."""
    text = cell[len(REDACTED_ROW) :]
    if not text.endswith(">") or len(text) != 65:
        raise ValueError(f"malformed redacted row {cell[:90]!r}")
    return bytes.fromhex(text[:-1])


def _check_chain(
    zf: zipfile.ZipFile, chain: dict[str, Any], blocks: Iterable[Any], verdict: PackVerdict, scratch: Journal
) -> tuple[list[tuple[int, int, str, str]], list[dict[str, Any]]]:
    """Check the rows against the blocks (given one at a time); the contact and clock events, the first and
    last block. Every chained event that is not redacted goes into ``scratch`` (with the prologue) as well."""
    events: list[tuple[int, int, str, str]] = []
    included = {int(s) for s in chain["included_streams"]}
    loader = EventLoader(scratch, chain.get("prologue") or [])
    sink = loader.add

    results = _rows(zf, "results.csv", RESULT_COLUMNS, verdict, events, sink)
    evs = _rows(zf, "events.csv", EVENT_COLUMNS, verdict, events, sink)
    merged = heapq.merge(results, evs, key=lambda r: r[0])
    pending = next(merged, None)
    prev: bytes | None = None
    ends: list[dict[str, Any]] = []
    for b in blocks:
        ends = [ends[0], b] if ends else [b]
        no, first, last = int(b["no"]), int(b["first_seq"]), int(b["last_seq"])
        label = f"block {no} (rows {first}..{last}) in manifest.json"
        prev_hash = bytes.fromhex(b["prev_hash"])
        if prev is None and no == 1 and prev_hash != genesis_hash(chain["journal_id"]):
            verdict.add(f"{label}: prev_hash is not the genesis of journal {chain['journal_id']}")
        if prev is not None and prev_hash != prev:
            verdict.add(f"{label}: prev_hash does not link to the block before it: blocks changed or removed")
        hashers: dict[int, Any] = {}
        counts: dict[int, int] = {}
        while pending is not None and pending[0] <= last:
            seq, stream, h, where, _ = pending
            pending = next(merged, None)
            if seq < first:
                verdict.add(f"{where}: not covered by any block of the chain segment (added)")
                continue
            if stream not in included:
                verdict.add(f"{where}: target id {stream} is not one of the pack's streams (added)")
                continue
            hashers.setdefault(stream, hashlib.sha256()).update(h)
            counts[stream] = counts.get(stream, 0) + 1
            if stream == EVENTS_STREAM:
                verdict.events += 1
            else:
                verdict.results += 1
        streams = {s: (counts[s], hashers[s].digest()) for s in hashers}
        for sid, (count, digest) in b["omitted"].items():
            if int(sid) in streams:
                verdict.add(f"{label}: stream {sid} is both carried and left out")
            streams[int(sid)] = (int(count), bytes.fromhex(digest))
        rows, size = sum(c for c, _ in streams.values()), last - first + 1
        if rows < size:
            verdict.add(
                f"{label}: {size - rows} row(s) missing from results.csv/events.csv "
                f"({rows} of {size} accounted for): rows were removed"
            )
        elif rows > size:
            verdict.add(f"{label}: {rows - size} row(s) more than the block holds: rows were added")
        if block_hash(prev_hash, no, first, last, streams) != bytes.fromhex(b["hash"]):
            verdict.add(f"{label}: the rows in results.csv and events.csv do not reproduce its hash")
        prev = bytes.fromhex(b["hash"])
        verdict.blocks += 1
    while pending is not None:
        verdict.add(f"{pending[3]}: after the last block of the chain segment (added)")
        pending = next(merged, None)
    loader.flush()
    head = chain.get("head")
    if ends and (head is None or head.get("hash") != ends[-1]["hash"]):
        verdict.add("manifest.json: the chain head is not the last block of the segment")
    verdict.head = head
    return events, ends


def _check_prologue(chain: dict[str, Any], first: int, verdict: PackVerdict) -> None:
    """The manifest's prologue: events before the segment (``first``: its first seq) that its rows build on.

    No block of the pack covers them, so each is checked against its 4-byte seal only; they must come before
    the segment, once each and in seq order, and define only the pack's own targets.
    """
    included = {int(s) for s in chain["included_streams"]}
    last = 0
    for raw in chain.get("prologue") or []:
        if not isinstance(raw, list) or len(raw) != 7:
            verdict.add("manifest.json: a prologue row is not a list of 7 columns")
            return
        seq, ts, type_, target, ref, data, seal = raw
        where = f"manifest.json: prologue row seq {seq} ({type_})"
        if event_row_hash(int(seq), int(ts), str(type_), target, ref, str(data))[:4].hex() != seal:
            verdict.add(f"{where} does not match its seal: it was edited")
        if int(seq) <= last:
            verdict.add(f"{where} is given twice or out of seq order")
        if int(seq) >= first:
            verdict.add(f"{where} is not before the chain segment (seq {first})")
        if type_ == EV_TARGET and target not in included:
            verdict.add(f"{where} defines target {target}, not one of the pack's streams")
        last = max(last, int(seq))


def _check_derived(
    zf: zipfile.ZipFile, manifest: dict[str, Any], events: list[tuple[int, int, str, str]], verdict: PackVerdict
) -> None:
    p = manifest["period"]
    period = Period(p["label"], int(p["start_ns"]), int(p["end_ns"]), p["zone"])
    zone = ZoneInfo(p["zone"])
    events.sort(key=lambda e: e[0])
    expected = {
        "contacts.csv": contact_rows(events, manifest["provider"], period, zone),
        "clock.csv": clock_rows(events, period, zone),
    }
    for name, content in expected.items():
        try:
            actual = read_entry(zf, name)
        except KeyError:
            continue  # already reported as missing
        if actual != content:
            verdict.add(f"{name}: differs from the chained {name.split('.')[0]} events in events.csv: it was edited")


_TARGET_FIELDS = ("kind", "address", "role", "provider")


def _target_differences(targets: dict[int, TargetInfo], included: set[int], config: Config) -> list[str]:
    """How config.yaml's targets differ from the ones the chained ``target`` events define (latest wins)."""
    out = []
    defined = {t.key: t for t in config.targets}
    for tid in sorted(included):
        info = targets.get(tid)
        if info is None:
            continue
        mine = defined.get(info.key)
        if mine is None:
            out.append(f"target {info.key} is not in config.yaml, the chained target events define it")
            continue
        for name in _TARGET_FIELDS:
            chained, written = getattr(info, name), getattr(mine, name)
            written = getattr(written, "value", written)
            if isinstance(written, str) and "${" in written:
                continue  # a reference as written; its value is not in the pack
            if chained != written:
                out.append(
                    f"target {info.key} has {name} {written!r} in config.yaml, {chained!r} in the chained target events"
                )
    return out


def _last_start(scratch: Journal) -> tuple[int, dict[str, Any]] | None:
    """The seq and data of the last agent start the pack carries (events.csv or the prologue), if any."""
    row = scratch.conn.execute(
        "SELECT seq, data FROM events WHERE type = ? ORDER BY seq DESC LIMIT 1", (EV_AGENT_START,)
    ).fetchone()
    if row is None:
        return None
    try:
        data = json.loads(row[1])
    except ValueError:
        return None
    return (int(row[0]), data) if isinstance(data, dict) else None


_UNBOUND = "its SLA, fees and contract, from which the summaries were rebuilt, are not bound to the chain"


def _check_config(content: bytes, shared: bool, start: tuple[int, dict[str, Any]] | None, verdict: PackVerdict) -> bool:
    """Is config.yaml the config the agent last started with? The agent journals the SHA-256 of the config as
    a pack carries it (``pack_config_sha256``) in every agent start; True when config.yaml is that text.

    When it is not, the config was changed after that start (honest: a contract number filled in later) or
    config.yaml was edited — the pack cannot tell which, so it is a note: the figures are still the chain's,
    but the SLA, fees and contract they are held against are only what config.yaml says.
    """
    recorded = start[1].get("pack_config_sha256") if start else None
    if shared:
        verdict.notes.append(f"config.yaml: cut down for sharing, so not the config the agent started with: {_UNBOUND}")
    elif start is None or not isinstance(recorded, str) or not recorded:
        verdict.notes.append(f"config.yaml: no agent start the pack carries records the config's hash: {_UNBOUND}")
    elif hashlib.sha256(content).hexdigest() != recorded:
        verdict.notes.append(
            f"config.yaml: not the config of the last agent start the pack carries (seq {start[0]}): the config "
            f"was changed after it, or config.yaml was edited; {_UNBOUND}"
        )
    else:
        verdict.bound.append(f"config.yaml: the config of the agent start at seq {start[0]}")
        return True
    return False


def _check_targets(
    differences: list[str],
    shipped_env: Any,
    start: tuple[int, dict[str, Any]] | None,
    bound: bool,
    verdict: PackVerdict,
) -> None:
    """config.yaml is the config the pack was made with; the chained target events are what was monitored.

    They differ honestly when the config was changed after the last agent start the pack carries (the agent
    journals a target's new definition when it starts with it). The pack says which config it was made with:
    environment.json's ``config_sha256``. When that is the config of the last chained agent start, config.yaml
    must define the targets as the chain does, so a difference is an edit. Otherwise it is a note: the
    chained definitions are the evidence, config.yaml's are what the config says now.
    """
    if not differences:
        return
    made_with = shipped_env.get("config_sha256") if isinstance(shipped_env, dict) else None
    ran_with = start[1].get("config_sha256") if start else None
    if bound or (isinstance(ran_with, str) and made_with == ran_with):
        why = "config.yaml is" if bound else "environment.json says the pack was made with"
        for difference in differences:
            verdict.add(
                f"config.yaml: {difference}, though {why} the config of the last agent start it carries: "
                "config.yaml was edited"
            )
        return
    for difference in differences:
        verdict.notes.append(
            f"config.yaml: {difference}: the config was changed after the last agent start the pack carries (or "
            "config.yaml was edited); what was monitored is what the chained target events say"
        )


def _check_rebuilt(
    zf: zipfile.ZipFile, manifest: dict[str, Any], ends: list[dict[str, Any]], scratch: Journal, verdict: PackVerdict
) -> None:
    """Rebuild the derived files from the chained rows and config.yaml, and compare them byte for byte."""
    made_with, current = manifest.get("made_with"), f"outage-watchdog {__version__}"
    lang = manifest.get("lang")
    if lang not in LANGUAGES or made_with != current:
        why = "made by an older version" if lang is None else f"made by {made_with}, this is {current}"
        verdict.notes.append(f"{', '.join(REBUILT)}: not rebuilt: {why} (only their hashes were checked)")
        return
    chain = manifest["chain"]
    targets = EventLoader(scratch).finish()
    content = read_entry(zf, "config.yaml")
    config = pack_config(content)
    included = {int(s) for s in chain["included_streams"]}
    shipped_env = read_json(zf, "environment.json")
    start = _last_start(scratch)
    bound = _check_config(content, manifest.get("share") is not None, start, verdict)
    _check_targets(_target_differences(targets, included, config), shipped_env, start, bound, verdict)
    p, provider = manifest["period"], manifest["provider"]
    period = Period(p["label"], int(p["start_ns"]), int(p["end_ns"]), p["zone"])
    share = manifest.get("share")
    try:
        report = pack_report(
            scratch,
            config,
            provider,
            period,
            int(manifest["as_of_ns"]),
            str(share["agent"]) if share is not None else None,
            chain["journal_id"],
            chain.get("journal_head"),
        )
    except KeyError:
        verdict.add(f"config.yaml: has no provider {provider!r}, whose pack this is: config.yaml was edited")
        return
    except ValueError as exc:
        verdict.add(f"config.yaml or manifest.json: the summary cannot be rebuilt ({exc})")
        return
    latency = latency_series(report, targets, included)
    if latency:
        lines = csv_lines(zf, "results.csv")
        try:
            add_latencies(latency, targets, lines)
        finally:
            lines.close()
    fixed = {k: shipped_env.get(k) for k in ("config_sha256", "exported_with")} if isinstance(shipped_env, dict) else {}
    expected: dict[str, bytes] = {
        "outages.csv": outages_csv(report),
        "timeline.png": timeline(report, latency, lang),
        "environment.json": environment_json(report, config, share["agent"] if share else None, **fixed),
    }
    hashes = {n: m["sha256"] for n, m in manifest["files"].items()}
    view = {k: v for k, v in chain.items() if k != "blocks"}
    view["blocks"] = ends
    expected["summary.html"], expected["summary.pdf"] = summaries(
        report, view, hashes, (verdict.results, verdict.events), expected["timeline.png"], lang
    )
    for name in REBUILT:
        try:
            actual = read_entry(zf, name)
        except KeyError:
            continue  # already reported as missing
        if actual != expected[name]:
            verdict.add(
                f"{name}: differs from the one rebuilt from the chained rows and config.yaml: "
                f"{name} (or config.yaml) was edited"
            )
        else:
            verdict.rebuilt.append(name)
