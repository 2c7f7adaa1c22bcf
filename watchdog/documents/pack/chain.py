"""The chain segment of a pack: the sealed blocks that hold the period, their rows in seq order, the prologue."""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from watchdog.journal.schema import (
    EV_AGENT_START,
    EV_AGENT_STOP,
    EV_OUTAGE_CLOSE,
    EV_OUTAGE_OPEN,
    EV_RUN_END_RECOVERED,
    EV_TARGET,
)


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


def segment_rows(conn: sqlite3.Connection, lo: int, hi: int) -> Iterator[tuple[int, str, tuple[Any, ...]]]:
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


def later_closes(conn: sqlite3.Connection, last_seq: int) -> list[int]:
    """The closes, after ``last_seq``, of the outages still open at ``last_seq`` (a report made later knows
    them: the pack carries the events up to them, so that verify can rebuild the same report)."""
    return [
        int(r[0])
        for r in conn.execute(
            "SELECT c.seq FROM events c JOIN events o ON o.seq = c.ref AND o.type = ? "
            "WHERE c.type = ? AND c.seq > ? AND o.seq <= ?",
            (EV_OUTAGE_OPEN, EV_OUTAGE_CLOSE, last_seq, last_seq),
        )
    ]


def open_outages(conn: sqlite3.Connection, first_seq: int, included: set[int]) -> list[int]:
    """The seqs of the openings, before ``first_seq``, of the outages of ``included`` targets still open there."""
    marks = ",".join("?" * len(included)) or "NULL"
    closed = {
        int(r[0])
        for r in conn.execute("SELECT ref FROM events WHERE type = ? AND seq < ?", (EV_OUTAGE_CLOSE, first_seq))
        if r[0] is not None
    }
    return [
        int(seq)
        for (seq,) in conn.execute(
            f"SELECT seq FROM events WHERE type = ? AND seq < ? AND target IN ({marks})",
            (EV_OUTAGE_OPEN, first_seq, *sorted(included)),
        )
        if int(seq) not in closed
    ]


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
    wanted.update(open_outages(conn, first_seq, included))
    out = []
    for seq in sorted(wanted):
        row = conn.execute("SELECT seq, ts_ns, type, target, ref, data FROM events WHERE seq = ?", (seq,)).fetchone()
        block = conn.execute("SELECT first_seq, digests FROM blocks WHERE first_seq <= ? AND last_seq >= ?", (seq, seq))
        found = block.fetchone()
        seal = bytes(found[1])[4 * (seq - found[0]) : 4 * (seq - found[0]) + 4].hex() if found else ""
        out.append([*row, seal])
    return out
