"""Is the journal fit to continue? And if not: set it aside, keep it, and start a new chain.

At start the agent checks the journal it is about to continue: SQLite's ``PRAGMA integrity_check``, the
journal's identity, every block's link to the one before, the newest block recomputed from its rows, and
the rows written after it numbered without a gap (sealing them must succeed). A journal that fails is
**damaged**: it is renamed ``journal.sqlite3.damaged-<UTC time>`` (with its ``-wal``/``-shm``, renamed
first, so a new journal never replays the old one's log), kept untouched, and a new journal starts whose
first event (``journal_set_aside``) names the old file, why it was set aside and its last readable chain
head. Monitoring never stops on a damaged file. The full chain (every row of every block) is checked by
``watchdog verify --journal``; at start only the tail, which is what the agent continues.

Storage errors (disk full, read-only, busy) are not damage: they never cause a journal to be set aside.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from watchdog.journal.chain import (
    EVENTS_STREAM,
    block_hash,
    event_row_hash,
    genesis_hash,
    result_row_hash,
    stream_digests,
)
from watchdog.journal.files import SIDE_FILES, is_damage
from watchdog.journal.schema import RESULTS_SCHEMA, ROWS_TABLE, uri


def _open(path: Path) -> sqlite3.Connection:
    """A read-only connection for checking: it never checkpoints a -wal into the file being judged."""
    conn = sqlite3.connect(uri(path, "mode=ro"), uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def _no_new_side_files(path: Path) -> Iterator[None]:
    """Remove the empty -wal and the -shm a read-only check made (the agent holds the lock: no one else
    writes), so a journal set aside is exactly the files that were found."""
    sides = [Path(f"{path}{suffix}") for suffix in SIDE_FILES]
    before = {side for side in sides if side.exists()}
    try:
        yield
    finally:
        wal = Path(f"{path}-wal")
        if wal not in before and (not wal.exists() or wal.stat().st_size == 0):
            for side in sides:
                if side not in before:
                    with contextlib.suppress(FileNotFoundError):
                        side.unlink()


def damage(path: Path) -> str | None:
    """Why the journal at ``path`` cannot be continued, or None (also None for storage errors)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    with _no_new_side_files(path):
        reason = _damage(path)
    return None if reason is None else " ".join(reason.split())  # one line


def _damage(path: Path) -> str | None:
    try:
        conn = _open(path)
    except sqlite3.Error as exc:
        return str(exc) if is_damage(exc) else None
    stage = "integrity_check"
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(3)")]
        if problems != ["ok"]:
            return "integrity_check: " + "; ".join(problems)
        stage = "reading"
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        if not tables:
            return None  # an empty database: the agent makes it a journal
        if "meta" not in tables:
            return "no meta table: not a watchdog journal"
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        journal_id = meta.get("journal_id")
        if journal_id is None:
            return "no journal_id in meta: not a watchdog journal"
        version = str(meta.get("schema_version", ""))
        if not version.isdigit() or int(version) not in RESULTS_SCHEMA:
            return None  # another version's journal: Journal.open refuses it with its own message
        stage = "chain"
        return _chain_tail(conn, str(journal_id), int(version))
    except sqlite3.Error as exc:
        structural = stage != "integrity_check" and (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == 1
        return f"{stage}: {exc}" if is_damage(exc) or structural else None  # "no such table" is damage too
    finally:
        conn.close()


def _chain_tail(conn: sqlite3.Connection, journal_id: str, version: int) -> str | None:
    prev, expected_no, last_seq, last = genesis_hash(journal_id), 1, 0, None
    for no, first, final, prev_hash, digest in conn.execute(
        "SELECT no, first_seq, last_seq, prev_hash, hash FROM blocks ORDER BY no"
    ):
        if no != expected_no or first != last_seq + 1 or final < first:
            return f"block {no} (rows {first}..{final}) does not follow block {expected_no - 1} (rows ..{last_seq})"
        if bytes(prev_hash) != prev:
            return f"block {no}: prev_hash does not match block {no - 1}"
        prev, expected_no, last_seq, last = bytes(digest), no + 1, final, (no, first, final, bytes(prev_hash))
    if last is not None:
        no, first, final, prev_hash = last
        rows = _rows(conn, first, final)
        if [seq for seq, _, _ in rows] != list(range(first, final + 1)):
            return f"block {no} (rows {first}..{final}): its rows are not all there"
        recomputed = block_hash(prev_hash, no, first, final, stream_digests((st, h) for _, h, st in rows))
        if recomputed != prev:
            return f"block {no} (rows {first}..{final}): the block hash does not match its rows"
    table = ROWS_TABLE[version]
    count, top = conn.execute(
        f"SELECT (SELECT count(*) FROM {table} WHERE seq > ?1) + (SELECT count(*) FROM events WHERE seq > ?1), "
        f"max(coalesce((SELECT max(seq) FROM {table}), 0), coalesce((SELECT max(seq) FROM events), 0))",
        (last_seq,),
    ).fetchone()
    if count and int(top) - last_seq != int(count):
        return f"the {count} rows after block {expected_no - 1} (seq {last_seq}) are not numbered without a gap"
    return None


def _rows(conn: sqlite3.Connection, first: int, final: int) -> list[tuple[int, bytes, int]]:
    results = conn.execute(
        "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results WHERE seq BETWEEN ? AND ?",
        (first, final),
    ).fetchall()
    events = conn.execute(
        "SELECT seq, ts_ns, type, target, ref, data FROM events WHERE seq BETWEEN ? AND ?", (first, final)
    ).fetchall()
    rows = [(int(r[0]), result_row_hash(*r), int(r[1])) for r in results]
    rows += [(int(e[0]), event_row_hash(*e), EVENTS_STREAM) for e in events]
    rows.sort(key=lambda row: row[0])
    return rows


def last_head(path: Path) -> tuple[str | None, dict[str, Any] | None]:
    """The journal id and newest block a damaged file still shows (each None when unreadable)."""
    with _no_new_side_files(path):
        return _last_head(path)


def _last_head(path: Path) -> tuple[str | None, dict[str, Any] | None]:
    journal_id: str | None = None
    head: dict[str, Any] | None = None
    try:
        conn = _open(path)
    except sqlite3.Error:
        return None, None
    try:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
            journal_id = None if row is None else str(row[0])
        except sqlite3.Error:
            pass
        try:
            row = conn.execute("SELECT no, last_seq, hash, sealed_ns FROM blocks ORDER BY no DESC LIMIT 1").fetchone()
            if row is not None:
                head = {"block": int(row[0]), "last_seq": int(row[1]), "hash": bytes(row[2]).hex(), "sealed_ns": row[3]}
        except sqlite3.Error:
            pass
    finally:
        conn.close()
    return journal_id, head


def set_aside(path: Path, reason: str) -> dict[str, Any]:
    """Rename a damaged journal (and its -wal/-shm) out of the way; return what the new journal records."""
    journal_id, head = last_head(path)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{path.name}.damaged-{stamp}"
    n = 2
    while any(path.with_name(name + s).exists() for s in ("", *SIDE_FILES)):
        name, n = f"{path.name}.damaged-{stamp}-{n}", n + 1
    size = path.stat().st_size
    for suffix in SIDE_FILES:  # first: a new journal must never find (and replay) the old one's -wal
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.rename(path.with_name(name + suffix))
    path.rename(path.with_name(name))
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return {
        "file": name,
        "reason": reason,
        "head": head,
        "journal_id": journal_id,
        "size_bytes": size,
        "set_aside_ns": time.time_ns(),
    }
