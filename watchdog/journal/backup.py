"""Backups of the journal: SQLite's online backup API, verified after copying, rotated.

``backup_journal(journal, dest)`` copies a journal that may be being written to (WAL: the copy is one
consistent snapshot; the agent keeps writing meanwhile) into ``dest``:

* ``dest`` an existing folder (or a path ending in ``/``): the copy is ``journal-YYYYMMDDTHHMMSSZ.sqlite3``
  in it, and only the newest ``keep`` such files stay (older ones are deleted after the new one verified);
* otherwise ``dest`` is the file to write (replaced only once the new copy verified).

The copy is written as ``<name>.partial``, checked (``PRAGMA integrity_check`` and the whole hash chain,
:func:`watchdog.journal.verify.verify_journal`), flushed to the disk and only then renamed into place, so
a backup that exists is one whose chain verified. Mode 0600, as the journal. Restoring: :func:`restore_journal`.

A trusted timestamp token that does not verify (forged, for another hash, from a CA it does not name)
does not stop a backup or a restore: the chain is the evidence, a token only an outside proof of its age,
and a broken or hostile TSA must not stop the evidence being copied off the machine. Such tokens are
named in ``timestamp_problems`` (and ``watchdog verify`` still fails on them). A broken chain stops both.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.errors import JournalError
from watchdog.journal.schema import connect
from watchdog.journal.verify import JournalVerdict, verify_journal

NAME_RE = re.compile(r"^journal-\d{8}T\d{6}Z\.sqlite3$")


@dataclass(frozen=True)
class BackupResult:
    """One verified backup."""

    path: Path
    bytes: int
    rows: int
    head: dict[str, Any] | None
    removed: tuple[Path, ...]  # older backups rotated out
    seconds: float
    timestamp_problems: tuple[str, ...] = ()  # tokens in the copy that do not verify (the chain does)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "rows": self.rows,
            "head": self.head,
            "removed": [str(p) for p in self.removed],
            "seconds": round(self.seconds, 3),
            "timestamp_problems": list(self.timestamp_problems),
        }


def _target(dest: str, now_ns: int) -> tuple[Path, bool]:
    path = Path(os.path.expanduser(dest))
    if dest.endswith("/"):
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.is_dir():
        stamp = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return path / f"journal-{stamp}.sqlite3", True
    return path, False


def _copy(source: Path, partial: Path) -> None:
    src = connect(source, readonly=True)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        dst = sqlite3.connect(str(partial), isolation_level=None)
        try:
            src.backup(dst)  # one step: a single read transaction, so the copy is one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file: no -wal beside it
        finally:
            dst.close()
    finally:
        src.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_journal(source: Path, dest: str | Path, *, keep: int = 7, now_ns: int | None = None) -> BackupResult:
    """Copy, verify, rename into place, rotate; JournalError says what went wrong (the partial copy is removed).

    ``dest`` as a string may end in ``/`` to ask for a folder that does not exist yet.
    """
    started = time.monotonic()
    if not source.exists():
        raise JournalError(f"no journal at {source}")
    now = time.time_ns() if now_ns is None else now_ns
    try:
        target, rotating = _target(str(dest), now)
    except OSError as exc:
        raise JournalError(f"backup destination {dest}: {exc.strerror or exc}") from exc
    if not target.parent.is_dir():
        raise JournalError(f"backup destination {target.parent} is not a folder (is the NAS or USB stick mounted?)")
    if target.resolve() == source.resolve():
        raise JournalError(f"{target} is the journal itself: choose another destination")
    partial = target.with_name(target.name + ".partial")
    try:
        _copy(source, partial)
        verdict = verify_journal(partial)
        if not verdict.chain_ok:  # a bad timestamp token alone does not stop a backup (see the module docstring)
            raise JournalError(f"the copy does not verify, so it was not kept: {verdict.chain_problems[0]}")
        _fsync(partial)
        partial.replace(target)
        with contextlib.suppress(OSError):
            _fsync(target.parent)
    except sqlite3.Error as exc:
        raise JournalError(f"backup to {target} failed: {exc}") from exc
    except OSError as exc:
        raise JournalError(f"backup to {target} failed: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    removed: list[Path] = []
    if rotating:
        older = sorted(p for p in target.parent.iterdir() if NAME_RE.match(p.name) and p != target)
        older.append(target)
        older.sort(key=lambda p: p.name)
        for old in older[: max(0, len(older) - keep)]:
            if old != target:
                with contextlib.suppress(OSError):
                    old.unlink()
                    removed.append(old)
    return BackupResult(
        target,
        target.stat().st_size,
        verdict.rows + verdict.unsealed,
        verdict.head,
        tuple(removed),
        time.monotonic() - started,
        tuple(verdict.timestamp_problems),
    )


def restore_journal(backup: Path, journal: Path, *, now_ns: int | None = None) -> tuple[JournalVerdict, Path | None]:
    """Put a verified backup in place of ``journal`` (the agent must be stopped); the old file is kept aside.

    Returns the backup's verdict and where the replaced journal went (None when there was none). Only the
    chain must verify: tokens that do not are in the verdict's ``timestamp_problems``.
    """
    verdict = verify_journal(backup)
    if not verdict.chain_ok:
        raise JournalError(f"{backup} does not verify, nothing restored: {verdict.chain_problems[0]}")
    now = time.time_ns() if now_ns is None else now_ns
    aside = None
    if journal.exists():
        stamp = dt.datetime.fromtimestamp(now / 1e9, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = journal.with_name(f"{journal.name}.replaced-{stamp}")
        journal.replace(aside)
        for suffix in ("-wal", "-shm"):
            side = Path(f"{journal}{suffix}")
            if side.exists():
                side.replace(Path(f"{aside}{suffix}"))
    journal.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _copy(backup, journal)
    return verdict, aside
