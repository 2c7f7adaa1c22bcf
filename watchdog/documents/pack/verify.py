"""``watchdog verify PACK.zip``: recompute every file hash and the chain segment of an evidence pack.

Three layers, each naming what it finds:

1. every file against its SHA-256 in ``manifest.json`` (and nothing unlisted added);
2. the chain segment: each row of ``results.csv`` and ``events.csv`` is hashed from its canonical
   columns and compared with its ``seal`` (the first 4 bytes the journal's block recorded), rows are
   grouped per block and stream, the streams the pack leaves out are taken from the manifest, and each
   block hash is recomputed and linked to the one before (block 1 to the journal's genesis);
3. ``contacts.csv`` and ``clock.csv`` are rebuilt from the chained events and compared byte for byte.

A shared pack (``watchdog evidence --share``) may carry *redacted* events: their ``data`` cell is
``<redacted row-hash=…>`` with the row's full SHA-256, which takes the place of the hash recomputed from
the row, so the block still verifies while the row's content stays with the customer.

So a changed byte is found even when whoever changed it also rewrote the manifest: only the chain head
itself must be checked against a copy held elsewhere.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from watchdog.analysis.sla import Period
from watchdog.documents.pack.csvfiles import (
    EVENT_COLUMNS,
    REDACTED_ROW,
    RESULT_COLUMNS,
    clock_rows,
    contact_rows,
    event_canon,
    result_canon,
)
from watchdog.documents.pack.manifest import PACK_FORMAT
from watchdog.documents.pack.timestamps import NAME as TIMESTAMPS_NAME
from watchdog.documents.pack.timestamps import check_pack_timestamps, pack_problems
from watchdog.documents.pack.zipread import (
    PackRejected,
    csv_lines,
    manifest_problems,
    open_entry,
    open_pack,
    read_entry,
    read_json,
)
from watchdog.errors import IntegrityError
from watchdog.journal.chain import EVENTS_STREAM, block_hash, event_row_hash, genesis_hash, result_row_hash
from watchdog.journal.contacts import EV_CONTACT
from watchdog.journal.schema import EV_CLOCK_SAMPLE, EV_CLOCK_STEP
from watchdog.journal.tsa import StampCheck

if TYPE_CHECKING:
    from cryptography import x509

MAX_PROBLEMS = 25
# contacts.csv and clock.csv are rebuilt from the contact and clock events, which are kept in memory for
# that: a year of hourly clock samples and a few hundred contacts is well under 1 MB.
MAX_KEPT_EVENT_CHARS = 16 << 20


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
    stamps: list[StampCheck] = field(default_factory=list)  # timestamps.json, checked (issue 17)

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.problems

    def add(self, problem: str) -> None:
        """Record a problem (the list stops growing at MAX_PROBLEMS)."""
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
            "timestamps": [s.as_dict() for s in self.stamps],
        }


def verify_pack(path: Path | str, *, tsa_roots: list[x509.Certificate] | None = None) -> PackVerdict:
    """Check an evidence pack; every problem names the file (and row) concerned (``tsa_roots``: pinned TSA CAs)."""
    verdict = PackVerdict(path=str(path))
    try:
        zf = open_pack(path)
    except PackRejected as exc:
        for reason in exc.reasons:
            verdict.add(reason)
        return verdict
    with zf:
        try:
            manifest = read_json(zf, "manifest.json")
        except KeyError:
            verdict.add("manifest.json: missing from the pack")
            return verdict
        except PackRejected as exc:
            for reason in exc.reasons:
                verdict.add(reason)
            return verdict
        shape = manifest_problems(manifest)
        if shape:
            for problem in shape:
                verdict.add(problem)
            return verdict
        if manifest["format"] != PACK_FORMAT:
            verdict.add(f"manifest.json: unknown format {manifest['format']!r} (expected {PACK_FORMAT})")
            return verdict
        verdict.provider = manifest["provider"]
        verdict.period = manifest["period"]["label"]
        try:
            _check_files(zf, manifest["files"], verdict)
            events = _check_chain(zf, manifest["chain"], verdict)
            _check_derived(zf, manifest, events, verdict)
            if verdict.ok and TIMESTAMPS_NAME in manifest["files"]:  # issue 17: tokens for the verified chain
                verdict.stamps = check_pack_timestamps(read_json(zf, TIMESTAMPS_NAME), manifest["chain"], tsa_roots)
                for problem in pack_problems(verdict.stamps):
                    verdict.add(problem)
        except IntegrityError as exc:  # PackRejected too: an entry past its limit, a line too long
            for reason in exc.reasons if isinstance(exc, PackRejected) else [str(exc)]:
                verdict.add(reason)
        except (KeyError, TypeError, ValueError) as exc:
            verdict.add(f"manifest.json: the chain section is malformed ({type(exc).__name__}: {exc})")
    return verdict


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
                    elif ev[2] in (EV_CONTACT, EV_CLOCK_SAMPLE, EV_CLOCK_STEP):
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


def _check_chain(zf: zipfile.ZipFile, chain: dict[str, Any], verdict: PackVerdict) -> list[tuple[int, int, str, str]]:
    events: list[tuple[int, int, str, str]] = []
    included = {int(s) for s in chain["included_streams"]}
    blocks = chain["blocks"]
    results = _rows(zf, "results.csv", RESULT_COLUMNS, verdict, events)
    evs = _rows(zf, "events.csv", EVENT_COLUMNS, verdict, events)
    merged = heapq.merge(results, evs, key=lambda r: r[0])
    pending = next(merged, None)
    prev: bytes | None = None
    for b in blocks:
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
    head = chain.get("head")
    if blocks and (head is None or head.get("hash") != blocks[-1]["hash"]):
        verdict.add("manifest.json: the chain head is not the last block of the segment")
    verdict.head = head
    return events


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
