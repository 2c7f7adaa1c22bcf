"""Rewriting a journal in another results schema (``watchdog migrate --to 2|3``), verified before it is used.

Schema 3 (what a new journal gets) stores an ICMP result as a template id plus integers; the version before
it runs on schema 1 and 2 journals only ("unsupported journal schema '3'"). ``migrate_journal(path, 2)``
writes a schema 3 journal down to schema 2 so that version can open it again; ``migrate_journal(path, 3)``
writes a schema 1 or 2 journal up to the compact schema 3. Only how the results are *stored* changes: every
row the ``results`` view returns, and so every row hash, seal and block, stays exactly as it was.

How (the agent must be stopped: the caller holds the data directory's lock):

1. the journal must verify (its file and hash chain; ``watchdog verify --journal``), or nothing is done;
2. one read snapshot of it is copied with SQLite's backup API to ``<journal>.schema<N>.partial`` beside it
   (0600, never through a symbolic link); in the copy the results storage (``results`` table, or
   ``result_rows``, ``texts``, ``templates`` and the view) is dropped and made anew in the target schema from
   the snapshot's ``results`` rows: in schema 3 an ICMP row becomes a template when filling it in gives back
   exactly its texts; every other text that occurs more than once is interned in ``texts``, the rest stays
   inline. Events, seals, meta, targets, outboxes, queues, cursors, pruned blocks: copied as they are.
   ``meta.schema_version`` is set, the copy is ``VACUUM``\\ ed;
3. the copy must verify with the same head, rows, blocks and problems (so every sealed row is as it was),
   give back the same unsealed ``results`` rows (a SHA-256 over their row hashes), and nothing may have been
   written to the journal since the snapshot (``PRAGMA data_version``);
4. only then is it swapped in (``os.replace``, folder flushed); the old file stays as
   ``<journal>.schema<N>-<UTC time>`` unless ``keep`` is False.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.errors import JournalError
from watchdog.journal.chain import result_row_hash
from watchdog.journal.files import SIDE_FILES, as_storage_error, check_journal_files, refuse_link
from watchdog.journal.schema import RESULTS_SCHEMA, TEMPLATE_SPREAD, connect
from watchdog.journal.store import TEXT_MIN_INTERN, rtt_template
from watchdog.journal.verify import JournalVerdict, verify_journal

TARGETS = (2, 3)  # the schemas a journal can be migrated to
_BATCH = 10_000
_COLUMNS = "seq, target, ts_ns, latency_us, failure, detail, metrics"


@dataclass(frozen=True)
class MigrateResult:
    """What a migration did (``changed`` False: the journal already had the schema asked for)."""

    path: Path
    from_schema: int
    to_schema: int
    changed: bool
    results: int = 0
    events: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    head: dict[str, Any] | None = None
    kept: Path | None = None  # the old file, set aside
    seconds: float = 0.0

    @staticmethod
    def per_result(size: int, results: int) -> float | None:
        """File bytes per results row (None without results)."""
        return round(size / results, 1) if results else None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "path": str(self.path),
            "from_schema": self.from_schema,
            "to_schema": self.to_schema,
            "changed": self.changed,
            "results": self.results,
            "events": self.events,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "bytes_per_result_before": self.per_result(self.bytes_before, self.results),
            "bytes_per_result_after": self.per_result(self.bytes_after, self.results),
            "head": self.head,
            "kept": None if self.kept is None else str(self.kept),
            "seconds": round(self.seconds, 3),
        }


def journal_schema(conn: sqlite3.Connection, path: Path) -> int:
    """The results schema of the journal open on ``conn`` (JournalError when it is none we know)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error as exc:
        raise JournalError(f"{path}: not a readable journal: {exc}") from exc
    text = None if row is None else str(row[0])
    if text is None or not text.isdigit() or int(text) not in RESULTS_SCHEMA:
        raise JournalError(f"{path}: unsupported journal schema {text!r}")
    return int(text)


def migrate_journal(path: Path, to: int, *, keep: bool = True, now_ns: int | None = None) -> MigrateResult:
    """Rewrite the journal at ``path`` in results schema ``to``, verified, and swap it in (see the module doc).

    The agent must not be running (the caller holds the data directory's lock). JournalError says why
    nothing was changed; the journal is then exactly as it was (the partial copy is removed).
    """
    started = time.monotonic()
    if to not in TARGETS:
        raise JournalError(f"a journal can be migrated to schema {' or '.join(map(str, TARGETS))}, not {to}")
    try:
        check_journal_files(path)
    except OSError as exc:
        raise JournalError(f"{path}: {exc.strerror or exc}") from exc
    if not path.exists():
        raise JournalError(f"no journal at {path} (has the agent run with this data_dir?)")
    partial = path.with_name(f"{path.name}.schema{to}.partial")
    try:
        # read-write, and closed last: SQLite then removes the -wal and -shm that read-only readers leave
        src = connect(path)
        try:
            source = journal_schema(src, path)
            if source == to:
                return MigrateResult(path, source, to, False, bytes_before=path.stat().st_size)
            before = verify_journal(path)
            if not before.chain_ok:
                raise JournalError(f"{path} does not verify, nothing migrated: {before.chain_problems[0]}")
            refuse_link(partial)
            for stale in (partial, *(Path(f"{partial}{s}") for s in SIDE_FILES)):  # left by an interrupted run
                refuse_link(stale)
                stale.unlink(missing_ok=True)
            src.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the whole journal in its main file
            bytes_before = path.stat().st_size
            src.execute("BEGIN")  # one read snapshot for the copy, the rows and the check below
            snapshot = int(src.execute("PRAGMA data_version").fetchone()[0])
            sealed = int((before.head or {}).get("last_seq", 0))
            results, events, digest = _build(src, partial, source, to, sealed)
            after = verify_journal(partial)
            _same(before, after, partial)
            _fsync(partial)
            src.execute("COMMIT")
            src.execute("BEGIN IMMEDIATE")  # no one writes between this check and the close
            if int(src.execute("PRAGMA data_version").fetchone()[0]) != snapshot:
                raise JournalError(
                    f"{path} was written to while it was being migrated (another watchdog command?): nothing "
                    "changed, run watchdog migrate again"
                )
            src.execute("ROLLBACK")
        finally:
            src.close()
        if digest != _digest_of(partial, sealed):
            raise JournalError(f"the rewritten journal's results differ from {path}'s: nothing migrated")
        for suffix in SIDE_FILES:  # our connection closed cleanly, so SQLite removed them unless another has it open
            side = Path(f"{path}{suffix}")
            if side.exists():
                raise JournalError(f"{side} is there: another program has the journal open; stop it, then migrate")
        kept = _swap(path, partial, source, keep, time.time_ns() if now_ns is None else now_ns)
    except sqlite3.Error as exc:
        raise as_storage_error(exc, partial) or JournalError(f"migrating {path} failed: {exc}") from exc
    except OSError as exc:
        raise as_storage_error(exc, partial) or JournalError(f"migrating {path} failed: {exc.strerror or exc}") from exc
    finally:
        for leftover in (partial, *(Path(f"{partial}{s}") for s in SIDE_FILES)):
            with contextlib.suppress(OSError):
                if not leftover.is_symlink():
                    leftover.unlink()
    return MigrateResult(
        path,
        source,
        to,
        True,
        results,
        events,
        bytes_before,
        path.stat().st_size,
        after.head,
        kept,
        time.monotonic() - started,
    )


def _build(src: sqlite3.Connection, partial: Path, source: int, to: int, sealed: int) -> tuple[int, int, str]:
    """Copy ``src``'s snapshot to ``partial`` and rewrite its results in schema ``to``.

    Returns the number of results and events and the digest of the results after seq ``sealed`` (the seals
    prove the rest).
    """
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    dst = sqlite3.connect(str(partial), isolation_level=None)
    try:
        src.backup(dst)  # within src's read transaction: the snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file; the agent turns WAL on when it opens it
        dst.execute("BEGIN IMMEDIATE")
        if source == 1:
            dst.execute("DROP TABLE results")
        else:
            dst.execute("DROP VIEW results")
            for table in ("result_rows", "texts", "templates"):
                dst.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in RESULTS_SCHEMA[to].split(";\n"):
            if statement.strip():
                dst.execute(statement)
        results = 0
        digest = hashlib.sha256()
        templates: dict[tuple[str, str], int] = {}
        for rows in _pages(src.execute(f"SELECT {_COLUMNS} FROM results ORDER BY seq")):
            stored = []
            for row in rows:
                if row[0] > sealed:
                    digest.update(_row_hash(row))
                stored.append(_stored(dst, row, templates) if to == 3 else row)
            dst.executemany(f"INSERT INTO result_rows ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", stored)
            results += len(rows)
        _intern(dst)
        dst.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(to),))
        dst.execute("COMMIT")
        dst.execute("VACUUM")
        events = int(dst.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        dst.close()
    return results, events, digest.hexdigest()


def _pages(cursor: sqlite3.Cursor) -> Iterator[list[Any]]:
    while rows := cursor.fetchmany(_BATCH):
        yield rows


def _row_hash(row: tuple[Any, ...]) -> bytes:
    try:
        return result_row_hash(*row)
    except (TypeError, ValueError) as exc:
        raise JournalError(
            f"results row seq={row[0]} holds a value no journal writes ({exc}): nothing migrated"
        ) from None


def _stored(dst: sqlite3.Connection, row: tuple[Any, ...], templates: dict[tuple[str, str], int]) -> tuple[Any, ...]:
    """A results row as schema 3 stores it: an ICMP row as a template id and its times when they render back."""
    seq, target, ts_ns, latency, failure, detail, metrics = row
    if failure is not None or type(latency) is not int or not isinstance(detail, str) or not isinstance(metrics, str):
        return row
    try:
        parsed = json.loads(metrics)
    except ValueError:
        return row
    if not isinstance(parsed, dict):
        return row
    template = rtt_template(detail, metrics, parsed, latency)
    if template is None:
        return row
    detail_tpl, metrics_tpl, mn, av, mx = template
    key = (detail_tpl, metrics_tpl)
    template_id = templates.get(key)
    if template_id is None:
        cur = dst.execute("INSERT INTO templates (detail, metrics) VALUES (?, ?)", key)
        template_id = templates[key] = int(cur.lastrowid or 0)
    return seq, target, ts_ns, latency, None, -template_id, (av - mn) + TEMPLATE_SPREAD * (mx - av)


def _intern(dst: sqlite3.Connection) -> None:
    """Store once in ``texts`` every inline detail or metrics text that occurs more than once; rows refer to it."""
    dst.execute(
        "INSERT INTO texts (text) SELECT v FROM ("
        "SELECT detail AS v FROM result_rows WHERE typeof(detail) = 'text' AND length(detail) >= ?1 "
        "UNION ALL SELECT metrics FROM result_rows WHERE typeof(metrics) = 'text' AND length(metrics) >= ?1"
        ") GROUP BY v HAVING count(*) > 1 ORDER BY count(*) DESC, v",  # id 1, the most used, takes no bytes
        (TEXT_MIN_INTERN,),
    )
    for column in ("detail", "metrics"):
        dst.execute(
            f"UPDATE result_rows SET {column} = (SELECT t.id FROM texts t WHERE t.text = result_rows.{column}) "
            f"WHERE typeof({column}) = 'text' AND {column} IN (SELECT text FROM texts)"
        )


def _digest_of(path: Path, sealed: int) -> str:
    """SHA-256 over the row hash of every ``results`` row after seq ``sealed``, in seq order."""
    conn = connect(path, readonly=True)
    try:
        digest = hashlib.sha256()
        for rows in _pages(conn.execute(f"SELECT {_COLUMNS} FROM results WHERE seq > ? ORDER BY seq", (sealed,))):
            for row in rows:
                digest.update(_row_hash(row))
        return digest.hexdigest()
    finally:
        conn.close()


def _same(before: JournalVerdict, after: JournalVerdict, partial: Path) -> None:
    """The rewritten journal must verify exactly as the original did."""
    if not after.chain_ok:
        raise JournalError(f"the rewritten journal does not verify, nothing migrated: {after.chain_problems[0]}")
    for what, old, new in (
        ("head", before.head, after.head),
        ("journal id", before.journal_id, after.journal_id),
        ("blocks", before.blocks, after.blocks),
        ("sealed rows", before.rows, after.rows),
        ("unsealed rows", before.unsealed, after.unsealed),
        ("pruned rows", before.pruned, after.pruned),
        ("timestamp problems", before.timestamp_problems, after.timestamp_problems),
    ):
        if old != new:
            raise JournalError(
                f"the rewritten journal {partial} differs in its {what} ({old} → {new}): nothing migrated"
            )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap(path: Path, partial: Path, source: int, keep: bool, now_ns: int) -> Path | None:
    """Put ``partial`` in place of ``path``; with ``keep`` the old file stays as ``<name>.schema<N>-<UTC time>``."""
    kept = None
    if keep:
        stamp = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        name, n = f"{path.name}.schema{source}-{stamp}", 2
        while path.with_name(name).exists() or path.with_name(name).is_symlink():
            name, n = f"{path.name}.schema{source}-{stamp}-{n}", n + 1
        kept = path.with_name(name)
        try:
            os.link(path, kept, follow_symlinks=False)  # the journal's name never points at nothing
        except OSError:
            os.rename(path, kept)  # a file system without hard links: the agent is stopped, so a moment's gap is safe
        fd = os.open(kept, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    os.replace(partial, path)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return kept
