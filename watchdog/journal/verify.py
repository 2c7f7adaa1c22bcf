"""Check a journal's hash chain: every sealed row present, unedited, in order, under an unbroken chain."""

from __future__ import annotations

import datetime as dt
import heapq
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.errors import JournalError
from watchdog.journal.chain import (
    EVENTS_STREAM,
    block_hash,
    event_row_hash,
    genesis_hash,
    result_row_hash,
    stream_digests,
)
from watchdog.journal.integrity import storage_problems
from watchdog.journal.prune import pruned_blocks
from watchdog.journal.schema import EV_TARGET, connect
from watchdog.journal.tsa import EV_TIMESTAMP, EV_TIMESTAMP_CA, StampCheck, check_stamps

if TYPE_CHECKING:
    from cryptography import x509


@dataclass
class JournalVerdict:
    """The outcome of :func:`verify_journal`; ``problems`` is empty when the journal verifies.

    ``problems`` lists everything found wrong, timestamp tokens included (``watchdog verify`` fails on any);
    ``timestamp_problems`` repeats the lines about tokens that do not prove their claim, so ``chain_ok``
    can tell a journal whose file and hash chain verify — fit to back up, restore, archive — from one
    that does not: a forged, broken or untrusted token must not stop the evidence being copied (issue 17).
    """

    path: str
    journal_id: str = ""
    blocks: int = 0
    rows: int = 0
    unsealed: int = 0
    head: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None
    pruned: int = 0  # results rows pruned after archiving (their streams' digests kept: see journal.prune)
    stamps: list[StampCheck] = field(default_factory=list)  # RFC 3161 tokens, each checked offline
    # block no → (last_seq, hash hex), kept only for the blocks timestamp tokens name (a year of blocks is 500k)
    heads: dict[int, tuple[int, str]] = field(default_factory=dict)
    stamped_blocks: set[int] = field(default_factory=set)
    timestamp_problems: list[str] = field(default_factory=list)  # each also in ``problems``

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.problems

    @property
    def chain_ok(self) -> bool:
        """True when the file and its hash chain verify, whatever its timestamp tokens say."""
        return not self.chain_problems

    @property
    def chain_problems(self) -> list[str]:
        """``problems`` without the timestamp tokens' (the first is why a backup or restore was refused)."""
        stamps = set(self.timestamp_problems)
        return [p for p in self.problems if p not in stamps]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "ok": self.ok,
            "chain_ok": self.chain_ok,
            "path": self.path,
            "journal_id": self.journal_id,
            "blocks": self.blocks,
            "rows": self.rows,
            "unsealed_rows": self.unsealed,
            "pruned_rows": self.pruned,
            "head": self.head,
            "first_bad_seq": self.first_bad_seq,
            "problems": self.problems,
            "timestamp_problems": self.timestamp_problems,
            "timestamps": [s.as_dict() for s in self.stamps],
        }


def _utc(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merged_rows(conn: sqlite3.Connection) -> Iterator[tuple[int, bytes, str, int]]:
    """``(seq, row_hash, description, stream)`` of every results and events row, in seq order."""
    keys = dict(conn.execute("SELECT id, key FROM targets").fetchall())

    def results() -> Iterator[tuple[int, bytes, str, int]]:
        cur = conn.execute("SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results ORDER BY seq")
        while rows := cur.fetchmany(10_000):
            for r in rows:
                yield (
                    int(r[0]),
                    result_row_hash(*r),
                    f"results row seq={r[0]} (target {keys.get(r[1], '#' + str(r[1]))}, {_utc(r[2])})",
                    int(r[1]),
                )

    def events() -> Iterator[tuple[int, bytes, str, int]]:
        cur = conn.execute("SELECT seq, ts_ns, type, target, ref, data FROM events ORDER BY seq")
        while rows := cur.fetchmany(10_000):
            for e in rows:
                yield int(e[0]), event_row_hash(*e), f"events row seq={e[0]} ({e[2]}, {_utc(e[1])})", EVENTS_STREAM

    return heapq.merge(results(), events(), key=lambda row: row[0])


def verify_journal(
    path: Path | str, *, expect_head: str | None = None, tsa_roots: list[x509.Certificate] | None = None
) -> JournalVerdict:
    """Recompute every block of the chain and name the first row or block that does not match.

    ``expect_head`` is a block hash the customer holds elsewhere (a daily digest, a pack manifest); the
    journal must contain it, which catches a journal rolled back or cut short past its last copy.
    Once the chain verifies, every RFC 3161 token in it is checked against the head it names
    (:mod:`watchdog.journal.tsa`); ``tsa_roots`` pins the CA certificates tokens must chain to.
    """
    verdict = JournalVerdict(path=str(path))
    if not Path(path).exists():
        verdict.problems.append(f"no journal at {path}")
        return verdict
    try:
        conn = connect(path, readonly=True)
    except JournalError as exc:
        verdict.problems.append(f"the file is not a readable SQLite journal: {exc}")
        return verdict
    damage: list[str] = []
    try:
        # the file itself first (every index against its table: reports read through them), then the chain;
        # a damaged index leaves the chain intact, so its problems are kept apart and put first
        damage = storage_problems(conn)
        verdict.stamped_blocks = {
            int(b)
            for (b,) in conn.execute("SELECT json_extract(data, '$.block') FROM events WHERE type = ?", (EV_TIMESTAMP,))
            if isinstance(b, int)
        }
        _verify(conn, verdict, expect_head)
        if not verdict.problems:
            _check_stamps(conn, verdict, tsa_roots)
        verdict.problems[:0] = damage
        return verdict
    except sqlite3.DatabaseError as exc:
        verdict.problems[:0] = damage
        verdict.problems.append(f"the file is not a readable SQLite journal: {exc}")
        return verdict
    finally:
        conn.close()


def _bad(verdict: JournalVerdict, seq: int | None, message: str) -> None:
    if verdict.first_bad_seq is None and seq is not None:
        verdict.first_bad_seq = seq
    verdict.problems.append(message)


def _verify(conn: sqlite3.Connection, verdict: JournalVerdict, expect_head: str | None) -> JournalVerdict:
    row = conn.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
    if row is None:
        verdict.problems.append("no journal_id in meta: not a watchdog journal")
        return verdict
    verdict.journal_id = row[0]
    prev = genesis_hash(verdict.journal_id)
    expected_no, expected_first = 1, 1
    rows = _merged_rows(conn)
    pending = next(rows, None)
    pruned = pruned_blocks(conn)
    seen_expect = expect_head is None
    blocks = conn.execute("SELECT no, first_seq, last_seq, prev_hash, hash, digests, sealed_ns FROM blocks ORDER BY no")
    for no, first, last, prev_hash, digest, digests, sealed_ns in blocks:
        verdict.blocks += 1
        label = f"block {no} (rows {first}..{last})"
        if no != expected_no:
            _bad(verdict, first, f"{label}: expected block number {expected_no}: a block was removed or inserted")
            return verdict
        if first != expected_first or last < first:
            _bad(verdict, expected_first, f"{label}: expected to start at seq {expected_first}")
            return verdict
        if bytes(prev_hash) != prev:
            _bad(verdict, first, f"{label}: prev_hash does not match block {no - 1}: blocks reordered or replaced")
            return verdict
        hashes: list[tuple[int, bytes]] = []
        missing = False
        digests = bytes(digests)
        gone = pruned.get(no)
        absent = 0
        for seq in range(first, last + 1):
            while pending is not None and pending[0] < seq:
                _bad(verdict, pending[0], f"{pending[2]}: not covered by any block: inserted")
                pending = next(rows, None)
            if pending is None or pending[0] != seq:
                if gone is not None:  # a results row pruned after archiving: its stream digest stands for it
                    absent += 1
                    continue
                _bad(verdict, seq, f"row seq={seq} is missing (sealed in {label}): deleted or truncated")
                missing = True
                continue
            _, row_hash, description, stream = pending
            pending = next(rows, None)
            if gone is not None and stream != EVENTS_STREAM:
                _bad(verdict, seq, f"{description} is in {label}, whose results were pruned: inserted")
            if pending is not None and pending[0] == seq:
                _bad(verdict, seq, f"seq={seq} appears twice (results and events): inserted")
                pending = next(rows, None)
            i = seq - first
            if row_hash[:4] != digests[4 * i : 4 * i + 4]:
                _bad(verdict, seq, f"{description} does not match its seal in {label}: edited or swapped")
            hashes.append((stream, row_hash))
            verdict.rows += 1
        if len(digests) != 4 * (last - first + 1):
            _bad(verdict, first, f"{label}: row digest list has the wrong length")
        streams = stream_digests(hashes)
        if gone is not None:
            expected = sum(count for count, _ in gone.values())
            if absent != expected:
                _bad(verdict, first, f"{label}: {absent} rows are gone but {expected} were pruned: deleted")
            streams.update(gone)
            verdict.pruned += absent
        if not missing and block_hash(bytes(prev_hash), no, first, last, streams) != bytes(digest):
            what = " and its pruned streams' digests" if gone is not None else ""
            _bad(verdict, first, f"{label}: block hash does not match its rows{what}: the seal was altered")
        if verdict.problems:
            return verdict
        prev = bytes(digest)
        if expect_head is not None and prev.hex() == expect_head.lower():
            seen_expect = True
        verdict.head = {"block": no, "last_seq": last, "hash": prev.hex(), "sealed_ns": sealed_ns}
        if no in verdict.stamped_blocks:
            verdict.heads[no] = (last, prev.hex())
        expected_no, expected_first = no + 1, last + 1
    tail_seq = expected_first
    while pending is not None:
        if pending[0] != tail_seq:
            _bad(verdict, tail_seq, f"row seq={tail_seq} is missing from the unsealed tail")
            return verdict
        verdict.unsealed += 1
        tail_seq += 1
        pending = next(rows, None)
    if not seen_expect:
        verdict.problems.append(
            f"the chain does not contain the expected head {expect_head}: the journal was rolled back, "
            "cut short or rebuilt since that head was recorded"
        )
    _check_targets(conn, verdict)
    return verdict


def _check_targets(conn: sqlite3.Connection, verdict: JournalVerdict) -> None:
    """The id → key lookup must agree with the chained ``target`` events."""
    defined: dict[int, str] = {}
    for (data,) in conn.execute("SELECT data FROM events WHERE type = ? ORDER BY seq", (EV_TARGET,)):
        d = json.loads(data)
        defined[int(d["id"])] = d["key"]
    table = dict(conn.execute("SELECT id, key FROM targets").fetchall())
    for target_id, key in table.items():
        if defined.get(target_id) != key:
            verdict.problems.append(
                f"targets table maps id {target_id} to {key!r} but the chained definition says "
                f"{defined.get(target_id)!r}: the lookup was edited"
            )


def _check_stamps(conn: sqlite3.Connection, verdict: JournalVerdict, tsa_roots: list[x509.Certificate] | None) -> None:
    """Each journaled timestamp token against the chained head it names (offline)."""
    rows = conn.execute(
        "SELECT seq, type, data FROM events WHERE type IN (?, ?) ORDER BY seq", (EV_TIMESTAMP_CA, EV_TIMESTAMP)
    ).fetchall()
    if not rows:
        return
    events = [(int(seq), str(type_), json.loads(data)) for seq, type_, data in rows]
    verdict.stamps = check_stamps(verdict.journal_id, verdict.heads, events, tsa_roots)
    for stamp in verdict.stamps:
        if stamp.problem is not None:
            problem = f"timestamp token in events row seq={stamp.seq} (TSA {stamp.tsa}) {stamp.problem}"
            _bad(verdict, stamp.seq, problem)
            verdict.timestamp_problems.append(problem)
