"""The journal: an append-only, hash-chained SQLite file that is the record of everything the agent saw.

Layout (schema version 2, what a new journal gets):

* ``results``  one row per probe run: ``seq, target, ts_ns, latency_us, failure, detail, metrics``. In
  schema 2 this is a view over ``result_rows`` (same columns) and ``texts`` (``id, text``): a
  ``detail`` or ``metrics`` text that repeats for a target (``connected to …``, ``HTTP 200 OK from …``)
  is stored once in ``texts`` and referred to by its INTEGER id; one seen for the first time (an ICMP
  round-trip time) stays inline. The view gives back the text, so readers and row hashes see exactly
  the values schema 1 stored. No per-row hash and no index. A schema 1 journal (``results`` a table
  holding the texts) is read, appended to and verified as it is; it is never converted.
* ``events``   everything else that is evidence: target definitions, agent start/stop/alive, outages
  opened and closed, stalls, clock samples and steps, contact-log entries (``seq, ts_ns, type, target,
  ref, data``; ``data`` is JSON).
* ``blocks``   seals: each block covers a contiguous range of ``seq`` (results and events share one
  sequence). Rows are grouped into *streams* — one per target for results (stream id = target id),
  stream 0 for events — and ``hash = SHA-256("OWJ1" || prev_hash || no || first_seq || last_seq ||
  for each stream in id order: stream_id || row_count || SHA-256(its row hashes in seq order))``
  (integers as 8-byte big-endian). A block also keeps the first 4 bytes of every row hash in seq order,
  so ``verify`` can name the first bad row. Streams let an evidence pack prove its own rows with only a
  stream digest for every row it leaves out. The first ``prev_hash`` is
  ``SHA-256("outage-watchdog journal " || journal_id)``.
* ``targets``  the id → key lookup (checked against the chained ``target`` events), ``meta`` and any
  operational tables (cursors, outboxes) that are *not* evidence and are not chained.

A row hash is ``SHA-256`` of the row's canonical form: compact JSON (``separators=(",", ":")``,
``ensure_ascii=False``, UTF-8) of ``["result", seq, target, ts_ns, latency_us, failure, detail,
metrics]`` or ``["event", seq, ts_ns, type, target, ref, data]``. Anyone can recompute it with the
standard library; see ``verify_journal``.

Every connection sets its pragmas explicitly: WAL, ``synchronous=FULL`` (a commit survives power
loss when the disk honours flushes), foreign keys, a busy timeout, and a bounded WAL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import struct
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.errors import JournalError
from watchdog.model import FailureKind, Outage, Result, Target

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # what a new journal gets; schema 1 journals are still read and written
BLOCK_MAX_ROWS = 1000
GENESIS_LABEL = b"outage-watchdog journal "
BLOCK_LABEL = b"OWJ1"

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    "PRAGMA journal_size_limit=67108864",
    "PRAGMA wal_autocheckpoint=1000",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS targets (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    type TEXT NOT NULL,
    target INTEGER,
    ref INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_type_ts ON events (type, ts_ns);
CREATE TABLE IF NOT EXISTS blocks (
    no INTEGER PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    min_ts_ns INTEGER NOT NULL,
    max_ts_ns INTEGER NOT NULL,
    sealed_ns INTEGER NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    digests BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS blocks_max_ts ON blocks (max_ts_ns);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated_ns INTEGER NOT NULL);
"""

# Schema 1: the results are a table.
RESULTS_V1 = """
CREATE TABLE IF NOT EXISTS results (
    seq INTEGER PRIMARY KEY,
    target INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    latency_us INTEGER,
    failure TEXT,
    detail TEXT,
    metrics TEXT
);
"""

# Schema 2: the rows are in result_rows, whose detail and metrics hold the text itself or (when it
# repeats) an INTEGER id into texts; they are declared without a type so that SQLite keeps either as
# given. The view ``results`` resolves the ids, so readers (and row hashes) see schema 1's values.
RESULTS_V2 = """
CREATE TABLE IF NOT EXISTS texts (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS result_rows (
    seq INTEGER PRIMARY KEY,
    target INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    latency_us INTEGER,
    failure TEXT,
    detail,
    metrics
);
CREATE VIEW IF NOT EXISTS results (seq, target, ts_ns, latency_us, failure, detail, metrics) AS
SELECT r.seq, r.target, r.ts_ns, r.latency_us, r.failure,
    CASE WHEN typeof(r.detail) = 'integer' THEN (SELECT t.text FROM texts t WHERE t.id = r.detail) ELSE r.detail END,
    CASE WHEN typeof(r.metrics) = 'integer' THEN (SELECT t.text FROM texts t WHERE t.id = r.metrics) ELSE r.metrics END
FROM result_rows r;
"""

RESULTS_SCHEMA = {1: RESULTS_V1, 2: RESULTS_V2}
ROWS_TABLE = {1: "results", 2: "result_rows"}  # where result rows are physically written

TEXT_CACHE_MAX = 4096  # interned texts whose id the writer remembers
TEXT_RECENT = 4  # texts remembered per (target, column): one seen again among them is interned
TEXT_MIN_INTERN = 4  # shorter texts stay inline: an id would not save anything

# Event types written by the core. Later parts add their own (contact, clock_sample, ...).
EV_TARGET = "target"
EV_AGENT_START = "agent_start"
EV_AGENT_STOP = "agent_stop"
EV_ALIVE = "alive"
EV_RUN_END_RECOVERED = "run_end_recovered"
EV_OUTAGE_OPEN = "outage_open"
EV_OUTAGE_CLOSE = "outage_close"
EV_STALL = "stall"
EV_CLOCK_STEP = "clock_step"
EV_CLOCK_SAMPLE = "clock_sample"  # an NTP measurement of the local clock (watchdog.agent.clock)
EV_JOURNAL_GAP = "journal_gap"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def result_row_hash(
    seq: int,
    target: int,
    ts_ns: int,
    latency_us: int | None,
    failure: str | None,
    detail: str | None,
    metrics: str | None,
) -> bytes:
    """SHA-256 of a results row's canonical form."""
    canon = ["result", seq, target, ts_ns, latency_us, failure, detail, metrics]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False, separators=(",", ":")).encode()).digest()


def event_row_hash(seq: int, ts_ns: int, type_: str, target: int | None, ref: int | None, data: str) -> bytes:
    """SHA-256 of an events row's canonical form."""
    canon = ["event", seq, ts_ns, type_, target, ref, data]
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False, separators=(",", ":")).encode()).digest()


EVENTS_STREAM = 0


def stream_digests(rows: Iterable[tuple[int, bytes]]) -> dict[int, tuple[int, bytes]]:
    """``(stream, row_hash)`` in seq order → ``{stream: (row_count, SHA-256 of its row hashes)}``."""
    hashers: dict[int, Any] = {}
    counts: dict[int, int] = {}
    for stream, row_hash in rows:
        if stream not in hashers:
            hashers[stream] = hashlib.sha256()
            counts[stream] = 0
        hashers[stream].update(row_hash)
        counts[stream] += 1
    return {stream: (counts[stream], hashers[stream].digest()) for stream in hashers}


def block_hash(
    prev_hash: bytes, no: int, first_seq: int, last_seq: int, streams: Mapping[int, tuple[int, bytes]]
) -> bytes:
    """The seal over a contiguous run of rows, from each stream's row count and digest."""
    h = hashlib.sha256(BLOCK_LABEL + prev_hash + struct.pack(">QQQ", no, first_seq, last_seq))
    for stream in sorted(streams):
        count, digest = streams[stream]
        h.update(struct.pack(">QQ", stream, count) + digest)
    return h.digest()


def genesis_hash(journal_id: str) -> bytes:
    """The ``prev_hash`` of block 1."""
    return hashlib.sha256(GENESIS_LABEL + journal_id.encode()).digest()


@dataclass(frozen=True, slots=True)
class Head:
    """The chain head: the last sealed block."""

    block: int
    last_seq: int
    hash: str  # hex
    sealed_ns: int

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "block": self.block,
            "last_seq": self.last_seq,
            "hash": self.hash,
            "sealed_ns": self.sealed_ns,
        }


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """A target as the journal defined it (from the latest ``target`` event for its id)."""

    id: int
    key: str
    kind: str
    address: str
    role: str
    provider: str | None
    interval_s: float
    timeout_s: float
    failure_threshold: int
    success_threshold: int

    @classmethod
    def from_event(cls, d: dict[str, Any]) -> TargetInfo:
        """From a ``target`` event's data."""
        return cls(
            id=int(d["id"]),
            key=d["key"],
            kind=d["kind"],
            address=d["address"],
            role=d["role"],
            provider=d.get("provider"),
            interval_s=float(d["interval_s"]),
            timeout_s=float(d["timeout_s"]),
            failure_threshold=int(d["failure_threshold"]),
            success_threshold=int(d["success_threshold"]),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One row of ``events`` with its data decoded."""

    seq: int
    ts_ns: int
    type: str
    target: int | None
    ref: int | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Run:
    """One run of the agent: from its start to its stop (or its last record, after a crash)."""

    seq: int
    run_id: str
    start_ns: int
    end_ns: int | None  # None while running (or unknown)
    clean: bool
    target_ids: tuple[int, ...]
    data: dict[str, Any]


@dataclass
class _TargetRestore:
    last_ok_ns: int | None = None
    last_fail_ns: int | None = None
    last_result: Result | None = None


@dataclass
class RestoredState:
    """What a restarting agent needs: open outages and each target's last results."""

    open_outages: dict[str, Outage] = field(default_factory=dict)
    last_ok_ns: dict[str, int] = field(default_factory=dict)
    last_fail_ns: dict[str, int] = field(default_factory=dict)
    last_result: dict[str, Result] = field(default_factory=dict)


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection with our pragmas; ``readonly`` opens with ``mode=ro``."""
    try:
        if readonly:
            conn = sqlite3.connect(
                f"file:{Path(path).resolve()}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        for pragma in PRAGMAS:
            if readonly and pragma.startswith("PRAGMA journal_mode"):
                continue
            conn.execute(pragma)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open journal {path}: {exc}") from exc
    return conn


STEADY_TOLERANCE_NS = 100_000_000  # wall and steady clocks disagree by more than this only after a step


def _clock_shift(opened: dict[str, Any], close: Event | None, open_seq: int, steps: list[tuple[int, int]]) -> int:
    """How far the wall clock stepped between an outage's first failure and its end (or now, while open)."""
    if close is not None:
        c = close.data
        if (
            "start_steady_ns" in c
            and "end_steady_ns" in c
            and c.get("boot_id") == opened.get("boot_id", c.get("boot_id"))
        ):
            wall = int(c["end_ns"]) - int(opened["start_ns"])
            skew = wall - (int(c["end_steady_ns"]) - int(c["start_steady_ns"]))
            return skew if abs(skew) > STEADY_TOLERANCE_NS else 0
    return sum(step for seq, step in steps if seq > open_seq and (close is None or seq < close.seq))


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _stored_version(conn: sqlite3.Connection) -> int | None:
    """The schema of an existing journal (-1 when unreadable), None for a new (empty) file."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        return None
    if _meta(conn, "journal_id") is None:
        return None
    version = _meta(conn, "schema_version")
    return int(version) if version is not None and version.isdigit() else -1


class Journal:
    """Synchronous access to one journal file. Use one instance per thread."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, journal_id: str, schema_version: int = SCHEMA_VERSION
    ) -> None:
        self.path = path
        self.conn = conn
        self.journal_id = journal_id
        self.schema_version = schema_version
        self._rows_table = ROWS_TABLE[schema_version]
        self._target_ids: dict[str, int] = {}
        # Interning (schema 2). Hints only: a text found here is looked up or inserted in the same
        # transaction as its row, and the ids are forgotten whenever a write fails (a rolled-back id
        # may be given to another text later).
        self._text_ids: dict[str, int] = {}
        self._recent_texts: dict[tuple[int, int], deque[str]] = {}

    # ------------------------------------------------------------------------------------- opening

    @classmethod
    def open(cls, path: Path | str, *, create: bool = True, readonly: bool = False) -> Journal:
        """Open (and with ``create``, create) a journal file.

        A new journal gets schema :data:`SCHEMA_VERSION`; an existing one keeps the schema it was
        created with (1 or 2) and is read and written in it.
        """
        file = Path(path)
        if not file.exists():
            if not create or readonly:
                raise JournalError(f"no journal at {file} (has the agent run with this data_dir?)")
            file.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(file, readonly=readonly)
        try:
            if not readonly:
                # the whole schema and the journal's identity appear in one transaction: a reader never
                # sees half a journal
                conn.execute("BEGIN IMMEDIATE")
                try:
                    stored = _stored_version(conn)
                    version = SCHEMA_VERSION if stored is None else stored
                    if version in RESULTS_SCHEMA:
                        for statement in (SCHEMA + RESULTS_SCHEMA[version]).split(";\n"):
                            if statement.strip():
                                conn.execute(statement)
                        if stored is None and _meta(conn, "journal_id") is None:
                            conn.executemany(
                                "INSERT INTO meta (key, value) VALUES (?, ?)",
                                [
                                    ("journal_id", uuid.uuid4().hex),
                                    ("schema_version", str(SCHEMA_VERSION)),
                                    ("created_ns", str(time.time_ns())),
                                ],
                            )
                    conn.execute("COMMIT")
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
            journal_id = _meta(conn, "journal_id")
            if journal_id is None:
                raise JournalError(f"{file} is not a watchdog journal (no journal_id)")
            version_text = _meta(conn, "schema_version")
            if version_text is None or not version_text.isdigit() or int(version_text) not in RESULTS_SCHEMA:
                raise JournalError(f"{file}: unsupported journal schema {version_text!r}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalError(f"{file}: not a readable journal: {exc}") from exc
        except JournalError:
            conn.close()
            raise
        journal = cls(file, conn, journal_id, int(version_text))
        journal._target_ids = dict(conn.execute("SELECT key, id FROM targets").fetchall())
        return journal

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ensure_schema(self, sql: str) -> None:
        """Create an operational (unchained) table other parts need, e.g. an outbox."""
        self.conn.executescript(sql)

    # -------------------------------------------------------------------------------------- writing

    def _next_seq(self) -> int:
        row = self.conn.execute(
            f"SELECT max(coalesce((SELECT max(seq) FROM {self._rows_table}), 0), "
            "coalesce((SELECT max(seq) FROM events), 0))"
        ).fetchone()
        return int(row[0]) + 1

    def register_targets(self, targets: Sequence[Target], now_ns: int | None = None) -> dict[str, int]:
        """Give every target an id and journal a ``target`` event when it is new or its definition changed."""
        now = time.time_ns() if now_ns is None else now_ns
        current = {info.key: info for info in self.targets().values()}
        with self.transaction():
            seq = self._next_seq()
            for target in targets:
                definition = {
                    "key": target.key,
                    "kind": target.kind,
                    "address": target.address,
                    "role": target.role.value,
                    "provider": target.provider,
                    "interval_s": target.interval_s,
                    "timeout_s": target.timeout_s,
                    "failure_threshold": target.failure_threshold,
                    "success_threshold": target.success_threshold,
                }
                old = current.get(target.key)
                if old is not None:
                    old_def = {k: getattr(old, k) for k in definition}
                    if old_def == definition:
                        continue
                    target_id = old.id
                else:
                    row = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM targets").fetchone()
                    target_id = int(row[0])
                    self.conn.execute("INSERT INTO targets (id, key) VALUES (?, ?)", (target_id, target.key))
                self.conn.execute(
                    "INSERT INTO events (seq, ts_ns, type, target, ref, data) VALUES (?, ?, ?, ?, NULL, ?)",
                    (seq, now, EV_TARGET, target_id, _json({**definition, "id": target_id})),
                )
                seq += 1
        self._target_ids = dict(self.conn.execute("SELECT key, id FROM targets").fetchall())
        return dict(self._target_ids)

    def target_id(self, key: str) -> int:
        """The id of a registered target."""
        try:
            return self._target_ids[key]
        except KeyError:
            raise JournalError(f"target {key!r} is not registered in the journal") from None

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type: object, *rest: object) -> None:
            # After SQLITE_FULL (and some I/O errors) SQLite has already rolled the transaction back: a
            # ROLLBACK then fails with "no transaction is active" and would hide the real error.
            if exc_type is None:
                try:
                    self.conn.execute("COMMIT")
                except BaseException:
                    if self.conn.in_transaction:  # a failed COMMIT must not leave the next BEGIN stuck
                        self.conn.execute("ROLLBACK")
                    raise
            elif self.conn.in_transaction:
                self.conn.execute("ROLLBACK")

    def transaction(self) -> Journal._Tx:
        """``with journal.transaction():`` — one IMMEDIATE transaction."""
        return Journal._Tx(self.conn)

    def append(self, items: Sequence[Result | PendingEvent], tickets: Sequence[Ticket] | None = None) -> list[int]:
        """Write results and events in one transaction, in order; return their sequence numbers.

        ``tickets`` (one per item) receive their seq as the rows are built, so a later event in the same
        batch can reference an earlier one (``PendingEvent.ref`` may be a Ticket).
        """
        if not items:
            return []
        try:
            with self.transaction():
                seq = self._next_seq()
                result_rows = []
                event_rows = []
                seqs = []
                for n, item in enumerate(items):
                    if tickets is not None:
                        tickets[n].seq = seq
                    if isinstance(item, Result):
                        result_rows.append(self._result_row(seq, item))
                    else:
                        target = self.target_id(item.target) if item.target else None
                        ref = item.ref.seq if isinstance(item.ref, Ticket) else item.ref
                        if isinstance(item.ref, Ticket) and ref is None:
                            raise JournalError(f"event {item.type} refers to a row that was never written")
                        event_rows.append((seq, item.ts_ns, item.type, target, ref, _json(item.data)))
                    seqs.append(seq)
                    seq += 1
                if result_rows:
                    self.conn.executemany(
                        f"INSERT INTO {self._rows_table} (seq, target, ts_ns, latency_us, failure, detail, metrics) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        result_rows,
                    )
                if event_rows:
                    self.conn.executemany(
                        "INSERT INTO events (seq, ts_ns, type, target, ref, data) VALUES (?, ?, ?, ?, ?, ?)",
                        event_rows,
                    )
        except BaseException:
            for ticket in tickets or ():
                ticket.seq = None
            self._text_ids.clear()  # ids handed out in the rolled-back transaction may not exist
            raise
        return seqs

    def _result_row(self, seq: int, r: Result) -> tuple[Any, ...]:
        latency = None if r.latency_s is None else round(r.latency_s * 1_000_000)
        target = self.target_id(r.target)
        detail = r.detail or None
        metrics = _json(dict(r.metrics)) if r.metrics else None
        if self.schema_version >= 2:
            return (
                seq,
                target,
                r.ts_ns,
                latency,
                None if r.failure is None else r.failure.value,
                self._stored_text(target, 0, detail),
                self._stored_text(target, 1, metrics),
            )
        return (seq, target, r.ts_ns, latency, None if r.failure is None else r.failure.value, detail, metrics)

    def _stored_text(self, target: int, column: int, text: str | None) -> str | int | None:
        """What schema 2 stores for a detail or metrics text: the text, or its id once it repeats.

        A text is interned the second time it is seen among the target's recent ones in that column, so
        texts that change every run (ICMP round-trip times) stay inline and never fill ``texts``.
        Called inside the row's transaction: a text inserted here commits or rolls back with its row.
        """
        if text is None or len(text) < TEXT_MIN_INTERN:
            return text
        known = self._text_ids.get(text)
        if known is not None:
            return known
        recent = self._recent_texts.setdefault((target, column), deque(maxlen=TEXT_RECENT))
        if text not in recent:
            recent.append(text)
            return text
        self.conn.execute("INSERT INTO texts (text) VALUES (?) ON CONFLICT (text) DO NOTHING", (text,))
        text_id = int(self.conn.execute("SELECT id FROM texts WHERE text = ?", (text,)).fetchone()[0])
        if len(self._text_ids) >= TEXT_CACHE_MAX:
            self._text_ids.clear()  # rare (thousands of distinct repeating texts): forget and look up again
        self._text_ids[text] = text_id
        recent.remove(text)
        return text_id

    def add_event(
        self,
        type_: str,
        data: dict[str, Any],
        *,
        target: str | None = None,
        ref: int | None = None,
        ts_ns: int | None = None,
    ) -> int:
        """Write one event now; return its seq."""
        event = PendingEvent(type_, time.time_ns() if ts_ns is None else ts_ns, data, target, ref)
        return self.append([event])[0]

    # -------------------------------------------------------------------------------------- sealing

    def head(self) -> Head | None:
        """The last sealed block, or None before the first seal."""
        row = self.conn.execute("SELECT no, last_seq, hash, sealed_ns FROM blocks ORDER BY no DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return Head(int(row[0]), int(row[1]), bytes(row[2]).hex(), int(row[3]))

    def unsealed_count(self) -> int:
        """Rows written after the last seal."""
        head = self.head()
        last = head.last_seq if head else 0
        row = self.conn.execute(
            f"SELECT (SELECT count(*) FROM {self._rows_table} WHERE seq > ?) "
            "+ (SELECT count(*) FROM events WHERE seq > ?)",
            (last, last),
        ).fetchone()
        return int(row[0])

    def seal(self, now_ns: int | None = None, *, max_rows: int = BLOCK_MAX_ROWS) -> list[Head]:
        """Seal every unsealed row into blocks of at most ``max_rows``; return the new heads."""
        sealed: list[Head] = []
        now = time.time_ns() if now_ns is None else now_ns
        with self.transaction():
            last = self.conn.execute("SELECT no, last_seq, hash FROM blocks ORDER BY no DESC LIMIT 1").fetchone()
            no, last_seq, prev = (
                (int(last[0]), int(last[1]), bytes(last[2])) if last else (0, 0, genesis_hash(self.journal_id))
            )
            rows = list(_rows_after(self.conn, last_seq))
            for start in range(0, len(rows), max_rows):
                chunk = rows[start : start + max_rows]
                first, final = chunk[0][0], chunk[-1][0]
                if first != last_seq + 1 or final - first + 1 != len(chunk):
                    raise JournalError(
                        f"cannot seal: sequence gap after seq {last_seq} (rows {first}..{final}, {len(chunk)} rows)"
                    )
                hashes = [h for _, _, h, _ in chunk]
                no += 1
                digest = block_hash(prev, no, first, final, stream_digests((st, h) for _, _, h, st in chunk))
                ts = [t for _, t, _, _ in chunk]
                self.conn.execute(
                    "INSERT INTO blocks (no, first_seq, last_seq, min_ts_ns, max_ts_ns, sealed_ns, prev_hash, "
                    "hash, digests) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (no, first, final, min(ts), max(ts), now, prev, digest, b"".join(h[:4] for h in hashes)),
                )
                sealed.append(Head(no, final, digest.hex(), now))
                prev, last_seq = digest, final
        return sealed

    # -------------------------------------------------------------------------------------- reading

    def targets(self) -> dict[int, TargetInfo]:
        """Every target the journal has defined, by id (latest definition wins)."""
        out: dict[int, TargetInfo] = {}
        for (data,) in self.conn.execute("SELECT data FROM events WHERE type = ? ORDER BY seq", (EV_TARGET,)):
            info = TargetInfo.from_event(json.loads(data))
            out[info.id] = info
        return out

    def target_keys(self) -> dict[int, str]:
        """id → key."""
        return {i: info.key for i, info in self.targets().items()}

    def _seq_window(self, since_ns: int | None, until_ns: int | None) -> tuple[int, int | None, int]:
        """Seq bounds that hold every row with ts in [since, until), found through the block ts ranges.

        Returns ``(lo, hi, tail)``: rows with ``lo <= seq <= hi`` (``hi`` None = no bound) plus every
        unsealed row (``seq > tail``). A row with ts < until sits in a block whose min_ts < until, so
        ``hi`` = the last such block holds even when the wall clock stepped back.
        """
        head = self.head()
        tail = head.last_seq if head else 0
        lo = 0
        if since_ns is not None:
            row = self.conn.execute("SELECT min(first_seq) FROM blocks WHERE max_ts_ns >= ?", (since_ns,)).fetchone()
            lo = int(row[0]) if row[0] is not None else tail + 1
        hi: int | None = None
        if until_ns is not None:
            row = self.conn.execute("SELECT max(last_seq) FROM blocks WHERE min_ts_ns < ?", (until_ns,)).fetchone()
            hi = int(row[0]) if row[0] is not None else 0
        return lo, hi, tail

    def iter_results(
        self,
        since_ns: int | None = None,
        until_ns: int | None = None,
        keys: Iterable[str] | None = None,
        *,
        batch: int = 5000,
    ) -> Iterator[tuple[int, Result]]:
        """``(seq, Result)`` with ``since <= ts < until`` in journal order, optionally for some targets."""
        names = self.target_keys()
        ids = None if keys is None else [i for i, k in names.items() if k in set(keys)]
        if ids is not None and not ids:
            return
        lo, hi, tail = self._seq_window(since_ns, until_ns)
        sql = "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results WHERE "
        args: list[Any] = []
        if hi is None:
            sql += "seq >= ?"
            args.append(lo)
        else:
            sql += "((seq >= ? AND seq <= ?) OR seq > ?)"
            args.extend([lo, hi, tail])
        if since_ns is not None:
            sql += " AND ts_ns >= ?"
            args.append(since_ns)
        if until_ns is not None:
            sql += " AND ts_ns < ?"
            args.append(until_ns)
        if ids is not None:
            sql += f" AND target IN ({','.join('?' * len(ids))})"
            args.extend(ids)
        sql += " ORDER BY seq"
        cur = self.conn.execute(sql, args)
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                return
            for seq, target, ts, lat, failure, detail, metrics in rows:
                yield (
                    seq,
                    Result(
                        target=names.get(target, f"#{target}"),
                        ts_ns=ts,
                        ok=failure is None,
                        latency_s=None if lat is None else lat / 1_000_000,
                        failure=None if failure is None else FailureKind(failure),
                        detail=detail or "",
                        metrics=json.loads(metrics) if metrics else {},
                    ),
                )

    def events(
        self,
        types: Iterable[str] | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        *,
        after_seq: int | None = None,
    ) -> list[Event]:
        """Events in seq order, filtered by type, time and position."""
        sql = "SELECT seq, ts_ns, type, target, ref, data FROM events WHERE 1=1"
        args: list[Any] = []
        if types is not None:
            wanted = list(types)
            sql += f" AND type IN ({','.join('?' * len(wanted))})"
            args.extend(wanted)
        if since_ns is not None:
            sql += " AND ts_ns >= ?"
            args.append(since_ns)
        if until_ns is not None:
            sql += " AND ts_ns < ?"
            args.append(until_ns)
        if after_seq is not None:
            sql += " AND seq > ?"
            args.append(after_seq)
        sql += " ORDER BY seq"
        return [
            Event(int(s), int(t), ty, tg, rf, json.loads(d)) for s, t, ty, tg, rf, d in self.conn.execute(sql, args)
        ]

    def outages(self, keys: Iterable[str] | None = None) -> list[Outage]:
        """Every outage (open ones have ``end_ns = None``), ordered by start.

        Times are as journaled, except when the wall clock stepped during an outage: then its start side
        (start, start bounds, confirmation) is moved into the clock of its end, so that its duration is
        the time that really passed — taken from the steady clock readings of its first failure and first
        success when the close carries them, else from the ``clock_step`` events journaled in between.
        """
        names = self.target_keys()
        wanted = None if keys is None else set(keys)
        closes = {e.ref: e for e in self.events([EV_OUTAGE_CLOSE])}
        steps = [(e.seq, int(e.data["step_ns"])) for e in self.events([EV_CLOCK_STEP])]
        out = []
        for e in self.events([EV_OUTAGE_OPEN]):
            key = names.get(e.target or -1, f"#{e.target}")
            if wanted is not None and key not in wanted:
                continue
            close = closes.get(e.seq)
            d = e.data
            shift = _clock_shift(d, close, e.seq, steps)
            last_ok = d.get("last_ok_ns")
            out.append(
                Outage(
                    id=e.seq,
                    target=key,
                    start_ns=int(d["start_ns"]) + shift,
                    start_bounds=(None if last_ok is None else int(last_ok) + shift, int(d["start_ns"]) + shift),
                    confirmed_ns=int(d["confirmed_ns"]) + shift,
                    end_ns=None if close is None else int(close.data["end_ns"]),
                    end_bounds=None if close is None else (int(close.data["last_fail_ns"]), int(close.data["end_ns"])),
                    failure=FailureKind(d["failure"]) if d.get("failure") else None,
                    detail=d.get("detail", ""),
                )
            )
        out.sort(key=lambda o: (o.start_ns, o.id))
        return out

    def runs(self) -> list[Run]:
        """Agent runs in order; a crashed run ends at its last record (``run_end_recovered``)."""
        # Heartbeats (one a minute, half a million a year) are read only for a run that has no end,
        # and then as one aggregate: decoding them all made every report scan the whole journal.
        events = self.events([EV_AGENT_START, EV_AGENT_STOP, EV_RUN_END_RECOVERED])
        runs: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for e in events:
            run_id = e.data.get("run", "")
            if e.type == EV_AGENT_START:
                runs[run_id] = {"seq": e.seq, "start": e.ts_ns, "end": None, "clean": False, "data": e.data}
                order.append(run_id)
            elif run_id in runs:
                if e.type == EV_AGENT_STOP:
                    runs[run_id]["end"] = e.ts_ns
                    runs[run_id]["clean"] = True
                elif e.type == EV_RUN_END_RECOVERED:
                    runs[run_id]["end"] = int(e.data["last_ns"])
        out = []
        for i, run_id in enumerate(order):
            r = runs[run_id]
            end = r["end"]
            if end is None and i < len(order) - 1:
                # crashed and never recovered (an older agent, or a copy taken mid-crash): its last heartbeat
                nxt = runs[order[i + 1]]["seq"]
                row = self.conn.execute(
                    "SELECT max(ts_ns) FROM events WHERE type = ? AND seq > ? AND seq < ?", (EV_ALIVE, r["seq"], nxt)
                ).fetchone()
                end = int(row[0]) if row[0] is not None else r["start"]
            out.append(
                Run(r["seq"], run_id, r["start"], end, r["clean"], tuple(r["data"].get("targets", ())), r["data"])
            )
        return out

    def restore(self, keys: Iterable[str], *, tail_rows: int = 50_000) -> RestoredState:
        """Open outages plus each target's last results, read from the journal's tail."""
        state = RestoredState()
        for outage in self.outages(keys):
            if outage.is_open:
                state.open_outages[outage.target] = outage
        wanted = set(keys)
        names = self.target_keys()
        seen: dict[str, _TargetRestore] = {}
        for target, ts, lat, failure, detail, metrics in self.conn.execute(
            "SELECT target, ts_ns, latency_us, failure, detail, metrics FROM results ORDER BY seq DESC LIMIT ?",
            (tail_rows,),
        ):
            key = names.get(target)
            if key is None or key not in wanted:
                continue
            info = seen.setdefault(key, _TargetRestore())
            if info.last_result is None:
                info.last_result = Result(
                    key,
                    ts,
                    failure is None,
                    None if lat is None else lat / 1e6,
                    None if failure is None else FailureKind(failure),
                    detail or "",
                    json.loads(metrics) if metrics else {},
                )
            if failure is None and info.last_ok_ns is None:
                info.last_ok_ns = ts
            if failure is not None and failure != FailureKind.INTERNAL and info.last_fail_ns is None:
                info.last_fail_ns = ts
        for key, info in seen.items():
            if info.last_ok_ns is not None:
                state.last_ok_ns[key] = info.last_ok_ns
            if info.last_fail_ns is not None:
                state.last_fail_ns[key] = info.last_fail_ns
            if info.last_result is not None:
                state.last_result[key] = info.last_result
        return state

    def last_result_ts_after(self, seq: int) -> int | None:
        """The latest result timestamp among rows after ``seq`` (used to end a crashed run)."""
        row = self.conn.execute(f"SELECT max(ts_ns) FROM {self._rows_table} WHERE seq > ?", (seq,)).fetchone()
        return None if row[0] is None else int(row[0])

    def cursor(self, name: str) -> int:
        """An exporter's position (0 before the first row)."""
        row = self.conn.execute("SELECT seq FROM cursors WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    def set_cursor(self, name: str, seq: int) -> None:
        """Move an exporter's position (only after the far side accepted the rows)."""
        self.conn.execute(
            "INSERT INTO cursors (name, seq, updated_ns) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET seq = excluded.seq, updated_ns = excluded.updated_ns",
            (name, seq, time.time_ns()),
        )


class Ticket:
    """A claim on a row being written: ``seq`` is set once the row has its place in the journal."""

    __slots__ = ("seq",)

    def __init__(self) -> None:
        self.seq: int | None = None


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event waiting to be written."""

    type: str
    ts_ns: int
    data: dict[str, Any]
    target: str | None = None  # Target.key
    ref: int | Ticket | None = None


def _rows_after(conn: sqlite3.Connection, last_seq: int) -> Iterator[tuple[int, int, bytes, int]]:
    """``(seq, ts_ns, row_hash, stream)`` for every row after ``last_seq``, merged in seq order."""
    results = conn.execute(
        "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results WHERE seq > ? ORDER BY seq",
        (last_seq,),
    ).fetchall()
    events = conn.execute(
        "SELECT seq, ts_ns, type, target, ref, data FROM events WHERE seq > ? ORDER BY seq", (last_seq,)
    ).fetchall()
    merged: list[tuple[int, int, bytes, int]] = [(r[0], r[2], result_row_hash(*r), int(r[1])) for r in results] + [
        (e[0], e[1], event_row_hash(*e), EVENTS_STREAM) for e in events
    ]
    merged.sort(key=lambda row: row[0])
    return iter(merged)
