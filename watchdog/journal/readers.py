"""The read side of a journal: the records it hands out (Head, TargetInfo, Event, Run) and the queries behind them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from watchdog.journal.schema import (
    EV_AGENT_START,
    EV_AGENT_STOP,
    EV_ALIVE,
    EV_CLOCK_STEP,
    EV_DEGRADED_CLOSE,
    EV_DEGRADED_OPEN,
    EV_OUTAGE_CLOSE,
    EV_OUTAGE_OPEN,
    EV_RUN_END_RECOVERED,
    EV_TARGET,
)
from watchdog.model import FailureKind, Outage, Result


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


class JournalReader:
    """Queries over a journal's rows, decoded into model objects; :class:`~watchdog.journal.store.Journal` is one."""

    conn: sqlite3.Connection
    _rows_table: str  # where result rows are physically written (schema.ROWS_TABLE)

    def head(self) -> Head | None:
        """The last sealed block, or None before the first seal."""
        row = self.conn.execute("SELECT no, last_seq, hash, sealed_ns FROM blocks ORDER BY no DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return Head(int(row[0]), int(row[1]), bytes(row[2]).hex(), int(row[3]))

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
        closes = {e.ref: e for e in self.events([EV_OUTAGE_CLOSE])}
        steps = [(e.seq, int(e.data["step_ns"])) for e in self.events([EV_CLOCK_STEP])]
        out = [
            Outage(**fields, failure=FailureKind(d["failure"]) if d.get("failure") else None)
            for d, fields in self._windows(EV_OUTAGE_OPEN, closes, steps, keys, "last_fail_ns")
        ]
        out.sort(key=lambda o: (o.start_ns, o.id))
        return out

    def degradations(self, keys: Iterable[str] | None = None) -> list[Outage]:
        """Every degraded window (``Outage.limit`` names the limit; open ones have ``end_ns = None``), by start.

        A wall-clock step inside a window moves its start side as for outages (from ``clock_step`` events).
        """
        closes = {e.ref: e for e in self.events([EV_DEGRADED_CLOSE])}
        steps = [(e.seq, int(e.data["step_ns"])) for e in self.events([EV_CLOCK_STEP])] if closes else []
        out = [
            Outage(**fields, limit=str(d.get("limit", "")))
            for d, fields in self._windows(EV_DEGRADED_OPEN, closes, steps, keys, "last_bad_ns")
        ]
        out.sort(key=lambda o: (o.start_ns, o.id))
        return out

    def _windows(
        self,
        open_type: str,
        closes: dict[int | None, Event],
        steps: list[tuple[int, int]],
        keys: Iterable[str] | None,
        last_key: str,
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """The opening events of ``open_type`` (for ``keys``) with the fields every window shares: id, target,
        start and its bounds (moved by a wall-clock step), confirmation, end and its bounds (``last_key`` names
        the last bad moment in the close)."""
        names = self.target_keys()
        wanted = None if keys is None else set(keys)
        for e in self.events([open_type]):
            key = names.get(e.target or -1, f"#{e.target}")
            if wanted is not None and key not in wanted:
                continue
            close = closes.get(e.seq)
            d = e.data
            shift = _clock_shift(d, close, e.seq, steps)
            last_ok = d.get("last_ok_ns")
            yield (
                d,
                {
                    "id": e.seq,
                    "target": key,
                    "start_ns": int(d["start_ns"]) + shift,
                    "start_bounds": (None if last_ok is None else int(last_ok) + shift, int(d["start_ns"]) + shift),
                    "confirmed_ns": int(d["confirmed_ns"]) + shift,
                    "end_ns": None if close is None else int(close.data["end_ns"]),
                    "end_bounds": None if close is None else (int(close.data[last_key]), int(close.data["end_ns"])),
                    "detail": d.get("detail", ""),
                },
            )

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

    def last_result_ts_after(self, seq: int) -> int | None:
        """The latest result timestamp among rows after ``seq`` (used to end a crashed run)."""
        row = self.conn.execute(f"SELECT max(ts_ns) FROM {self._rows_table} WHERE seq > ?", (seq,)).fetchone()
        return None if row[0] is None else int(row[0])
