"""The durable outbox: every notification is a row in the journal file before anyone tries to send it.

``notify_outbox`` is an operational table (created with ``Journal.ensure_schema``; not evidence, not
chained) with one row per message and channel: its stable ``key`` (``outage-open/4711``,
``digest/2026-11-20``…), the rendered words, how often sending failed, when it is tried next and when
it was delivered. ``(key, channel)`` is unique, so queueing the same fact twice (a restart, a second
check of the same reminder) never sends it twice. A row counts as delivered only once Apprise reported
success; a crash between that success and the update means one more delivery after the restart, which
the key printed in every message makes recognisable.

All writes go through the agent's journal writer thread. If the journal cannot be written (disk full),
the outbox keeps the rows in memory, still delivers them, and writes them when the journal recovers.
Nothing here ever holds a notification URL: channels are stored by name.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchdog.journal.store import Journal

if TYPE_CHECKING:
    from watchdog.agent.writer import JournalWriter

_LOGGER = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_outbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    category TEXT NOT NULL,
    notify_type TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ns INTEGER NOT NULL,
    last_try_ns INTEGER,
    last_error TEXT,
    delivered_ns INTEGER,
    UNIQUE (key, channel)
);
CREATE INDEX IF NOT EXISTS notify_outbox_pending ON notify_outbox (channel, id) WHERE delivered_ns IS NULL;
"""

COLUMNS = (
    "id, key, channel, category, notify_type, title, body, created_ns, attempts, next_ns, last_try_ns, "
    "last_error, delivered_ns"
)
KEEP_DELIVERED_DAYS = 400  # keys of yearly reminders and certificate warnings must outlive a year


@dataclass(frozen=True, slots=True)
class Message:
    """A notification in words, with the stable key that makes it idempotent and recognisable."""

    key: str
    category: str  # outage | line | sla | expiry | digest | agent
    notify_type: str  # Apprise's info | success | warning | failure
    title: str
    body: str
    created_ns: int


@dataclass
class Entry:
    """One message for one channel, as the delivery loop sees it (mutable; the DB row follows it)."""

    message: Message
    channel: str
    id: int | None = None  # the row id once written
    attempts: int = 0
    next_ns: int = 0
    last_try_ns: int | None = None
    last_error: str | None = None
    delivered_ns: int | None = None
    saved: bool = False  # the row matches this entry
    due_mono: float = 0.0  # the loop's clock: not before this (in memory only; after a restart all are due)

    @property
    def key(self) -> str:
        """The message's key."""
        return self.message.key


def _insert(journal: Journal, entries: list[Entry]) -> list[bool]:
    """Insert rows that are new; return for each whether it was new. Runs in the writer thread."""
    journal.ensure_schema(SCHEMA)
    fresh = []
    with journal.transaction():
        for e in entries:
            m = e.message
            cur = journal.conn.execute(
                "INSERT OR IGNORE INTO notify_outbox (key, channel, category, notify_type, title, body, created_ns, "
                "attempts, next_ns) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (m.key, e.channel, m.category, m.notify_type, m.title, m.body, m.created_ns, m.created_ns),
            )
            fresh.append(cur.rowcount == 1)
            if cur.rowcount == 1:
                e.id = cur.lastrowid
            else:
                row = journal.conn.execute(
                    "SELECT id FROM notify_outbox WHERE key = ? AND channel = ?", (m.key, e.channel)
                ).fetchone()
                e.id = int(row[0])
    return fresh


def _update(journal: Journal, entries: list[Entry]) -> None:
    with journal.transaction():
        for e in entries:
            journal.conn.execute(
                "UPDATE notify_outbox SET attempts = ?, next_ns = ?, last_try_ns = ?, last_error = ?, delivered_ns = ? "
                "WHERE id = ?",
                (e.attempts, e.next_ns, e.last_try_ns, e.last_error, e.delivered_ns, e.id),
            )


def _row_entry(row: tuple[Any, ...]) -> Entry:
    (rid, key, channel, category, ntype, title, body, created, attempts, next_ns, last_try, last_error, delivered) = row
    return Entry(
        Message(key, category, ntype, title, body, int(created)),
        channel,
        id=int(rid),
        attempts=int(attempts),
        next_ns=int(next_ns),
        last_try_ns=last_try,
        last_error=last_error,
        delivered_ns=delivered,
        saved=True,
    )


def read_entries(conn: sqlite3.Connection, *, pending_only: bool = True, limit: int | None = None) -> list[Entry]:
    """Outbox rows, oldest first; with ``limit``, the newest that many (``watchdog notify outbox``)."""
    sql = f"SELECT {COLUMNS} FROM notify_outbox"
    if pending_only:
        sql += " WHERE delivered_ns IS NULL"
    sql += " ORDER BY id DESC" if limit is not None else " ORDER BY id"
    args: tuple[int, ...] = ()
    if limit is not None:
        sql += " LIMIT ?"
        args = (limit,)
    try:
        rows = conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []  # the notifier never ran on this journal
        raise
    if limit is not None:
        rows.reverse()
    return [_row_entry(r) for r in rows]


class Outbox:
    """Pending notifications per channel, persisted through the journal writer."""

    def __init__(self, writer: JournalWriter, clock: Callable[[], int]) -> None:
        self.writer = writer
        self.clock = clock
        self.pending: dict[str, list[Entry]] = {}
        self._unsaved: list[Entry] = []  # rows the journal refused (held in memory, retried)
        self._keys_this_run: set[tuple[str, str]] = set()
        self.failing = False

    async def load(self, channels: list[str]) -> dict[str, int]:
        """Create the table, prune old delivered rows, load what is pending; return counts per channel."""
        keep_after = self.clock() - KEEP_DELIVERED_DAYS * 86400 * 1_000_000_000

        def work(journal: Journal) -> list[Entry]:
            journal.ensure_schema(SCHEMA)
            journal.conn.execute(
                "DELETE FROM notify_outbox WHERE delivered_ns IS NOT NULL AND delivered_ns < ?", (keep_after,)
            )
            return read_entries(journal.conn)

        entries = await self.writer.call(work)
        self.pending = {name: [] for name in channels}
        orphans: dict[str, int] = {}
        for e in entries:
            if e.channel in self.pending:
                self.pending[e.channel].append(e)
            else:
                orphans[e.channel] = orphans.get(e.channel, 0) + 1
        for name, count in sorted(orphans.items()):
            _LOGGER.warning(
                "notifications queued for a channel no longer configured are kept, not sent channel=%s count=%d",
                name,
                count,
            )
        return {name: len(items) for name, items in self.pending.items()}

    async def has(self, key: str) -> bool:
        """True when a message with this key was ever queued (pending or delivered)."""
        if any(k == key for k, _ in self._keys_this_run):
            return True

        def work(journal: Journal) -> bool:
            journal.ensure_schema(SCHEMA)
            row = journal.conn.execute("SELECT 1 FROM notify_outbox WHERE key = ? LIMIT 1", (key,)).fetchone()
            return row is not None

        try:
            return await self.writer.call(work)
        except Exception:
            return False

    async def has_prefix(self, prefix: str) -> bool:
        """True when any message whose key starts with ``prefix`` was ever queued."""
        if any(k.startswith(prefix) for k, _ in self._keys_this_run):
            return True
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

        def work(journal: Journal) -> bool:
            journal.ensure_schema(SCHEMA)
            sql = "SELECT 1 FROM notify_outbox WHERE key LIKE ? ESCAPE '\\' LIMIT 1"
            return journal.conn.execute(sql, (pattern,)).fetchone() is not None

        try:
            return await self.writer.call(work)
        except Exception:
            return False

    async def add(self, message: Message, channels: list[str]) -> list[Entry]:
        """Queue a message for channels; return the entries that are new (a known key is not queued again)."""
        entries = [
            Entry(message, ch, next_ns=message.created_ns)
            for ch in channels
            if (message.key, ch) not in self._keys_this_run
        ]
        if not entries:
            return []
        try:
            fresh = await self.writer.call(lambda j: _insert(j, entries))
        except Exception as exc:
            self._journal_failed(exc)
            fresh = [True] * len(entries)
            self._unsaved.extend(entries)
        else:
            self._journal_ok()
            for e in entries:
                e.saved = True
        new = [e for e, is_new in zip(entries, fresh, strict=True) if is_new]
        for e in entries:
            self._keys_this_run.add((message.key, e.channel))
        for e in new:
            self.pending.setdefault(e.channel, []).append(e)
        return new

    async def save(self, entry: Entry) -> None:
        """Write an entry's delivery state (after an attempt); a failing journal keeps it for later."""
        if entry.id is None:
            return  # not in the journal yet: written with its latest state by flush()
        try:
            await self.writer.call(lambda j: _update(j, [entry]))
        except asyncio.CancelledError:
            # shutdown cancelled the sink while the update waited for the writer (it may never run): the last
            # flush() writes it, or the next run would send a delivered message again
            self._hold(entry)
            raise
        except Exception as exc:
            self._journal_failed(exc)
            self._hold(entry)
        else:
            entry.saved = True
            self._journal_ok()

    def _hold(self, entry: Entry) -> None:
        """Keep ``entry``'s state for :meth:`flush` (the journal did not take it)."""
        entry.saved = False
        if entry not in self._unsaved:
            self._unsaved.append(entry)

    async def flush(self) -> None:
        """Write what the journal refused earlier (called by the ticker and at shutdown)."""
        if not self._unsaved:
            return
        todo = list(self._unsaved)
        new_rows = [e for e in todo if e.id is None]

        def work(journal: Journal) -> None:
            if new_rows:
                _insert(journal, new_rows)
            _update(journal, todo)

        try:
            await self.writer.call(work)
        except Exception as exc:
            self._journal_failed(exc)
            return
        for e in todo:
            e.saved = True
        self._unsaved = [e for e in self._unsaved if not e.saved]
        self._journal_ok()
        _LOGGER.info("outbox rows held in memory are written now count=%d", len(todo))

    def delivered(self, entry: Entry) -> None:
        """Drop a delivered entry from the pending list (its row keeps ``delivered_ns``)."""
        items = self.pending.get(entry.channel, [])
        if entry in items:
            items.remove(entry)

    @property
    def unsaved(self) -> int:
        """Entries only in memory right now."""
        return len(self._unsaved)

    def _journal_failed(self, exc: Exception) -> None:
        if not self.failing:
            _LOGGER.error("outbox cannot write to the journal, holding notifications in memory error=%s", exc)
        self.failing = True

    def _journal_ok(self) -> None:
        if self.failing:
            _LOGGER.info("outbox writes to the journal again")
        self.failing = False
