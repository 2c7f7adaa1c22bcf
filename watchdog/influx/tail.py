"""Reading the journal past an exporter's cursor, and what every exporter's position looks like.

The exporter owns one read-only connection (in its own thread); the writer owns the only write
connection, so cursor moves and dead letters go through it. Rows come back in ``seq`` order, results
and events merged: the writer assigns ``seq`` inside each commit, so no row can appear later below a
cursor that was read.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from watchdog.journal.readers import Event, TargetInfo
from watchdog.journal.schema import EV_TARGET
from watchdog.journal.store import Journal
from watchdog.model import NS

DEAD_LETTERS_TABLE = "influx_dead_letters"
DEAD_LETTERS_SQL = f"""
CREATE TABLE IF NOT EXISTS {DEAD_LETTERS_TABLE} (
    exporter TEXT NOT NULL,
    seq INTEGER NOT NULL,
    line TEXT NOT NULL,
    status INTEGER NOT NULL,
    error TEXT NOT NULL,
    at_ns INTEGER NOT NULL,
    PRIMARY KEY (exporter, seq, line)
);
"""


@dataclass(frozen=True, slots=True)
class ResultRow:
    """A ``results`` row, columns as stored."""

    seq: int
    target: int
    ts_ns: int
    latency_us: int | None
    failure: str | None
    detail: str | None
    metrics: str | None


Row = ResultRow | Event


@dataclass(frozen=True, slots=True)
class Backlog:
    """Rows past a cursor: how many, and the timestamp of the oldest (None when there are none)."""

    rows: int
    oldest_ts_ns: int | None

    def lag_s(self, now_ns: int) -> float:
        """How far behind the exporter is: the age of its oldest unexported row (0 when caught up)."""
        if self.oldest_ts_ns is None:
            return 0.0
        return max(0, now_ns - self.oldest_ts_ns) / NS


@dataclass(frozen=True, slots=True)
class ExporterStatus:
    """One exporter's position in the journal."""

    name: str
    cursor: int
    updated_ns: int | None  # when the cursor last moved (None: never exported)
    backlog: Backlog
    dead_letters: int


def rows_after(journal: Journal, seq: int, limit: int) -> list[Row]:
    """Up to ``limit`` rows with seq > ``seq``, in seq order (results and events merged)."""
    conn = journal.conn
    results = conn.execute(
        "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results WHERE seq > ? "
        "ORDER BY seq LIMIT ?",
        (seq, limit),
    ).fetchall()
    events = conn.execute(
        "SELECT seq, ts_ns, type, target, ref, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
    ).fetchall()
    rows: list[Row] = [ResultRow(*r) for r in results]
    rows += [Event(int(s), int(t), ty, tg, rf, json.loads(d)) for s, t, ty, tg, rf, d in events]
    rows.sort(key=lambda r: r.seq)
    # a table that hit the limit may hold rows below the other table's last one: stop before them
    full = [table[-1][0] for table in (results, events) if len(table) == limit]
    if full:
        horizon = min(full)
        rows = [r for r in rows if r.seq <= horizon]
    return rows[:limit]


def backlog(journal: Journal, seq: int) -> Backlog:
    """Rows after ``seq`` and the timestamp of the first of them."""
    conn = journal.conn
    count = conn.execute(
        "SELECT (SELECT count(*) FROM results WHERE seq > ?) + (SELECT count(*) FROM events WHERE seq > ?)",
        (seq, seq),
    ).fetchone()[0]
    if not count:
        return Backlog(0, None)
    first = conn.execute(
        "SELECT seq, ts_ns FROM (SELECT seq, ts_ns FROM results WHERE seq > ? ORDER BY seq LIMIT 1) "
        "UNION ALL SELECT seq, ts_ns FROM (SELECT seq, ts_ns FROM events WHERE seq > ? ORDER BY seq LIMIT 1) "
        "ORDER BY seq LIMIT 1",
        (seq, seq),
    ).fetchone()
    return Backlog(int(count), int(first[1]))


def targets_as_of(journal: Journal, seq: int) -> dict[int, TargetInfo]:
    """Target definitions as the journal stood at ``seq``; targets defined later get their first definition
    (their rows all come after it, and the exporter applies later ``target`` events as it meets them)."""
    current: dict[int, TargetInfo] = {}
    later: dict[int, TargetInfo] = {}
    for event in journal.events([EV_TARGET]):
        info = target_info(event.data)
        if event.seq <= seq:
            current[info.id] = info
        else:
            later.setdefault(info.id, info)
    return {**later, **current}


def target_info(d: dict[str, Any]) -> TargetInfo:
    """A ``target`` event's data → TargetInfo."""
    return TargetInfo.from_event(d)


def dead_letter_count(journal: Journal, name: str | None = None) -> int:
    """Dead-lettered points (of one exporter, or of all); 0 when the table was never made."""
    try:
        if name is None:
            row = journal.conn.execute(f"SELECT count(*) FROM {DEAD_LETTERS_TABLE}").fetchone()
        else:
            row = journal.conn.execute(
                f"SELECT count(*) FROM {DEAD_LETTERS_TABLE} WHERE exporter = ?", (name,)
            ).fetchone()
    except sqlite3.OperationalError:  # no such table: nothing was ever dead-lettered
        return 0
    return int(row[0])


def exporter_status(journal: Journal, names: list[str]) -> list[ExporterStatus]:
    """The position of every exporter with a cursor, plus ``names`` (configured ones that have none yet)."""
    cursors = {
        str(name): (int(seq), int(updated))
        for name, seq, updated in journal.conn.execute("SELECT name, seq, updated_ns FROM cursors ORDER BY name")
    }
    out = []
    for name in sorted(set(cursors) | set(names)):
        seq, updated = cursors.get(name, (0, None))
        out.append(ExporterStatus(name, seq, updated, backlog(journal, seq), dead_letter_count(journal, name)))
    return out
