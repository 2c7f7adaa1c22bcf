"""Pruning raw results of an archived period, keeping the chain verifiable across the pruned part.

Only *results* rows go (they are the bulk: a row per probe); every event stays — runs, outages,
contacts, clock samples, timestamp tokens — and so does every block with its ``prev_hash``, ``hash`` and
4-byte row digests. Before a block's results are deleted, the per-stream ``(row_count, digest)`` of its
result streams is written to ``pruned_blocks`` — exactly what an evidence pack's manifest keeps for the
streams it leaves out — so ``verify --journal`` still links every block and recomputes every block hash:
the events stream from its rows, the result streams from ``pruned_blocks``. Editing ``pruned_blocks``
breaks that block's hash; putting a results row back into a pruned block is named as inserted.

A block is pruned only when it lies wholly inside the period, is not the newest block, recomputes from
its rows right now, and every one of its result streams is carried by one of the verified archive
packs (their manifests' ``included_streams``). Reports and packs of a pruned period come from the
archive (``data_dir/archive/<period>/<provider>.zip``: ``summary.html``/``summary.pdf`` are its report).
The file does not shrink until ``VACUUM`` (SQLite reuses the freed pages for new rows).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from watchdog.errors import JournalError
from watchdog.journal.chain import EVENTS_STREAM, block_hash, event_row_hash, result_row_hash, stream_digests
from watchdog.journal.store import Journal

PRUNED_SQL = """
CREATE TABLE IF NOT EXISTS pruned_blocks (
    no INTEGER PRIMARY KEY,
    streams TEXT NOT NULL,
    rows INTEGER NOT NULL,
    archives TEXT NOT NULL,
    pruned_ns INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class PruneResult:
    """What was pruned."""

    blocks: int
    rows: int
    skipped: list[str]  # blocks left alone, and why


def pruned_blocks(conn: sqlite3.Connection) -> dict[int, dict[int, tuple[int, bytes]]]:
    """Block no → {result stream: (row_count, digest)} of every pruned block (empty when none)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pruned_blocks'").fetchone() is None:
        return {}
    out: dict[int, dict[int, tuple[int, bytes]]] = {}
    for no, streams in conn.execute("SELECT no, streams FROM pruned_blocks"):
        out[int(no)] = {int(s): (int(c), bytes.fromhex(d)) for s, (c, d) in json.loads(streams).items()}
    return out


def pruned_archives(conn: sqlite3.Connection, start_ns: int, end_ns: int) -> list[str]:
    """The archive packs that hold what was pruned from blocks overlapping [start, end) (empty: nothing pruned)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pruned_blocks'").fetchone() is None:
        return []
    found: list[str] = []
    for (archives,) in conn.execute(
        "SELECT p.archives FROM pruned_blocks p JOIN blocks b ON b.no = p.no "
        "WHERE b.max_ts_ns >= ? AND b.min_ts_ns < ?",
        (start_ns, end_ns),
    ):
        for a in json.loads(archives):
            if a["path"] not in found:
                found.append(a["path"])
    return found


def prune(
    journal: Journal, start_ns: int, end_ns: int, archives: list[dict[str, Any]], *, now_ns: int | None = None
) -> PruneResult:
    """Delete the results of blocks wholly inside [start, end) that the verified ``archives`` carry.

    ``archives``: ``{"path", "sha256", "included_streams"}`` of each verified pack of the period.
    """
    conn = journal.conn
    journal.ensure_schema(PRUNED_SQL)
    carried = {int(s) for a in archives for s in a["included_streams"]}
    newest = conn.execute("SELECT max(no) FROM blocks").fetchone()[0] or 0
    done = pruned_blocks(conn)
    rows_table = "result_rows" if journal.schema_version >= 2 else "results"
    blocks = conn.execute(
        "SELECT no, first_seq, last_seq, prev_hash, hash FROM blocks WHERE min_ts_ns >= ? AND max_ts_ns < ? "
        "AND no < ? ORDER BY no",
        (start_ns, end_ns, newest),
    ).fetchall()
    skipped: list[str] = []
    pruned = total = 0
    record = json.dumps([{k: a[k] for k in ("path", "sha256")} for a in archives], sort_keys=True)
    now = time.time_ns() if now_ns is None else now_ns
    for no, first, last, prev, digest in blocks:
        if no in done:
            continue
        results = conn.execute(
            "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results WHERE seq BETWEEN ? AND ?",
            (first, last),
        ).fetchall()
        events = conn.execute(
            "SELECT seq, ts_ns, type, target, ref, data FROM events WHERE seq BETWEEN ? AND ?", (first, last)
        ).fetchall()
        merged = sorted(
            [(r[0], int(r[1]), result_row_hash(*r)) for r in results]
            + [(e[0], EVENTS_STREAM, event_row_hash(*e)) for e in events]
        )
        if [m[0] for m in merged] != list(range(first, last + 1)):
            skipped.append(f"block {no}: rows missing (run watchdog verify --journal)")
            continue
        streams = stream_digests((s, h) for _, s, h in merged)
        if block_hash(bytes(prev), no, first, last, streams) != bytes(digest):
            skipped.append(f"block {no}: does not match its rows (run watchdog verify --journal)")
            continue
        gone = {s: v for s, v in streams.items() if s != EVENTS_STREAM}
        if not gone:
            continue
        outside = sorted(set(gone) - carried)
        if outside:
            skipped.append(f"block {no}: target ids {outside} are in no archive pack")
            continue
        count = sum(c for c, _ in gone.values())
        with journal.transaction():
            conn.execute(
                "INSERT INTO pruned_blocks (no, streams, rows, archives, pruned_ns) VALUES (?, ?, ?, ?, ?)",
                (no, json.dumps({str(s): [c, d.hex()] for s, (c, d) in sorted(gone.items())}), count, record, now),
            )
            conn.execute(f"DELETE FROM {rows_table} WHERE seq BETWEEN ? AND ?", (first, last))
        pruned += 1
        total += count
    if not blocks:
        raise JournalError("no sealed block lies wholly inside the period (or only the newest one): nothing pruned")
    return PruneResult(pruned, total, skipped)
