"""The journal's on-disk layout: its tables (DDL) by schema version, the event types, the connection pragmas.

Layout (schema version 3, what a new journal gets; schema 3 adds ``templates``, see ``RESULTS_V3``):

* ``results``  one row per probe run: ``seq, target, ts_ns, latency_us, failure, detail, metrics``. In
  schema 2 this is a view over ``result_rows`` (same columns) and ``texts`` (``id, text``): a
  ``detail`` or ``metrics`` text that repeats for a target (``connected to …``, ``HTTP 200 OK from …``)
  is stored once in ``texts`` and referred to by its INTEGER id; one seen for the first time (an ICMP
  round-trip time) stays inline. The view gives back the text, so readers and row hashes see exactly
  the values schema 1 stored. No per-row hash and no index. Schema 3 stores an ICMP result's texts as
  a template id plus its round-trip times as integers (see ``RESULTS_V3``). A schema 1 journal
  (``results`` a table holding the texts) or schema 2 journal is read, appended to and verified as it
  is; the agent never converts it (``watchdog migrate``, :mod:`watchdog.journal.migrate`, rewrites a
  journal in another schema on request).
* ``events``   everything else that is evidence: target definitions, agent start/stop/alive, outages
  opened and closed, stalls, clock samples and steps, contact-log entries (``seq, ts_ns, type, target,
  ref, data``; ``data`` is JSON).
* ``blocks``   seals: each block covers a contiguous range of ``seq`` (results and events share one
  sequence); how a block's hash is computed is in :mod:`watchdog.journal.chain`.
* ``targets``  the id → key lookup (checked against the chained ``target`` events), ``meta`` and any
  operational tables (cursors, outboxes) that are *not* evidence and are not chained.

Every connection sets its pragmas explicitly: WAL, ``synchronous=FULL`` (a commit survives power
loss when the disk honours flushes), foreign keys, a busy timeout, and a bounded WAL.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import urllib.parse
from pathlib import Path

from watchdog.errors import JournalError

SCHEMA_VERSION = 3  # what a new journal gets; schema 1 and 2 journals are still read and written

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

# Schema 3: schema 2 plus templates for texts that differ only in round-trip times (ICMP). A row whose
# ``detail`` is a NEGATIVE integer -id takes both texts from ``templates`` row id, with the times filled
# in from integers: the average is ``latency_us`` (an ICMP probe's latency is its average RTT), and
# ``metrics`` holds (avg − min) + 65536 × (max − avg), in µs. Placeholders are the control characters
# 1, 2, 3 (min, avg, max in ms with 3 decimals, as the detail shows them) and 4, 5, 6 (the same in
# seconds, written as Python writes a float, as the metrics JSON holds them); no detail or metrics text
# contains a control character, so nothing else can be mistaken for one. The writer stores a template
# only when rendering it gives back exactly the text the probe wrote (otherwise the text is stored as in
# schema 2), so the view — plain SQL, readable by any SQLite — gives schema 1's values and row hashes.
TEMPLATE_SPREAD = 65536  # (avg − min) must stay below it


def _ms3(x: str) -> str:
    return f"printf('%d.%03d', ({x}) / 1000, ({x}) % 1000)"


def _float_s(x: str) -> str:
    """SQL for Python's ``repr(x / 1e6)`` of a non-negative integer count of µs below 10**16."""
    return (
        f"CASE WHEN ({x}) = 0 THEN '0.0' WHEN ({x}) < 10 THEN ({x}) || 'e-06' "
        f"WHEN ({x}) < 100 THEN (({x}) / 10) || CASE WHEN ({x}) % 10 THEN '.' || (({x}) % 10) ELSE '' END || 'e-05' "
        f"ELSE (({x}) / 1000000) || '.' || coalesce(nullif(rtrim(printf('%06d', ({x}) % 1000000), '0'), ''), '0') END"
    )


def _render(column: str) -> str:
    mn = f"r.latency_us - r.metrics % {TEMPLATE_SPREAD}"
    av = "r.latency_us"
    mx = f"r.latency_us + r.metrics / {TEMPLATE_SPREAD}"
    text = f"m.{column}"
    for code, value in ((1, _ms3(mn)), (2, _ms3(av)), (3, _ms3(mx)), (4, _float_s(mn)), (5, _float_s(av))):
        text = f"replace({text}, char({code}), {value})"
    text = f"replace({text}, char(6), {_float_s(mx)})"
    return f"(SELECT {text} FROM templates m WHERE m.id = -r.detail)"


RESULTS_V3 = f"""
CREATE TABLE IF NOT EXISTS texts (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS templates (
    id INTEGER PRIMARY KEY,
    detail TEXT NOT NULL,
    metrics TEXT NOT NULL,
    UNIQUE (detail, metrics)
);
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
    CASE typeof(r.detail) WHEN 'integer' THEN
        CASE WHEN r.detail > 0 THEN (SELECT t.text FROM texts t WHERE t.id = r.detail) ELSE {_render("detail")} END
    ELSE r.detail END,
    CASE WHEN typeof(r.detail) = 'integer' AND r.detail < 0 THEN {_render("metrics")}
        WHEN typeof(r.metrics) = 'integer' THEN (SELECT t.text FROM texts t WHERE t.id = r.metrics)
        ELSE r.metrics END
FROM result_rows r;
"""

RESULTS_SCHEMA = {1: RESULTS_V1, 2: RESULTS_V2, 3: RESULTS_V3}
ROWS_TABLE = {1: "results", 2: "result_rows", 3: "result_rows"}  # where result rows are physically written

# Event types written by the core. Later parts add their own (contact, clock_sample, ...).
EV_TARGET = "target"
EV_AGENT_START = "agent_start"
EV_AGENT_STOP = "agent_stop"
EV_ALIVE = "alive"
EV_RUN_END_RECOVERED = "run_end_recovered"
EV_OUTAGE_OPEN = "outage_open"
EV_OUTAGE_CLOSE = "outage_close"
EV_STALL = "stall"
EV_DEGRADED_OPEN = "degraded_open"  # a quality limit (latency, loss, jitter) was crossed: a degraded window opens
EV_DEGRADED_CLOSE = "degraded_close"  # ref = the degraded_open's seq
EV_CLOCK_STEP = "clock_step"
EV_CLOCK_SAMPLE = "clock_sample"  # an NTP measurement of the local clock (watchdog.agent.clock)
EV_JOURNAL_GAP = "journal_gap"
EV_JOURNAL_SET_ASIDE = "journal_set_aside"  # first event of a journal started because the old one was damaged
EV_STORAGE_WAIT = "storage_wait"  # the agent waited at start for room on the disk
EV_CERT_EXPIRING = "cert_expiring"  # a TLS certificate still valid but near its end: a warning, not downtime
EV_TRACEROUTE = "traceroute"  # the route to a target at an outage's open or close (watchdog.agent.traceroute)


def uri(path: Path, query: str) -> str:
    return f"file:{urllib.parse.quote(str(path.resolve()))}?{query}"


class _CopyConnection(sqlite3.Connection):
    """A read-only connection to a private copy of a journal; closing it removes the copy."""

    copy_dir: str | None = None

    def close(self) -> None:
        super().close()
        if self.copy_dir is not None:
            shutil.rmtree(self.copy_dir, ignore_errors=True)
            self.copy_dir = None

    def __del__(self) -> None:
        if self.copy_dir is not None:
            shutil.rmtree(self.copy_dir, ignore_errors=True)


def _open_readonly(path: Path) -> sqlite3.Connection:
    """``mode=ro``; for a copy whose -wal/-shm cannot be created (read-only media), what SQLite allows.

    SQLite reads a WAL database read-only only if its -shm and -wal exist or can be created. Where they
    cannot: with no -wal (or an empty one) every committed row is in the main file, so ``immutable=1``
    reads it all; a -wal without its -shm holds committed rows that only a writable folder can replay,
    so the two files are copied to a private temporary folder (0700) and read there.
    """
    conn = sqlite3.connect(uri(path, "mode=ro"), uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.Error as exc:
        conn.close()
        if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF not in (8, 14):  # READONLY*, CANTOPEN
            raise
    wal = Path(f"{path}-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        return sqlite3.connect(
            uri(path, "mode=ro&immutable=1"), uri=True, isolation_level=None, check_same_thread=False
        )
    copy_dir = tempfile.mkdtemp(prefix="watchdog-journal-")
    try:
        copy = Path(copy_dir) / path.name
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, f"{copy}-wal")
        conn = sqlite3.connect(
            uri(copy, "mode=ro"), uri=True, isolation_level=None, check_same_thread=False, factory=_CopyConnection
        )
    except BaseException:
        shutil.rmtree(copy_dir, ignore_errors=True)
        raise
    assert isinstance(conn, _CopyConnection)
    conn.copy_dir = copy_dir
    return conn


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection with our pragmas; ``readonly`` opens with ``mode=ro`` and writes nothing."""
    try:
        if readonly:
            conn = _open_readonly(Path(path))
        else:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        for pragma in PRAGMAS:
            if readonly and pragma.startswith("PRAGMA journal_mode"):
                continue
            conn.execute(pragma)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open journal {path}: {exc}") from exc
    except OSError as exc:
        raise JournalError(f"cannot open journal {path}: {exc.strerror or exc}") from exc
    return conn
