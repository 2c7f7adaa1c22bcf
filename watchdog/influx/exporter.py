"""The InfluxDB exporter: a sink that copies the journal to InfluxDB through a persisted cursor.

Its own task reads journal rows past the cursor (own read-only connection, own thread), turns them into
line protocol (:mod:`watchdog.influx.schema`), writes them, and only after the server accepted them moves
the cursor — through the agent's journal writer, which owns the write connection. So:

* server down, 429, 5xx, timeout → nothing moves; retry forever with capped, jittered exponential
  backoff, never sooner than the server's ``Retry-After``; the backlog drains in journal order later;
* 400/413/422 (points refused) → the batch is split in halves until the refused points are found alone;
  those go to the ``influx_dead_letters`` table (their rows stay in the journal) and are reported;
* 401/403 → an ``influx_auth_failed`` AgentEvent and an error line; exporting stops, the backlog stays;
* 404 (no such database/bucket) → on v1 the database is created once; else alert and retry slowly.

Re-sending is harmless: a point is identified by measurement, tags and nanosecond timestamp, and the
same journal row always gives the same point. Besides journal rows, the exporter writes *live* points —
its own heartbeat (backlog, lag) and the SLA figures — held in a bounded queue while the server is away.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiohttp

from watchdog.agent.sinks import AgentContext, AgentEvent, OutageNotice, Sink
from watchdog.analysis.outages import analyse
from watchdog.analysis.sla import compute, current_period
from watchdog.analysis.timeline import DAY_NS as TIMELINE_DAY_NS
from watchdog.analysis.timeline import clip, days, provider_spans
from watchdog.config import InfluxSection
from watchdog.influx import client
from watchdog.influx.client import (
    AuthFailed,
    DestinationMissing,
    Dialect,
    InfluxError,
    Rejected,
    ServerInfo,
    Unavailable,
    V1Writer,
)
from watchdog.influx.schema import Schema, identity_tags
from watchdog.influx.tail import (
    DEAD_LETTERS_SQL,
    DEAD_LETTERS_TABLE,
    Backlog,
    ResultRow,
    Row,
    backlog,
    dead_letter_count,
    rows_after,
    target_info,
    targets_as_of,
)
from watchdog.journal.readers import TargetInfo
from watchdog.journal.schema import EV_DEGRADED_CLOSE, EV_DEGRADED_OPEN, EV_OUTAGE_CLOSE, EV_OUTAGE_OPEN, EV_TARGET
from watchdog.journal.store import Journal
from watchdog.model import NS, Result

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
Line = tuple[int, str]  # (journal seq the point comes from, line protocol)

LIVE_MAX = 10_000  # live points (heartbeats, SLA) kept while the server is away; the oldest go first
POLL_S = 5.0  # look at the journal at least this often (not every row is announced through the fan-out)
FIRST_BACKOFF_S = 1.0
SLA_FIRST_DELAY_S = 2.0  # the first SLA figures soon after start, not a whole sla_interval later
TIMELINE_RECENT_NS = 35 * 86_400 * NS  # days this recent are recomputed every sla_interval (late stalls, crashes)
DAY_NS = 86_400 * NS

# AgentEvent types raised by the exporter (documented in the README)
EV_EXPORT_FAILING = "influx_export_failing"
EV_EXPORT_RECOVERED = "influx_export_recovered"
EV_AUTH_FAILED = "influx_auth_failed"
EV_DESTINATION_MISSING = "influx_destination_missing"
EV_DEAD_LETTERS = "influx_dead_letters"


def exporter_name(settings: InfluxSection) -> str:
    """The cursor name: one per destination, so a new database or server gets the whole journal."""
    return f"influxdb:{settings.url}/{settings.bucket or settings.database}"


def backoff_s(attempt: int, cap_s: float, rng: random.Random, retry_after_s: float | None = None) -> float:
    """Wait before retry ``attempt`` (1, 2, ...): exponential from 1 s, capped, jittered down to half,
    and never shorter than the server's ``Retry-After``."""
    base = min(cap_s, FIRST_BACKOFF_S * 2 ** min(attempt - 1, 30))
    delay = base / 2 + rng.random() * base / 2
    return float(max(delay, retry_after_s)) if retry_after_s is not None else float(delay)


class InfluxExporter(Sink):
    """Copies the journal to InfluxDB; never drops a row (see the module docstring)."""

    name = "influxdb"

    def __init__(
        self,
        ctx: AgentContext,
        settings: InfluxSection,
        *,
        rng: random.Random | None = None,
        schema: Schema | None = None,
        name: str | None = None,
        cursor_name: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        if name is not None:
            self.name = name  # a second exporter (the advocate's copy) needs its own fan-out queue
        self.cursor_name = cursor_name or exporter_name(settings)
        self.schema = schema or Schema(identity_tags(ctx.config))
        self.rng = rng or random.Random()
        self._exec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-read")
        self._journal: Journal | None = None
        self._session: aiohttp.ClientSession | None = None
        self._writer: Dialect | None = None
        self._targets: dict[int, TargetInfo] = {}
        self._live: deque[str] = deque()
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._run_task: asyncio.Task[None] | None = None
        self._periodic_task: asyncio.Task[None] | None = None
        self._created_database = False
        self._noted = False  # the old-server note (a v2-style config written through v1) is logged once
        # what the exporter knows about itself (read by tests, the heartbeat and logs)
        self.state = "starting"  # starting | ok | failing | error | destination_missing | auth_failed | stopped
        self.cursor = 0
        self.exported_rows = 0
        self.dead_letters = 0
        self.last_error = ""
        self.server: ServerInfo | None = None
        self.attempts = 0  # write attempts that failed in a row
        self._failing_since: float | None = None
        self._drain_started: float | None = None
        self._drain_rows = 0
        # timeline days queued so far (provider, day) → content; cleared when queued points may have been lost
        self._timeline_sent: dict[tuple[str, int], tuple[Any, ...]] = {}
        self._timeline_full = True

    # ------------------------------------------------------------------------------------ sink API

    async def start(self) -> None:
        """Make the dead-letter table, open the read connection, and start the export task."""
        await self.ctx.writer.call(lambda j: j.ensure_schema(DEAD_LETTERS_SQL))
        path = self.ctx.config.journal_path
        self._journal = await self._read(lambda _: Journal.open(path, create=False, readonly=True))
        self.cursor = await self._read(lambda j: j.cursor(self.cursor_name))
        self._targets = await self._read(lambda j: targets_as_of(j, self.cursor))
        self.dead_letters = await self._read(lambda j: dead_letter_count(j, self.cursor_name))
        self._session = aiohttp.ClientSession()
        self._run_task = asyncio.create_task(self._run(), name="influx-export")
        self._periodic_task = asyncio.create_task(self._periodic(), name="influx-periodic")

    async def on_result(self, result: Result, seq: int | None) -> None:
        """A new row is in the journal: look soon."""
        self._wake.set()

    async def on_outage(self, notice: OutageNotice) -> None:
        """An outage event is in the journal: look soon."""
        self._wake.set()

    async def aclose(self) -> None:
        """Send what the server takes within a short budget, then stop; the rest waits in the journal."""
        if self._journal is not None and self.state != "auth_failed":
            try:  # the agent's stop is journaled by now: the day's timeline ends where the run did
                await self._queue(await self._read(self._timeline_lines))
            except Exception:
                _LOGGER.exception("computing the final influx timeline points failed")
        self._closing.set()
        budget = min(10.0, self.settings.timeout + 2.0)
        for task in (self._run_task, self._periodic_task):
            if task is None:
                continue
            try:
                await asyncio.wait_for(asyncio.shield(task), budget if task is self._run_task else 1.0)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            except Exception:
                _LOGGER.exception("influx exporter task failed")
        await client.close_quietly(self._writer)
        self._writer = None
        if self._session is not None:
            await self._session.close()
        if self._journal is not None:
            await self._read(lambda j: j.close())
        self._exec.shutdown(wait=True)
        if self.state not in ("auth_failed",):
            self.state = "stopped"
        _LOGGER.info(
            "influx exporter stopped cursor=%d exported_rows=%d dead_letters=%d",
            self.cursor,
            self.exported_rows,
            self.dead_letters,
        )

    # --------------------------------------------------------------------------------- main loop

    async def _run(self) -> None:
        while True:
            if self._closing.is_set() and self.state != "ok":
                return  # shutting down while the server is away: the backlog waits in the journal
            self._wake.clear()  # before reading: a row written after this wakes the idle wait
            try:
                if self._writer is None:
                    await self._connect()
                await self._send_live()
                sent = await self._export_batch()
                if sent == 0:
                    self._caught_up()
                    if self._closing.is_set():
                        return
                    await self._idle()
                elif sent < self.settings.batch_size:
                    await self._pause(self.settings.flush_interval)  # let new rows gather into one request
            except Unavailable as exc:
                await self._failed(exc)
                if self._closing.is_set():
                    return
                await self._pause(backoff_s(self.attempts, self.settings.max_backoff, self.rng, exc.retry_after_s))
            except AuthFailed as exc:
                self._auth_failed(exc)
                return
            except DestinationMissing as exc:
                if await self._create_database():
                    continue
                self._destination_missing(exc)
                if self._closing.is_set():
                    return
                await self._pause(self.settings.max_backoff)
            except Rejected as exc:  # live points refused (journal points are bisected in _deliver)
                _LOGGER.warning("influx refused live points, dropped error=%s", exc)
                self._timeline_sent.clear()  # timeline days may have gone with them: queue the recent ones again
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the journal failing, or a bug: keep the rows, try again
                if self.state != "error":
                    _LOGGER.exception("influx export step failed; will retry cursor=%d", self.cursor)
                self.state = "error"
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self._closing.is_set():
                    return
                self.attempts += 1
                await self._pause(backoff_s(self.attempts, self.settings.max_backoff, self.rng))

    async def _export_batch(self) -> int:
        """Send the next batch of journal rows and move the cursor past it; the number of rows sent."""
        cursor, batch = self.cursor, self.settings.batch_size
        rows = await self._read(lambda j: rows_after(j, cursor, batch))
        if not rows:
            return 0
        lines = await self._read(lambda j: self._lines(j, rows))
        # the backlog as it stood when the server came back is worth a log line: measure it first
        pending = await self._read(lambda j: backlog(j, cursor)) if self.state != "ok" else None
        await self._deliver(lines)
        last = rows[-1].seq
        await self.ctx.writer.call(lambda j: j.set_cursor(self.cursor_name, last))
        self.cursor = last
        self.exported_rows += len(rows)
        self._succeeded(pending)
        self._drain_rows += len(rows)
        return len(rows)

    async def _connect(self) -> None:
        assert self._session is not None
        writer, info = await client.connect(self._session, self.settings)
        self._writer, self.server = writer, info
        note = getattr(writer, "note", "")
        if note and not self._noted:
            self._noted = True  # once per exporter, not on every reconnect
            _LOGGER.warning("%s", note)
        pending = await self._read(lambda j: backlog(j, self.cursor))
        _LOGGER.info(
            "exporting to InfluxDB url=%s api=%s server=%s cursor=%d backlog_rows=%d lag_s=%.1f",
            self.settings.url,
            writer.api,
            info.version or info.build or "unknown",
            self.cursor,
            pending.rows,
            pending.lag_s(time.time_ns()),
        )
        if pending.rows > self.settings.batch_size:
            self._start_drain()

    async def _deliver(self, lines: list[Line]) -> None:
        """Write the points; refused ones are found by bisection and dead-lettered, the rest accepted."""
        dead: list[tuple[Line, Rejected]] = []
        await self._write_or_split(lines, dead)
        if dead:
            await self._bury(dead)

    async def _write_or_split(self, lines: list[Line], dead: list[tuple[Line, Rejected]]) -> None:
        if not lines:
            return
        assert self._writer is not None
        try:
            await self._writer.write("\n".join(text for _, text in lines).encode())
        except Rejected as exc:
            if len(lines) == 1:
                dead.append((lines[0], exc))
                return
            mid = len(lines) // 2
            await self._write_or_split(lines[:mid], dead)
            await self._write_or_split(lines[mid:], dead)

    async def _bury(self, dead: list[tuple[Line, Rejected]]) -> None:
        now = time.time_ns()
        rows = [(self.cursor_name, seq, text, exc.status, str(exc), now) for (seq, text), exc in dead]

        def insert(journal: Journal) -> None:
            with journal.transaction():
                journal.conn.executemany(
                    f"INSERT OR REPLACE INTO {DEAD_LETTERS_TABLE} (exporter, seq, line, status, error, at_ns) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )

        await self.ctx.writer.call(insert)
        self.dead_letters = await self._read(lambda j: dead_letter_count(j, self.cursor_name))
        first = dead[0][1]
        _LOGGER.warning(
            "influx refused points, kept in the dead-letter table (rows stay in the journal) "
            "points=%d first_seq=%d status=%d error=%s",
            len(dead),
            dead[0][0][0],
            first.status,
            first,
        )
        self.ctx.publish(
            AgentEvent(
                EV_DEAD_LETTERS,
                {
                    "exporter": self.cursor_name,
                    "points": len(dead),
                    "seqs": sorted({seq for (seq, _), _ in dead}),
                    "status": first.status,
                    "error": str(first),
                },
            )
        )

    async def _create_database(self) -> bool:
        """On v1, a missing database is created once (as Telegraf does); True if that worked."""
        if not isinstance(self._writer, V1Writer) or self._created_database:
            return False
        self._created_database = True
        database = self._writer.settings.database  # a bucket's database on a server before 1.8
        try:
            await self._writer.create_database()
        except InfluxError as exc:
            _LOGGER.warning("could not create the InfluxDB database db=%s error=%s", database, exc)
            return False
        _LOGGER.info("created the InfluxDB database db=%s", database)
        return True

    # -------------------------------------------------------------------------------- conversion

    def _lines(self, journal: Journal, rows: list[Row]) -> list[Line]:
        """Journal rows → points (runs in the read thread, where ``_targets`` lives)."""
        lines: list[Line] = []
        outages: dict[int, int] = {}  # outage id → seq of the event that asked for its point
        degraded: dict[int, int] = {}  # degraded window id → seq of the event that asked for its point
        for row in rows:
            if isinstance(row, ResultRow):
                info = self._targets.get(row.target)
                if info is None:
                    self._targets = targets_as_of(journal, row.seq)
                    info = self._targets.get(row.target)
                if info is None:
                    _LOGGER.error("journal row seq=%d names unknown target id=%d; not exported", row.seq, row.target)
                    continue
                if not self.schema.exports(info.provider, info.role):
                    continue  # a provider the customer does not share (the advocate's copy)
                lines.append(
                    (row.seq, self.schema.probe(info, row.ts_ns, row.latency_us, row.failure, row.detail, row.metrics))
                )
            elif row.type == EV_TARGET:
                info = target_info(row.data)
                self._targets[info.id] = info
            elif row.type == EV_OUTAGE_OPEN:
                outages[row.seq] = row.seq
            elif row.type == EV_OUTAGE_CLOSE and row.ref is not None:
                outages[row.ref] = row.seq
            elif row.type == EV_DEGRADED_OPEN:
                degraded[row.seq] = row.seq
            elif row.type == EV_DEGRADED_CLOSE and row.ref is not None:
                degraded[row.ref] = row.seq
            else:
                text = self.schema.agent_event(row)
                if text is not None:
                    lines.append((row.seq, text))
        if outages:
            lines.extend(self._outage_lines(journal, outages))
        if degraded:
            lines.extend(self._degraded_lines(journal, degraded))
        return lines

    def _degraded_lines(self, journal: Journal, wanted: dict[int, int]) -> list[Line]:
        """The current state of some degraded windows (as for outages)."""
        return self._window_lines(journal, wanted, degraded=True)

    def _outage_lines(self, journal: Journal, wanted: dict[int, int]) -> list[Line]:
        """The current state of some outages (closed if the journal already holds the close)."""
        return self._window_lines(journal, wanted, degraded=False)

    def _window_lines(self, journal: Journal, wanted: dict[int, int], *, degraded: bool) -> list[Line]:
        now = time.time_ns()
        windows = journal.degradations() if degraded else journal.outages()
        starts = [w.start_ns for w in windows if w.id in wanted]
        if not starts:
            return []
        analysis = self._analyse(journal, min(starts), now)
        out = []
        for attributed in analysis.degraded if degraded else analysis.outages:
            seq = wanted.get(attributed.outage.id)
            info = analysis.targets.get(attributed.outage.target)
            if seq is not None and info is not None and self.schema.exports(info.provider, info.role):
                out.append((seq, self.schema.outage(attributed, info, now)))
        return out

    def _analyse(self, journal: Journal, since_ns: int, now_ns: int) -> Any:
        config = self.ctx.config
        return analyse(
            journal,
            provider_kinds={p.id: p.kind for p in config.providers},
            quorum=config.quorum,
            since_ns=since_ns,
            now_ns=now_ns,
        )

    def _sla_lines(self, journal: Journal) -> list[str]:
        """SLA figures of every provider (this period, and the last one during the first day of a new one),
        plus a fresh point for every outage in that window (durations grow, attributions settle)."""
        config = self.ctx.config
        now = time.time_ns()
        plan = []
        for provider in config.providers:
            zone = config.provider_zone(provider.id)
            period = current_period(provider.sla.period, now, zone)
            plan.append((provider, zone, period, now))
            if now - period.start_ns < DAY_NS:
                previous = current_period(provider.sla.period, period.start_ns - 1, zone)
                plan.append((provider, zone, previous, previous.end_ns - 1))  # its final figure, at its end
        since = min((period.start_ns for _, _, period, _ in plan), default=now - 31 * DAY_NS)
        analysis = self._analyse(journal, since, now)
        lines = [
            self.schema.sla(
                compute(analysis, provider, period, zone),
                ts,
                {
                    "download_bps": provider.sla.download,
                    "upload_bps": provider.sla.upload,
                    "download_min_bps": provider.sla.minimum_bps("download"),
                    "upload_min_bps": provider.sla.minimum_bps("upload"),
                },
            )
            for provider, zone, period, ts in plan
            if self.schema.exports(provider.id, "provider")
        ]
        for attributed in (*analysis.outages, *analysis.degraded):
            info = analysis.targets.get(attributed.outage.target)
            if info is not None and attributed.outage.id > 0 and self.schema.exports(info.provider, info.role):
                lines.append(self.schema.outage(attributed, info, now))
        return lines

    def _timeline_lines(self, journal: Journal) -> list[str]:
        """``timeline`` points (per provider and UTC day) whose content changed since they were last queued.

        The first time, and whenever queued points may have been lost, every day since the journal's first
        run; otherwise the last few weeks (a stall or a crashed run is journaled after the fact).
        """
        now = time.time_ns()
        runs = journal.runs()
        if not runs:
            return []
        first = runs[0].start_ns
        full = self._timeline_full
        since = first if full else max(first, now - TIMELINE_RECENT_NS)
        since -= since % TIMELINE_DAY_NS
        analysis = self._analyse(journal, since, now)
        if full:
            self._timeline_sent.clear()
        out: list[str] = []
        for provider in self.ctx.config.providers:
            if not self.schema.exports(provider.id, "provider"):
                continue
            spans = provider_spans(analysis, journal, provider.id, (since, now))
            for day in days((since, now)):
                day_spans = clip(spans, (day, day + TIMELINE_DAY_NS))
                as_of = min(now, day + TIMELINE_DAY_NS)
                content = (provider.kind.value, as_of, day_spans)
                if self._timeline_sent.get((provider.id, day)) == content:
                    continue
                self._timeline_sent[(provider.id, day)] = content
                out.extend(
                    self.schema.timeline_day(
                        provider.id, provider.kind.value, day, day_spans, as_of_ns=as_of, written_ns=now
                    )
                )
        self._timeline_full = False
        return out

    # ------------------------------------------------------------------------------ live points

    async def _periodic(self) -> None:
        """Queue the heartbeat every ``heartbeat_interval`` and the SLA figures every ``sla_interval``."""
        loop = asyncio.get_running_loop()
        next_heartbeat = loop.time()
        next_sla = loop.time() + SLA_FIRST_DELAY_S
        while not self._closing.is_set() and self.state != "auth_failed":
            now = loop.time()
            try:
                if now >= next_heartbeat:
                    next_heartbeat = now + self.settings.heartbeat_interval
                    await self._queue([await self._heartbeat()])
                if now >= next_sla:
                    next_sla = now + self.settings.sla_interval
                    await self._queue(await self._read(self._sla_lines))
                    await self._queue(await self._read(self._timeline_lines))
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("computing the influx heartbeat or SLA points failed")
            await self._pause(min(next_heartbeat, next_sla) - loop.time())

    async def _heartbeat(self) -> str:
        cursor = self.cursor
        pending: Backlog = await self._read(lambda j: backlog(j, cursor))
        now = time.time_ns()
        return self.schema.export_status(
            backlog_rows=pending.rows,
            lag_s=pending.lag_s(now),
            dead_letters=self.dead_letters,
            exported_rows=self.exported_rows,
            state=self.state,
            ts_ns=now,
        )

    async def _queue(self, lines: list[str]) -> None:
        self._live.extend(lines)
        while len(self._live) > LIVE_MAX:
            self._live.popleft()
            self._timeline_full = True  # a timeline point may have been among them: send every day again
        self._wake.set()

    async def _send_live(self) -> None:
        if not self._live:
            return
        assert self._writer is not None
        chunk = list(self._live)
        self._live.clear()
        try:
            for start in range(0, len(chunk), self.settings.batch_size):
                part = chunk[start : start + self.settings.batch_size]
                await self._writer.write("\n".join(part).encode())
                del chunk[: len(part)]
        except Rejected:
            raise  # dropped: a live point the server refuses would be refused forever
        except BaseException:
            self._live.extendleft(reversed(chunk))  # keep them, in order, for the next attempt
            while len(self._live) > LIVE_MAX:
                self._live.popleft()
                self._timeline_full = True
            raise

    # ----------------------------------------------------------------------------- state changes

    def _succeeded(self, pending: Backlog | None) -> None:
        if self._failing_since is not None and pending is not None:
            down_s = time.monotonic() - self._failing_since
            _LOGGER.info(
                "InfluxDB export recovered after %.1fs; draining backlog_rows=%d lag_s=%.1f",
                down_s,
                pending.rows,
                pending.lag_s(time.time_ns()),
            )
            self.ctx.publish(
                AgentEvent(
                    EV_EXPORT_RECOVERED,
                    {"exporter": self.cursor_name, "down_s": round(down_s, 1), "backlog_rows": pending.rows},
                )
            )
            self._start_drain()
        self._failing_since = None
        self.state = "ok"
        self.attempts = 0
        self.last_error = ""

    async def _failed(self, exc: InfluxError) -> None:
        self.attempts += 1
        self.last_error = str(exc)
        if isinstance(exc, Unavailable) and self._writer is not None and exc.status == 0:
            # no answer at all: ask /ping again before the next write (the server may have been replaced)
            await client.close_quietly(self._writer)
            self._writer = None
        if self.state != "failing":
            self.state = "failing"
            self._failing_since = time.monotonic()
            cursor = self.cursor
            pending = await self._read(lambda j: backlog(j, cursor))
            _LOGGER.warning(
                "InfluxDB export failing; rows stay in the journal and go out when it answers "
                "url=%s error=%s backlog_rows=%d",
                self.settings.url,
                exc,
                pending.rows,
            )
            self.ctx.publish(
                AgentEvent(
                    EV_EXPORT_FAILING,
                    {"exporter": self.cursor_name, "error": str(exc), "backlog_rows": pending.rows},
                )
            )

    def _auth_failed(self, exc: AuthFailed) -> None:
        self.state = "auth_failed"
        self.last_error = str(exc)
        _LOGGER.error(
            "InfluxDB refused our credentials; exporting stopped, rows stay in the journal (fix the token or "
            "password and restart) url=%s error=%s cursor=%d",
            self.settings.url,
            exc,
            self.cursor,
        )
        self.ctx.publish(
            AgentEvent(
                EV_AUTH_FAILED,
                {"exporter": self.cursor_name, "url": self.settings.url, "status": exc.status, "error": str(exc)},
            )
        )

    def _destination_missing(self, exc: DestinationMissing) -> None:
        self.last_error = str(exc)
        if self.state != "destination_missing":
            self._failing_since = self._failing_since or time.monotonic()
            _LOGGER.error(
                "InfluxDB has no such database/bucket; retrying every %.1fs, rows stay in the journal "
                "url=%s destination=%s error=%s",
                self.settings.max_backoff,
                self.settings.url,
                self.settings.bucket or self.settings.database,
                exc,
            )
            self.ctx.publish(
                AgentEvent(
                    EV_DESTINATION_MISSING, {"exporter": self.cursor_name, "url": self.settings.url, "error": str(exc)}
                )
            )
        self.state = "destination_missing"

    def _start_drain(self) -> None:
        self._drain_started = time.monotonic()
        self._drain_rows = 0

    def _caught_up(self) -> None:
        if self._drain_started is not None:
            _LOGGER.info(
                "InfluxDB backlog drained rows=%d in %.1fs cursor=%d",
                self._drain_rows,
                time.monotonic() - self._drain_started,
                self.cursor,
            )
            self._drain_started = None

    # ---------------------------------------------------------------------------------- helpers

    async def _read(self, fn: Callable[[Journal], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._exec, lambda: fn(self._journal))  # type: ignore[arg-type]

    async def _idle(self) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._closing.wait())]
        try:
            await asyncio.wait(waits, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        await self._pause(self.settings.flush_interval)

    async def _pause(self, seconds: float) -> None:
        if seconds <= 0 or self._closing.is_set():
            return
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            pass


def influx_sink(ctx: AgentContext) -> Sink | None:
    """The sink factory for ``watchdog run``: an exporter when ``influxdb:`` is configured, else None."""
    settings = ctx.config.model.influxdb
    return None if settings is None else InfluxExporter(ctx, settings)
