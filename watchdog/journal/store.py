"""The journal: an append-only, hash-chained SQLite file that is the record of everything the agent saw.

This module opens a journal and writes to it — appends results and events, seals them into blocks.
Where the rest lives:

* :mod:`watchdog.journal.schema`   the tables by schema version, the event types (``EV_*``), ``connect``
* :mod:`watchdog.journal.chain`    row hashes, stream digests, block and genesis hashes
* :mod:`watchdog.journal.readers`  the read side: ``Head``, ``TargetInfo``, ``Event``, ``Run`` and the queries
* :mod:`watchdog.journal.restore`  what a restarting agent reads back: open outages, last results
* :mod:`watchdog.journal.verify`   checking the whole chain
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from watchdog.errors import JournalError
from watchdog.journal.chain import (
    EVENTS_STREAM,
    block_hash,
    event_row_hash,
    genesis_hash,
    json_string,
    result_row_hash,
    stream_digests,
)
from watchdog.journal.files import as_storage_error, check_journal_files, create_private_file, make_private, private_dir
from watchdog.journal.readers import Head, JournalReader
from watchdog.journal.restore import RestoredState, restore_state
from watchdog.journal.schema import (
    EV_TARGET,
    RESULTS_SCHEMA,
    ROWS_TABLE,
    SCHEMA,
    SCHEMA_VERSION,
    TEMPLATE_SPREAD,
    connect,
)
from watchdog.model import Result, Target

_LOGGER = logging.getLogger(__name__)

BLOCK_MAX_ROWS = 1000

TEXT_CACHE_MAX = 4096  # interned texts whose id the writer remembers
TEXT_RECENT = 4  # texts remembered per (target, column): one seen again among them is interned
TEXT_MIN_INTERN = 4  # shorter texts stay inline: an id would not save anything
TEMPLATE_CACHE_MAX = 65_536  # template ids the writer remembers (an ICMP target has its own: its address)
HASHED_MAX = 64 * BLOCK_MAX_ROWS  # row hashes kept from the writes for the seal; older unsealed rows are read back
APPEND_RUN = 8  # rows built in Python between inserts and ``pause`` calls (~0.1-0.2 ms of work): the event loop's
# thread, back from a send, gets the interpreter at the next pause (an insert gives it up only for µs) — issue 19
SPOT_CHECK_EVERY = 50  # the seal reads back every so many rows it hashed when written and compares (see _take_hashed)

_RTT_KEYS = (("rtt_min_s", "\x04"), ("rtt_avg_s", "\x05"), ("rtt_max_s", "\x06"))
_CONTROL = frozenset(chr(c) for c in range(1, 7))


def _ms3(us: int) -> str:
    """µs as milliseconds with 3 decimals (what SQL ``printf('%d.%03d', us / 1000, us % 1000)`` gives)."""
    return f"{us // 1000}.{us % 1000:03d}"


def _float_s(us: int) -> str:
    """``repr(us / 1e6)`` as the schema 3 view computes it in SQL (µs ≥ 0)."""
    if us == 0:
        return "0.0"
    if us < 10:
        return f"{us}e-06"
    if us < 100:
        return f"{us // 10}{'.' + str(us % 10) if us % 10 else ''}e-05"
    return f"{us // 1000000}.{(f'{us % 1000000:06d}'.rstrip('0') or '0')}"


_TEXTS: dict[int, tuple[str, str]] = {}
_TEXTS_MAX = 65_536


def _texts(us: int) -> tuple[str, str]:
    """``(_ms3(us), _float_s(us))``, remembered: a target's round-trip times repeat to the microsecond."""
    texts = _TEXTS.get(us)
    if texts is None:
        if len(_TEXTS) >= _TEXTS_MAX:
            _TEXTS.clear()
        texts = _TEXTS[us] = (_ms3(us), _float_s(us))
    return texts


def render_template(text: str, min_us: int, avg_us: int, max_us: int) -> str:
    """A schema 3 template with its round-trip times filled in (the view does the same in SQL)."""
    lo, mid, hi = _texts(min_us), _texts(avg_us), _texts(max_us)  # digits, '.', 'e' and '-': no code
    return (
        text.replace("\x01", lo[0])
        .replace("\x02", mid[0])
        .replace("\x03", hi[0])
        .replace("\x04", lo[1])
        .replace("\x05", mid[1])
        .replace("\x06", hi[1])
    )


def rtt_template(
    detail: str | None, metrics_text: str | None, metrics: Mapping[str, float], latency_us: int | None
) -> tuple[str, str, int, int, int] | None:
    """``(detail template, metrics template, min µs, avg µs, max µs)`` when the texts render back exactly.

    Applies to results whose metrics carry ``rtt_min_s``/``rtt_avg_s``/``rtt_max_s`` with the average as
    the latency and whose detail ends ``rtt min/avg/max A/B/C ms`` (an ICMP probe's); None otherwise.
    """
    if detail is None or metrics_text is None or latency_us is None:
        return None
    try:
        mn, av, mx = (round(float(metrics[key]) * 1_000_000) for key, _ in _RTT_KEYS)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if av != latency_us or not 0 <= mn <= av <= mx or av - mn >= TEMPLATE_SPREAD or mx >= 10**15:
        return None
    if _CONTROL.intersection(detail) or _CONTROL.intersection(metrics_text):
        return None
    suffix = f"rtt min/avg/max {_ms3(mn)}/{_ms3(av)}/{_ms3(mx)} ms"
    if not detail.endswith(suffix):
        return None
    detail_tpl = detail[: -len(suffix)] + "rtt min/avg/max \x01/\x02/\x03 ms"
    metrics_tpl = metrics_text
    for key, code in _RTT_KEYS:
        value = metrics[key]
        # json.dumps writes a finite float as its repr: the same text without the encoder (a row each, at
        # thousands of ICMP results a second)
        text = repr(value) if type(value) is float and math.isfinite(value) else _json(value)
        fragment = f'"{key}":{text}'
        if metrics_tpl.count(fragment) != 1:
            return None
        metrics_tpl = metrics_tpl.replace(fragment, f'"{key}":{code}')
    if render_template(detail_tpl, mn, av, mx) != detail or render_template(metrics_tpl, mn, av, mx) != metrics_text:
        return None
    return detail_tpl, metrics_tpl, mn, av, mx


_SUFFIX_TPL = "rtt min/avg/max \x01/\x02/\x03 ms"
_SCALARS = (int, float, bool, type(None))  # metric values whose JSON text is fixed by value and type (no strings)
_CODES = {"\x04": "{3}", "\x05": "{4}", "\x06": "{5}"}  # a metrics template's codes as str.format fields

_RTT_TEXTS: dict[float, tuple[int, str, str]] = {}
_RTT_TEXTS_MAX = 65_536


def _rtt_text(value: float) -> tuple[int, str, str] | None:
    """``(µs, _ms3(µs), repr(value))`` of an RTT in seconds whose repr the view renders from its µs; remembered.

    None for any other value (negative, inf, nan, more digits than a µs). 0.0 is never remembered: -0.0 equals it as
    a key, and its repr ("-0.0") does not render back.
    """
    try:
        us = round(value * 1_000_000)
    except (OverflowError, ValueError):  # inf, nan
        return None
    if us < 0:
        return None
    ms, float_s = _texts(us)
    if repr(value) != float_s:
        return None
    if value != 0.0:
        if len(_RTT_TEXTS) >= _RTT_TEXTS_MAX:
            _RTT_TEXTS.clear()
        _RTT_TEXTS[value] = (us, ms, float_s)
    return us, ms, float_s


def _format_piece(text: str) -> str:
    """``text`` as it stands inside a JSON string (the row hash's canonical form), escaped for ``str.format``."""
    return json_string(text)[1:-1].replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True, slots=True)
class RttShape:
    """What a target's templated results share: the detail before its times, the other metrics, the template.

    A result with the same detail prefix, the same other metric values (same types) and round-trip times whose
    texts are what the template renders renders back exactly, so :meth:`Journal._result_row` stores it without
    building and comparing the texts again (:func:`rtt_template`'s checks, done once per target instead of per row).
    ``canon`` is the rest of such a row's canonical form (chain.result_row_hash) from its detail on, with the six
    times as ``str.format`` fields: the row hash without rendering the metrics text or JSON-escaping either text.
    """

    prefix: str
    others: tuple[tuple[str, Any, type, str | None], ...]  # (key, value, type, repr when compared by repr: a float
    # 0.0, inf or nan, which an equal value need not match in text: -0.0 == 0.0, nan != nan)
    size: int
    key: tuple[str, str]
    canon: str

    @classmethod
    def of(cls, detail_tpl: str, metrics_tpl: str, metrics: Mapping[str, Any]) -> RttShape | None:
        """The shape of a result :func:`rtt_template` accepted; None when its other metrics are not plain scalars."""
        others = tuple(
            (k, v, type(v), repr(v) if type(v) is float and (v == 0.0 or not math.isfinite(v)) else None)
            for k, v in metrics.items()
            if k not in _RTT_NAMES
        )
        if not detail_tpl.endswith(_SUFFIX_TPL) or any(kind not in _SCALARS for _, _, kind, _ in others):
            return None
        prefix = detail_tpl[: -len(_SUFFIX_TPL)]
        pieces = re.split("([\x04-\x06])", metrics_tpl)
        metrics_fmt = "".join(_CODES.get(piece) or _format_piece(piece) for piece in pieces)
        canon = f'"{_format_piece(prefix)}rtt min/avg/max {{0}}/{{1}}/{{2}} ms","{metrics_fmt}"]'
        return cls(prefix, others, len(metrics), (detail_tpl, metrics_tpl), canon)

    def fits(self, r: Result, latency_us: int) -> tuple[int, str] | None:
        """``(packed min/max spread, canon filled in)`` of ``r`` when it renders back exactly, else None.

        The packed spread is what schema 3 stores in ``metrics``; the text is ``canon`` with the row's times.
        """
        m = r.metrics
        if len(m) != self.size:
            return None
        vmin, vavg, vmax = m.get("rtt_min_s"), m.get("rtt_avg_s"), m.get("rtt_max_s")
        if type(vmin) is not float or type(vavg) is not float or type(vmax) is not float:
            return None
        cache = _RTT_TEXTS
        lo = cache.get(vmin) or _rtt_text(vmin)
        mid = cache.get(vavg) or _rtt_text(vavg)
        hi = cache.get(vmax) or _rtt_text(vmax)
        if lo is None or mid is None or hi is None:
            return None
        mn, av, mx = lo[0], mid[0], hi[0]
        if av != latency_us or not mn <= av <= mx or av - mn >= TEMPLATE_SPREAD or mx >= 10**15:
            return None
        for key, value, kind, text in self.others:
            x = m.get(key, _MISSING)
            if type(x) is not kind or (x != value if text is None else repr(x) != text):
                return None
        if r.detail != f"{self.prefix}rtt min/avg/max {lo[1]}/{mid[1]}/{hi[1]} ms":
            return None
        text = self.canon.format(lo[1], mid[1], hi[1], lo[2], mid[2], hi[2])
        return (av - mn) + TEMPLATE_SPREAD * (mx - av), text


_RTT_NAMES = frozenset(key for key, _ in _RTT_KEYS)


_MISSING = object()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


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


class Journal(JournalReader):
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
        self._template_ids: dict[tuple[str, str], int] = {}  # schema 3, hints like _text_ids
        self._renderer: _Renderer | None = None  # schema 3: renders rows for the seal (see _Renderer)
        # called between short runs of work (every APPEND_RUN rows, every spot check of a seal): the agent's writer
        # waits there while the event loop's thread starts probes (watchdog.agent.writer.LoopTurn)
        self.pause: Callable[[], object] | None = None
        self._rtt_shapes: dict[int, RttShape] = {}  # schema 3: per target id, the shape of its last templated row
        self._recent_texts: dict[tuple[int, int], deque[str]] = {}
        # (seq, ts_ns, row_hash, stream) of the rows this object wrote since they were last sealed, in seq order and
        # without a gap: the seal takes them instead of reading the rows back (see _take_hashed)
        self._hashed: deque[tuple[int, int, bytes, int]] = deque(maxlen=HASHED_MAX)
        self.hashed_on_write = True  # off after a spot check found a hash that differs from the row read back

    # ------------------------------------------------------------------------------------- opening

    @classmethod
    def open(cls, path: Path | str, *, create: bool = True, readonly: bool = False) -> Journal:
        """Open (and with ``create``, create) a journal file.

        A new journal gets schema :data:`SCHEMA_VERSION`; an existing one keeps the schema it was
        created with (1, 2 or 3) and is read and written in it.
        """
        file = Path(path)
        if readonly:
            if not file.exists():
                raise JournalError(f"no journal at {file} (has the agent run with this data_dir?)")
        else:
            try:
                check_journal_files(file)
                if not file.exists():
                    if not create:
                        raise JournalError(f"no journal at {file} (has the agent run with this data_dir?)")
                    private_dir(file.parent)
                    create_private_file(file)  # 0600: SQLite gives the -wal and -shm the same mode
                else:
                    make_private(file)
            except OSError as exc:
                raise as_storage_error(exc, file) or JournalError(f"cannot open journal {file}: {exc}") from exc
        try:
            conn = connect(file, readonly=readonly)
        except JournalError as exc:
            raise as_storage_error(exc, file) or exc from exc.__cause__
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
            raise as_storage_error(exc, file) or JournalError(f"{file}: not a readable journal: {exc}") from exc
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

    def written_after(self, seq: int, before_ns: int) -> bool:
        """True when a result or event after ``seq`` is timed before ``before_ns`` (a proof up to ``seq`` misses it).

        Scans only the rows after ``seq`` (the primary key), so it is cheap when ``seq`` is a recent head.
        """
        for table in (self._rows_table, "events"):
            sql = f"SELECT 1 FROM {table} WHERE seq > ? AND ts_ns < ? LIMIT 1"
            if self.conn.execute(sql, (seq, before_ns)).fetchone() is not None:
                return True
        return False

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
                hashed = []
                for n, item in enumerate(items):
                    if tickets is not None:
                        tickets[n].seq = seq
                    if isinstance(item, Result):
                        row, row_hash = self._built_row(seq, item)
                        result_rows.append(row)
                        hashed.append((seq, item.ts_ns, row_hash, row[1]))
                    else:
                        target = self.target_id(item.target) if item.target else None
                        ref = item.ref.seq if isinstance(item.ref, Ticket) else item.ref
                        if isinstance(item.ref, Ticket) and ref is None:
                            raise JournalError(f"event {item.type} refers to a row that was never written")
                        event = (seq, item.ts_ns, item.type, target, ref, _json(item.data))
                        event_rows.append(event)
                        hashed.append((seq, item.ts_ns, event_row_hash(*event), EVENTS_STREAM))
                    seqs.append(seq)
                    seq += 1
                    if len(result_rows) >= APPEND_RUN:
                        self._insert_results(result_rows)
                        result_rows = []
                        if self.pause is not None:
                            self.pause()
                if result_rows:
                    self._insert_results(result_rows)
                if event_rows:
                    self.conn.executemany(
                        "INSERT INTO events (seq, ts_ns, type, target, ref, data) VALUES (?, ?, ?, ?, ?, ?)",
                        event_rows,
                    )
        except BaseException:
            for ticket in tickets or ():
                ticket.seq = None
            self._text_ids.clear()  # ids handed out in the rolled-back transaction may not exist
            self._template_ids.clear()
            if self._renderer is not None:
                self._renderer.forget()
            raise
        if hashed and self.hashed_on_write:
            if self._hashed and self._hashed[-1][0] + 1 != hashed[0][0]:
                self._hashed.clear()  # rows written meanwhile by another path (a target event): read back at the seal
            self._hashed.extend(hashed)
        return seqs

    def _insert_results(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(
            f"INSERT INTO {self._rows_table} (seq, target, ts_ns, latency_us, failure, detail, metrics) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _result_row(self, seq: int, r: Result) -> tuple[Any, ...]:
        """The ``result_rows`` (schema 3) or ``results`` row stored for ``r``."""
        return self._built_row(seq, r)[0]

    def _built_row(self, seq: int, r: Result) -> tuple[tuple[Any, ...], bytes]:
        """``(stored row, row hash)``: the row to insert, and the hash of the row as the view shows it (what verify
        hashes: detail and metrics rendered, ids resolved)."""
        latency = None if r.latency_s is None else round(r.latency_s * 1_000_000)
        target = self.target_id(r.target)
        if self.schema_version >= 3 and r.failure is None and latency is not None:
            shape = self._rtt_shapes.get(target)
            fit = None if shape is None or type(r.ts_ns) is not int else shape.fits(r, latency)
            if fit is not None:
                assert shape is not None
                # fits() held the detail equal to the template's rendering and the metrics equal in value and type
                # (perhaps not in order: the view shows the template's order, and so does the canonical text)
                packed, canon = fit
                return (
                    (seq, target, r.ts_ns, latency, None, -self._template_id(*shape.key), packed),
                    sha256(f'["result",{seq},{target},{r.ts_ns},{latency},null,{canon}'.encode()).digest(),
                )
        detail = r.detail or None
        metrics = _json(dict(r.metrics)) if r.metrics else None
        row: tuple[Any, ...]
        if self.schema_version >= 3 and r.failure is None:
            template = rtt_template(detail, metrics, r.metrics, latency)
            if template is not None:
                detail_tpl, metrics_tpl, mn, av, mx = template
                shape = RttShape.of(detail_tpl, metrics_tpl, r.metrics)
                if shape is not None:
                    self._rtt_shapes[target] = shape
                row = (
                    seq,
                    target,
                    r.ts_ns,
                    latency,
                    None,
                    -self._template_id(detail_tpl, metrics_tpl),
                    (av - mn) + TEMPLATE_SPREAD * (mx - av),
                )
                # rtt_template() held both texts equal to the template's rendering
                return row, result_row_hash(seq, target, r.ts_ns, latency, None, detail, metrics)
        failure = None if r.failure is None else r.failure.value
        if self.schema_version >= 2:
            row = (
                seq,
                target,
                r.ts_ns,
                latency,
                failure,
                self._stored_text(target, 0, detail),
                self._stored_text(target, 1, metrics),
            )
        else:
            row = (seq, target, r.ts_ns, latency, failure, detail, metrics)
        return row, result_row_hash(seq, target, r.ts_ns, latency, failure, detail, metrics)

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

    def _template_id(self, detail: str, metrics: str) -> int:
        """The id of a schema 3 template, inserted in the row's transaction when new."""
        key = (detail, metrics)
        known = self._template_ids.get(key)
        if known is not None:
            return known
        self.conn.execute(
            "INSERT INTO templates (detail, metrics) VALUES (?, ?) ON CONFLICT (detail, metrics) DO NOTHING", key
        )
        template_id = int(
            self.conn.execute("SELECT id FROM templates WHERE detail = ? AND metrics = ?", key).fetchone()[0]
        )
        if len(self._template_ids) >= TEMPLATE_CACHE_MAX:
            self._template_ids.clear()
        self._template_ids[key] = template_id
        return template_id

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

    def last_seq(self) -> int:
        """The seq of the last row written (0 in an empty journal)."""
        return self._next_seq() - 1

    def whole_block_waiting(self) -> int | None:
        """The first seq of the next block when a whole one (``BLOCK_MAX_ROWS`` rows) waits to be sealed, else None."""
        last = self.conn.execute("SELECT last_seq FROM blocks ORDER BY no DESC LIMIT 1").fetchone()
        sealed_upto = int(last[0]) if last else 0
        return sealed_upto + 1 if self.last_seq() - sealed_upto >= BLOCK_MAX_ROWS else None

    def hash_rows(self, first_seq: int, last_seq: int) -> list[tuple[int, int, bytes, int]]:
        """``(seq, ts_ns, row_hash, stream)`` of the rows ``first_seq``..``last_seq``, for a block sealed in parts.

        At thousands of results a second the agent hashes a block a few hundred rows at a time, with pauses
        between (:meth:`watchdog.agent.core.Agent._seal_whole_blocks`), and seals it with :meth:`seal_block`.
        """
        taken = self._take_hashed(first_seq, last_seq)
        if taken is not None:
            return taken
        return list(_rows_after(self.conn, first_seq - 1, BLOCK_MAX_ROWS, last_seq, renderer=self._seal_renderer()))

    def _take_hashed(self, first_seq: int, last_seq: int) -> list[tuple[int, int, bytes, int]] | None:
        """The rows ``first_seq``..``last_seq`` as hashed when this object wrote them, or None to read them back.

        ``append`` hashes each row as the view will show it (detail and metrics rendered, ids resolved), so the seal
        need not read back and render every row: at 5,000 results/s that was a third of the writer thread's work. Every
        ``SPOT_CHECK_EVERY``-th row and the last are still read back and hashed; should one differ, this logs an error,
        stops hashing on write, and the seal reads everything back as before (``verify`` re-reads it all anyway).
        """
        hashed = self._hashed
        while hashed and hashed[0][0] < first_seq:
            hashed.popleft()
        count = last_seq - first_seq + 1
        if count <= 0 or len(hashed) < count or hashed[0][0] != first_seq or hashed[count - 1][0] != last_seq:
            return None
        rows = [hashed.popleft() for _ in range(count)]
        renderer = self._seal_renderer()
        for n in (*range(0, count, SPOT_CHECK_EVERY), count - 1):
            if self.pause is not None:
                self.pause()
            seq = rows[n][0]
            read = next(_rows_after(self.conn, seq - 1, 1, seq, renderer=renderer), None)
            if read != rows[n]:
                _LOGGER.error(
                    "journal: seq %d hashed when written differs from the row read back; the seal reads every row "
                    "back from now on (written %s, read %s)",
                    seq,
                    rows[n][2].hex()[:16],
                    "no row" if read is None else read[2].hex()[:16],
                )
                self.hashed_on_write = False
                hashed.clear()
                return None
        return rows

    def seal_hashed_block(self, first_seq: int, now_ns: int | None = None) -> Head | None:
        """Seal the whole block from ``first_seq`` in one call when its rows were hashed as written; else None.

        Sealing a block this way reads back only its spot checks: ~3 ms of CPU against ~10–15 ms reading all of it back
        (1,000 ICMP rows, the development VM); otherwise the agent hashes it in parts
        (:meth:`hash_rows`).
        """
        rows = self._take_hashed(first_seq, first_seq + BLOCK_MAX_ROWS - 1)
        return None if rows is None else self.seal_block(rows, now_ns)

    def seal_block(self, rows: Sequence[tuple[int, int, bytes, int]], now_ns: int | None = None) -> Head:
        """Seal ``rows`` (from :meth:`hash_rows`, in seq order) as the next block: the same block :meth:`seal` makes.

        Refused (JournalError) unless they are the next rows after the last block, without a gap, and no more
        than a block holds.
        """
        now = time.time_ns() if now_ns is None else now_ns
        with self.transaction():
            no, last_seq, prev = self._chain_end()
            if len(rows) > BLOCK_MAX_ROWS:
                raise JournalError(f"cannot seal {len(rows)} rows in one block (at most {BLOCK_MAX_ROWS})")
            return self._add_block(no + 1, prev, last_seq, list(rows), now)

    def _seal_renderer(self) -> _Renderer | None:
        """What renders schema 3 rows for the seal (kept between seals), None for older schemas (the view then)."""
        if self.schema_version >= 3 and self._renderer is None:
            self._renderer = _Renderer(self.conn)
        return self._renderer

    def _chain_end(self) -> tuple[int, int, bytes]:
        """``(no, last_seq, hash)`` of the last block (0, 0 and the genesis hash before the first)."""
        last = self.conn.execute("SELECT no, last_seq, hash FROM blocks ORDER BY no DESC LIMIT 1").fetchone()
        return (int(last[0]), int(last[1]), bytes(last[2])) if last else (0, 0, genesis_hash(self.journal_id))

    def _add_block(
        self, no: int, prev: bytes, last_seq: int, chunk: list[tuple[int, int, bytes, int]], now: int
    ) -> Head:
        """Insert block ``no`` over ``chunk`` (rows right after ``last_seq``, in order) chained to ``prev``."""
        first, final = chunk[0][0], chunk[-1][0]
        if first != last_seq + 1 or final - first + 1 != len(chunk):
            raise JournalError(
                f"cannot seal: sequence gap after seq {last_seq} (rows {first}..{final}, {len(chunk)} rows)"
            )
        hashes = [h for _, _, h, _ in chunk]
        streams = stream_digests(((st, h) for _, _, h, st in chunk), self.pause)
        if self.pause is not None:
            self.pause()
        digest = block_hash(prev, no, first, final, streams)
        ts = [t for _, t, _, _ in chunk]
        self.conn.execute(
            "INSERT INTO blocks (no, first_seq, last_seq, min_ts_ns, max_ts_ns, sealed_ns, prev_hash, "
            "hash, digests) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (no, first, final, min(ts), max(ts), now, prev, digest, b"".join(h[:4] for h in hashes)),
        )
        return Head(no, final, digest.hex(), now)

    def seal(
        self,
        now_ns: int | None = None,
        *,
        max_rows: int = BLOCK_MAX_ROWS,
        upto_seq: int | None = None,
        max_blocks: int | None = None,
    ) -> list[Head]:
        """Seal the unsealed rows into blocks of at most ``max_rows``; return the new heads.

        Every unsealed row by default; ``upto_seq`` leaves the rows after it, ``max_blocks`` stops after that
        many blocks (the agent seals a block at a time, so a seal never holds the writer thread for long).
        """
        sealed: list[Head] = []
        now = time.time_ns() if now_ns is None else now_ns
        with self.transaction():
            no, last_seq, prev = self._chain_end()
            final = self.last_seq() if upto_seq is None else min(upto_seq, self.last_seq())
            # a block's worth at a time: a minute of 5,000 probes/s is 300,000 rows
            while (max_blocks is None or len(sealed) < max_blocks) and last_seq < final:
                upto = min(last_seq + max_rows, final)
                chunk = self._take_hashed(last_seq + 1, upto)
                if chunk is None:  # the next rows up to ``final`` (a gap among them is refused by _add_block)
                    rows = _rows_after(self.conn, last_seq, max_rows, final, renderer=self._seal_renderer())
                    chunk = list(itertools.islice(rows, upto - last_seq))
                if not chunk:
                    break
                no += 1
                head = self._add_block(no, prev, last_seq, chunk, now)
                sealed.append(head)
                prev, last_seq = bytes.fromhex(head.hash), head.last_seq
        return sealed

    # ------------------------------------------------------------------------------------ restoring

    def restore(self, keys: Iterable[str], *, tail_rows: int = 50_000) -> RestoredState:
        """Open outages plus each target's last results, read from the journal's tail."""
        return restore_state(self, keys, tail_rows=tail_rows)

    # ---------------------------------------------------------------------------------- operational

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


class _Renderer:
    """Schema 3 rows as the ``results`` view gives them, rendered here from ``result_rows`` (issue 19).

    The view renders a templated row in SQL at ~20 µs a row on the development VM, a plain read of
    ``result_rows`` costs ~1.5 µs and filling the template in here ~2 µs; sealing reads every row once. Only
    rows the writer makes are rendered here (a template or text id that exists, times ≥ 0); any other row is
    read from the view itself, so what is hashed is always what the view shows (tests/journal hold both equal).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        # the writer's own journal keeps them between seals (an ICMP target has its own template); forgotten with
        # the writer's other hints when a write fails (a rolled-back id may be given to another text later)
        self.templates: dict[int, tuple[str, str] | None] = {}
        self.texts: dict[int, str | None] = {}

    def forget(self) -> None:
        self.templates.clear()
        self.texts.clear()

    def _template(self, template_id: int) -> tuple[str, str] | None:
        if template_id not in self.templates:
            if len(self.templates) >= TEMPLATE_CACHE_MAX:
                self.templates.clear()
            row = self.conn.execute("SELECT detail, metrics FROM templates WHERE id = ?", (template_id,)).fetchone()
            ok = row is not None and type(row[0]) is str and type(row[1]) is str
            self.templates[template_id] = (row[0], row[1]) if ok else None
        return self.templates[template_id]

    def _text(self, text_id: int) -> str | None:
        if text_id not in self.texts:
            if len(self.texts) >= TEXT_CACHE_MAX:
                self.texts.clear()
            row = self.conn.execute("SELECT text FROM texts WHERE id = ?", (text_id,)).fetchone()
            self.texts[text_id] = row[0] if row is not None and type(row[0]) is str else None
        return self.texts[text_id]

    def row(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        seq, target, ts_ns, latency, failure, detail, metrics = raw
        if type(detail) is int and detail < 0:
            template = self._template(-detail)
            if template is not None and type(latency) is int and type(metrics) is int and latency >= 0 <= metrics:
                mn, mx = latency - metrics % TEMPLATE_SPREAD, latency + metrics // TEMPLATE_SPREAD
                if mn >= 0:
                    return (
                        seq,
                        target,
                        ts_ns,
                        latency,
                        failure,
                        render_template(template[0], mn, latency, mx),
                        render_template(template[1], mn, latency, mx),
                    )
            return self.from_view(seq)
        if type(detail) is int:
            detail = self._text(detail) if detail > 0 else None
            if detail is None:
                return self.from_view(seq)
        if type(metrics) is int:
            metrics = self._text(metrics)
            if metrics is None:
                return self.from_view(seq)
        return seq, target, ts_ns, latency, failure, detail, metrics

    def from_view(self, seq: int) -> tuple[Any, ...]:
        row = self.conn.execute(
            "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results WHERE seq = ?", (seq,)
        ).fetchone()
        return tuple(row)


def _rows_after(
    conn: sqlite3.Connection,
    last_seq: int,
    page: int = BLOCK_MAX_ROWS,
    upto_seq: int | None = None,
    *,
    renderer: _Renderer | None = None,
) -> Iterator[tuple[int, int, bytes, int]]:
    """``(seq, ts_ns, row_hash, stream)`` for every row after ``last_seq`` (up to ``upto_seq``), in seq order.

    Read ``page`` rows at a time: the first ``page`` rows in seq order are among the first ``page`` of each
    table, so each page is both tables' first ``page`` rows merged and cut; only the kept rows are hashed.
    With a ``renderer`` (schema 3), ``result_rows`` is read and rendered as the view does (:class:`_Renderer`).
    """
    upto = (1 << 62) if upto_seq is None else upto_seq
    while True:
        if renderer is not None:
            results = [
                renderer.row(raw)
                for raw in conn.execute(
                    "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM result_rows "
                    "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    (last_seq, upto, page),
                )
            ]
        else:
            results = conn.execute(
                "SELECT seq, target, ts_ns, latency_us, failure, detail, metrics FROM results "
                "WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (last_seq, upto, page),
            ).fetchall()
        events = conn.execute(
            "SELECT seq, ts_ns, type, target, ref, data FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (last_seq, upto, page),
        ).fetchall()
        if not results and not events:
            return
        merged: list[tuple[int, bool, Any]] = [(r[0], True, r) for r in results] + [(e[0], False, e) for e in events]
        merged.sort(key=lambda row: row[0])
        for _, is_result, r in merged[:page]:
            if is_result:
                yield r[0], r[2], result_row_hash(*r), int(r[1])
            else:
                yield r[0], r[1], event_row_hash(*r), EVENTS_STREAM
        last_seq = merged[min(page, len(merged)) - 1][0]
